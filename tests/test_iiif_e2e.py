"""End to end: `cviz run` builds a collection given only as a CSV of IIIF image URLs, and another given
only as a IIIF manifest URL, from the loopback server of tests/iiif_server.py; a re-run sends only
conditional requests and downloads just the one image the host changed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from tests.iiif_server import SAMPLE_IMAGES, IIIFServer, iiif_server, jpeg, manifest_v3  # noqa: F401
from tests.test_cli import run_cli
from tests.iiif_validate import export_manifest, prezi3_round_trip, spec_problems
from tests.test_iiif_out import osd_tile_urls

pytestmark = pytest.mark.slow


def _images_metadata(home: Path, name: str) -> dict:
    with dg.DagsterInstance.from_ref(dg._core.instance.InstanceRef.from_dir(str(home))) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("images"))
    assert event is not None and event.dagster_event.partition == name
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _items(root: Path, name: str) -> dict:
    pointer = json.loads((root / "published" / name / "current.json").read_text())
    return json.loads((root / "published" / name / pointer["items"]).read_text())


def test_a_csv_of_iiif_image_urls_builds_and_a_rerun_only_revalidates(iiif_server: IIIFServer, tmp_path: Path) -> None:
    csv_path = tmp_path / "objects.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iiif", "title", "link"])
        for i in range(SAMPLE_IMAGES):
            image_id = f"img{i:02d}"
            url = f"{iiif_server.url}/iiif/{image_id}/" + ("full/max/0/default.jpg" if i % 3 else "info.json")
            w.writerow([url, iiif_server.titles[image_id], f"https://museum.example.org/{image_id}"])
        w.writerow([f"{iiif_server.url}/error/404", "lost", ""])
    root, home = tmp_path / "root", tmp_path / "home"
    home.mkdir()
    args = ["run", "-id", "from-urls", "-metadata", str(csv_path), "--image-url-column", "iiif", "-url", "{link}",
            "--grid-method", "sorted", "-tile", "32x32"]
    iiif_server.take_log()
    first = run_cli(args, root, home)
    assert first.returncode == 0, first.stderr[-3000:]
    items = _items(root, "from-urls")
    assert items["count"] == SAMPLE_IMAGES
    assert sorted(items["fields"]["title"]) == sorted(iiif_server.titles.values())
    assert set(items["fields"]["url"]) == {f"https://museum.example.org/img{i:02d}" for i in range(SAMPLE_IMAGES)}
    log = iiif_server.take_log()
    images = [p for p, _, _ in log if p.endswith("default.jpg")]
    assert len(images) == SAMPLE_IMAGES and all("/full/max/" not in p for p in images), "asked for a listed size"
    meta = _images_metadata(home, "from-urls")
    assert meta["http_images_downloaded"] == SAMPLE_IMAGES and meta["http_images_failed"] == 1
    assert meta["skipped"] == 1
    catalogue = json.loads((root / "collections" / "from-urls" / "images.json").read_text())
    assert catalogue["skipped"][0]["row"] == f"line {SAMPLE_IMAGES + 2}"

    changed = max(iiif_server.root.glob("img05/full/*/0/default.jpg"), key=lambda p: p.stat().st_size)
    with Image.open(changed) as img:
        flipped = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    changed.write_bytes(jpeg(flipped))  # the host replaces one image: same URL, same size, new bytes
    second = run_cli(args, root, home)
    assert second.returncode == 0, second.stderr[-3000:]
    log = iiif_server.take_log()
    served = [(p, c) for p, c, _ in log if p.startswith("/iiif/")]
    assert served and all(conditional for _, conditional in served), "a re-run sends only conditional requests"
    meta = _images_metadata(home, "from-urls")
    assert meta["http_images_downloaded"] == 1 and meta["http_images_not_modified"] == SAMPLE_IMAGES - 1
    assert meta["http_conditional"] == meta["http_requests"] - 1  # all but the row whose URL answers 404
    assert meta["http_not_modified"] == 2 * SAMPLE_IMAGES - 1  # every info.json, every image but the changed one
    assert [p for p, _, status in log if status == 200] == [f"/iiif/{changed.relative_to(iiif_server.root)}"]


def test_a_iiif_manifest_url_alone_builds_a_collection(iiif_server: IIIFServer, tmp_path: Path) -> None:
    url = f"{iiif_server.url}/manifest/paintings.json"
    entries = []
    for i in range(SAMPLE_IMAGES):
        info = json.loads((iiif_server.root / f"img{i:02d}" / "info.json").read_text())
        entries.append({"service": info.get("id") or info["@id"], "width": info["width"], "height": info["height"],
                        "label": f"Canvas {i}", "metadata": {"Department": "Paintings" if i % 2 else "Prints"},
                        "homepage": f"https://museum.example.org/object/{i}"})
    iiif_server.documents["paintings"] = manifest_v3(url, entries, label="Thirty things")
    root = tmp_path / "root"
    result = run_cli(["run", "-id", "from-manifest", "--iiif-manifest", url, "--grid-method", "sorted", "-tile", "32x32",
                      "--labels", "Department"], root)
    assert result.returncode == 0, result.stderr[-3000:]
    items = _items(root, "from-manifest")
    assert items["count"] == SAMPLE_IMAGES
    assert sorted(items["fields"]["title"]) == sorted(f"Canvas {i}" for i in range(SAMPLE_IMAGES))
    assert "https://museum.example.org/object/3" in items["fields"]["url"]
    assert "Department" in items["columns"] and "iiif_service" in items["columns"]

    # IIIF out: the map itself as a level-0 image beside map.dzi, every tile a link to a Deep Zoom tile
    pointer = json.loads((root / "published" / "from-manifest" / "current.json").read_text())
    version = root / "published" / "from-manifest" / pointer["dzi"].split("/")[0]
    info = json.loads((version / "iiif" / "info.json").read_text())
    assert info["id"].endswith(f"/data/from-manifest/{version.name}/iiif") and info["profile"] == "level0"
    wanted = osd_tile_urls(info)
    linked = {p.relative_to(version / "iiif").as_posix(): p for p in (version / "iiif").rglob("default.jpg")}
    assert wanted == set(linked)
    dzi_inodes = {p.stat().st_ino for p in (version / "map_files").rglob("*.jpg")}
    assert {p.stat().st_ino for p in linked.values()} == dzi_inodes, "IIIF paths are hard links, not copies"

    # IIIF out: a selection of the built map exported by the viewer's code is a valid Presentation 3 manifest
    exported = export_manifest(version / "items.json", [3, 0, 7], "https://maps.example.org/exports/sel.json",
                               f"http://127.0.0.1:8080/data/from-manifest/{version.name}/items.json")
    assert spec_problems(exported) == [] and prezi3_round_trip(exported) == exported
    first = exported["items"][0]
    assert first["label"] == {"none": [items["fields"]["title"][3]]}
    assert first["items"][0]["items"][0]["body"]["service"][0]["id"] == items["values"]["iiif_service"][3]
    assert (first["width"], first["height"]) == (int(items["values"]["iiif_width"][3]), int(items["values"]["iiif_height"][3]))
