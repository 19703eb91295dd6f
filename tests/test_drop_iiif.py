"""A drop folder that holds no images, only a ``collection.json`` naming a IIIF manifest (or naming an
image-URL column of its ``metadata.csv``), becomes a collection through the drop sensor and builds
from the loopback IIIF server of tests/iiif_server.py."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from cviz.errors import CvizError
from cviz.ingest.drop_folder import drop_config, scan_folder
from tests.conftest import resources
from tests.iiif_server import IIIFServer, iiif_server, manifest_v3  # noqa: F401
from tests.test_drop import T0, put
from tests.test_sensors import QUIET, Clock, Driver, env, instance  # noqa: F401

N = 8  # canvases: enough for a map, few enough for a quick build


def _settled(drop: Path, name: str, files: dict[str, bytes]) -> Path:
    folder = drop / name
    folder.mkdir(parents=True)
    for rel, data in files.items():
        put(folder, rel, data, mtime=T0 - 3600)
    return folder


def _published_items(root: Path, name: str) -> dict:
    pointer = json.loads((root / "published" / name / "current.json").read_text())
    return json.loads((root / "published" / name / pointer["items"]).read_text())


def _request_and_build(instance: dg.DagsterInstance, env: dict, name: str) -> dict:  # noqa: F811
    """Two sensor ticks (seen, then settled): the run it requests, then that run's assets built."""
    from cviz_assets.assets import collection_assets
    from cviz_assets.checks import collection_checks

    d = Driver(instance, env["storage"], Clock())
    assert not d.evaluate().run_requests
    [req] = d.evaluate(QUIET).run_requests
    assert req.partition_key == name
    result = dg.materialize([*collection_assets, *collection_checks], partition_key=name, instance=instance,
                            resources=resources(env["root"]), tags=req.tags)
    assert result.success
    return json.loads((env["root"] / "collections" / name / "collection.json").read_text())


@pytest.mark.slow
def test_a_folder_holding_only_a_collection_json_naming_a_manifest_builds(instance, env, iiif_server) -> None:  # noqa: F811
    names = sorted(iiif_server.titles)[:N]
    url = f"{iiif_server.url}/manifest/dropped.json"
    iiif_server.documents["dropped"] = manifest_v3(url, [
        {"service": f"{iiif_server.url}/iiif/{n}", "width": 512, "height": 512, "label": iiif_server.titles[n]}
        for n in names])
    _settled(env["drop"], "letters", {"collection.json": json.dumps({"iiif_manifest": url, "layouts": {"timeline": False, "category": False}}).encode()})
    config = _request_and_build(instance, env, "letters")
    assert config["iiif_manifest"] == url and not config.get("images") and not config.get("metadata")
    items = _published_items(env["root"], "letters")
    assert items["count"] == N
    assert sorted(items["fields"]["title"]) == sorted(iiif_server.titles[n] for n in names)
    assert set(items["values"]["iiif_service"]) == {f"{iiif_server.url}/iiif/{n}" for n in names}


@pytest.mark.slow
def test_a_folder_holding_a_collection_json_and_a_csv_of_image_urls_builds(instance, env, iiif_server) -> None:  # noqa: F811
    names = sorted(iiif_server.titles)[:N]
    csv_text = "iiif,title\n" + "".join(f"{iiif_server.url}/iiif/{n}/info.json,{iiif_server.titles[n]}\n" for n in names)
    _settled(env["drop"], "prints", {"collection.json": b'{"image_url_column": "iiif", "layouts": {"timeline": false, "category": false}}',
                                     "metadata.csv": csv_text.encode()})
    config = _request_and_build(instance, env, "prints")
    assert config["image_url_column"] == "iiif" and not config.get("images")
    assert config["metadata"] == str(env["drop"] / "prints" / "metadata.csv")
    items = _published_items(env["root"], "prints")
    assert sorted(items["fields"]["title"]) == sorted(iiif_server.titles[n] for n in names)
    # Each row's IIIF service, read from its info.json, so the viewer can zoom into it and export it.
    values = items["values"]
    for title, service, kind, profile, width in zip(items["fields"]["title"], values["iiif_service"],
                                                    values["iiif_service_type"], values["iiif_service_profile"],
                                                    values["iiif_width"]):
        n = next(k for k in names if iiif_server.titles[k] == title)
        info = json.loads((iiif_server.root / n / "info.json").read_text())
        assert service == f"{iiif_server.url}/iiif/{n}" and profile == "level0" and width == str(info["width"])
        assert kind == ("ImageService3" if int(n[3:]) % 2 == 0 else "ImageService2")


def test_a_manifest_folder_with_a_metadata_csv_is_refused_by_name(tmp_path: Path) -> None:
    import fsspec

    folder = _settled(tmp_path, "mixed", {"collection.json": b'{"iiif_manifest": "https://museum.example.org/m.json"}',
                                          "metadata.csv": b"filename,title\na.jpg,A\n"})
    scan = scan_folder(fsspec.filesystem("file"), str(tmp_path), "mixed")
    with pytest.raises(CvizError, match="drop folder mixed: .*IIIF manifest brings its own metadata"):
        drop_config(scan)
    assert folder.is_dir()


def test_a_url_folder_that_also_holds_images_is_refused_by_name(tmp_path: Path) -> None:
    import fsspec

    _settled(tmp_path, "both", {"collection.json": b'{"iiif_manifest": "https://museum.example.org/m.json"}',
                                "a.jpg": b"x", "b.jpg": b"y"})
    scan = scan_folder(fsspec.filesystem("file"), str(tmp_path), "both")
    with pytest.raises(CvizError, match="drop folder both: .*also holds 2 other file"):
        drop_config(scan)
