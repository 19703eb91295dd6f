"""Image URLs and IIIF in: the Image API size choice, the Presentation 3 / 2.1 reader (nesting, caps,
malformed documents) and the catalogue of a URL collection, against the loopback server of
tests/iiif_server.py."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cviz.errors import CollectionError
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.iiif_image import service_of, sized_request
from cviz.ingest.iiif_manifest import read_iiif
from cviz.ingest.remote_catalogue import build_remote_catalogue
from cviz.settings import reset
from cviz.storage import open_storage
from cviz_assets.catalogue_checks import catalogue_problems
from tests.iiif_server import IIIFServer, big_manifest, iiif_server, manifest_v3  # noqa: F401

V3 = "http://iiif.io/api/image/3/context.json"


@pytest.fixture(autouse=True)
def quick_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"CVIZ_FETCH_TIMEOUT_S": "2", "CVIZ_FETCH_RETRIES": "1", "CVIZ_FETCH_BACKOFF_S": "0.05",
                 "CVIZ_FETCH_MAX_BYTES": str(2 << 20)}.items():
        monkeypatch.setenv(k, v)
    reset()


@pytest.mark.parametrize("fields,match", [
    ({}, "give exactly one source of images.*got none"),
    ({"images": "/x", "iiif_manifest": "https://a.example/m.json"}, r"got \['images', 'iiif_manifest'\]"),
    ({"image_url_column": "img"}, "'image_url_column' 'img' needs the metadata CSV"),
    ({"iiif_manifest": "file:///etc/passwd"}, "'iiif_manifest' must be an http"),
    ({"iiif_manifest": "https://a.example/m.json", "metadata": "/m.csv"}, "brings its own metadata"),
])
def test_a_collection_names_exactly_one_source_of_images(fields: dict, match: str) -> None:
    from cviz.errors import CvizError

    with pytest.raises(CvizError, match=match):
        CollectionConfig(name="c", **fields)


def test_the_service_is_asked_for_a_bounded_size_by_its_compliance_level() -> None:
    base = "https://images.example.org/iiif/abc"
    assert sized_request(base, {"@context": V3, "profile": "level2", "width": 4000, "height": 3000}) == \
        f"{base}/full/!512,512/0/default.jpg"
    assert sized_request(base, {"@context": V3, "profile": "level2", "width": 400, "height": 300}) == \
        f"{base}/full/max/0/default.jpg"  # never upscaled
    assert sized_request(base, {"profile": ["http://iiif.io/api/image/2/level1.json"], "width": 3000, "height": 4000}) == \
        f"{base}/full/384,/0/default.jpg"
    sizes = [{"width": 100, "height": 75}, {"width": 2000, "height": 1500}, {"width": 600, "height": 450}]
    assert sized_request(base, {"@context": V3, "profile": "level0", "width": 4000, "height": 3000, "sizes": sizes}) == \
        f"{base}/full/600,450/0/default.jpg"
    assert sized_request(base, {"profile": ["http://iiif.io/api/image/2/level0.json"], "sizes": sizes[:1]}) == \
        f"{base}/full/100,/0/default.jpg"
    assert sized_request(base, {"@context": V3, "profile": "level0"}) == f"{base}/full/max/0/default.jpg"
    assert service_of(f"{base}/full/max/0/default.jpg") == base and service_of(f"{base}/info.json") == base
    assert service_of(f"{base}/full/300,/0/default.jpg") is None  # an explicit size is kept
    assert service_of("https://example.org/photo.jpg") is None


def _v2_manifest(url: str, service: str) -> dict:
    return {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": url, "@type": "sc:Manifest",
            "label": "Old manifest", "related": "https://museum.example.org/object/7",
            "metadata": [{"label": "Artist", "value": [{"@value": "Anon", "@language": "en"}]}],
            "sequences": [{"@type": "sc:Sequence", "canvases": [
                {"@id": f"{url}/c0", "@type": "sc:Canvas", "label": "front", "width": 10, "height": 10,
                 "images": [{"@type": "oa:Annotation", "motivation": "sc:painting", "on": f"{url}/c0",
                             "resource": {"@id": f"{service}/full/full/0/default.jpg", "@type": "dctypes:Image",
                                          "service": {"@context": "http://iiif.io/api/image/2/context.json",
                                                      "@id": service, "profile": "http://iiif.io/api/image/2/level0.json"}}}]},
                {"@id": f"{url}/c1", "@type": "sc:Canvas", "label": "blank", "images": []}]}]}


def test_presentation_2_and_3_manifests_and_nested_collections_are_read() -> None:
    docs = {
        "top": {"type": "Collection", "id": "top", "items": [{"id": "m3", "type": "Manifest"}, {"id": "sub", "type": "Collection"}]},
        "sub": {"@type": "sc:Collection", "@id": "sub", "manifests": [{"@id": "m2"}], "collections": [{"@id": "deep"}]},
        "deep": {"type": "Collection", "id": "deep", "items": [{"id": "never", "type": "Manifest"}]},
        "m3": manifest_v3("m3", [{"service": "https://i.example/s1", "width": 4, "height": 3, "label": "one",
                                  "metadata": {"Date": "1888", "title": "clash"}, "homepage": "https://museum.example.org/1"}]),
        "m2": _v2_manifest("m2", "https://i.example/s2"),
    }
    reading = read_iiif("top", docs.__getitem__, max_canvases=100, max_depth=2)
    rows = [c.row for c in reading.canvases]
    assert [r["title"] for r in rows] == ["one", "front"]
    assert rows[0]["url"] == "https://museum.example.org/1" and rows[0]["Date"] == "1888"
    assert rows[0]["title (metadata)"] == "clash", "a metadata label never replaces the item's own title"
    assert rows[1]["url"] == "https://museum.example.org/object/7" and rows[1]["Artist"] == "Anon"
    assert rows[1]["iiif_manifest_label"] == "Old manifest" and reading.canvases[1].service["id"] == "https://i.example/s2"
    assert [(r["iiif_service_type"], r["iiif_service_profile"]) for r in rows] == \
        [("ImageService3", "level0"), ("ImageService2", "level0")]
    assert reading.problems == [{"manifest": "m2", "canvas": "m2/c1", "reason": "no image on the canvas"}]
    assert any("collection deep is 2 levels down" in n for n in reading.notes)


def test_a_10000_canvas_manifest_is_capped_and_an_oversized_one_refused(iiif_server: IIIFServer, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{iiif_server.url}/manifest/big.json"
    iiif_server.documents["big"] = big_manifest(url, f"{iiif_server.url}/iiif/img00")
    monkeypatch.setenv("CVIZ_IIIF_MAX_CANVASES", "3")
    reset()
    catalogue = build_remote_catalogue(CollectionConfig(name="big", iiif_manifest=url), open_storage(str(tmp_path)))
    assert any("9997 canvas(es) beyond the first 3 not read" in n for n in catalogue["notes"])
    # three canvases of one image: one item, the other two reported as repeats
    assert catalogue["counts"]["usable"] == 1 and catalogue["counts"]["csv_duplicate_rows"] == 2
    monkeypatch.setenv("CVIZ_IIIF_MAX_BYTES", "100000")
    reset()
    with pytest.raises(CollectionError, match=r"IIIF manifest .*/manifest/big.json: response of [\d,]+ bytes is over the 100,000 bytes limit"):
        build_remote_catalogue(CollectionConfig(name="big", iiif_manifest=url), open_storage(str(tmp_path / "b")))


@pytest.mark.parametrize("name,match", [("bad", "not valid JSON"), ("absent", "HTTP 404")])
def test_a_malformed_or_missing_manifest_fails_the_collection_naming_it(iiif_server: IIIFServer, tmp_path: Path,
                                                                         name: str, match: str) -> None:
    config = CollectionConfig(name="m", iiif_manifest=f"{iiif_server.url}/manifest/{name}.json")
    with pytest.raises(CollectionError, match=rf"IIIF manifest {iiif_server.url}/manifest/{name}.json: {match}"):
        build_remote_catalogue(config, open_storage(str(tmp_path)))


def test_failed_rows_are_skipped_and_reported_by_row_and_url(iiif_server: IIIFServer, tmp_path: Path) -> None:
    s = iiif_server.url
    rows = [f"{s}/iiif/img00/full/max/0/default.jpg", f"{s}/iiif/img01/info.json", f"{s}/error/404", f"{s}/to-file",
            f"{s}/endless", "ftp://example.org/a.jpg", "", f"{s}/busy/rows/iiif/img02/info.json",
            f"{s}/manifest/bad.json"]
    csv_path = tmp_path / "urls.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "title"])
        w.writerows([u, f"row {i}"] for i, u in enumerate(rows))
    config = CollectionConfig(name="urls", metadata=str(csv_path), image_url_column="image")
    catalogue = build_remote_catalogue(config, open_storage(str(tmp_path / "root")))
    usable = [e for e in catalogue["files"] if e["status"] == "usable"]
    assert [e["row"]["title"] for e in usable] == ["row 0", "row 1", "row 7"]
    assert [max(e["width"], e["height"]) for e in usable] == [512, 512, 512], "level 0: the listed 512 px size"
    reasons = {s["row"]: s["reason"] for s in catalogue["skipped"]}
    assert reasons["line 4"] == f"line 4: {s}/error/404: HTTP 404"
    assert "redirect to 'file:///etc/passwd' refused" in reasons["line 5"]
    assert "over the 2 MiB limit (cut off)" in reasons["line 6"]
    assert "not an http(s) URL" in reasons["line 7"] and "is empty" in reasons["line 8"]
    assert reasons["line 10"] == f"line 10: {s}/manifest/bad.json: not a readable image (UnidentifiedImageError)"
    problems = catalogue_problems(catalogue)
    assert {p["row"] for p in problems} == set(reasons) and all("url" in p for p in problems)
    assert catalogue["fetch"]["retries"] >= 1 and catalogue["fetch"]["images_failed"] == 3


def test_the_docs_example_server_serves_a_manifest_and_a_csv_of_image_urls(tmp_path: Path) -> None:
    """docs/iiif.md runs `python -m tests.iiif_server OUT PORT`; the same demo, read by cviz's own readers."""
    from tests.iiif_server import demo

    server, csv_path = demo(tmp_path, count=3)
    with server:
        store = open_storage(str(tmp_path / "root"))
        by_manifest = build_remote_catalogue(CollectionConfig(name="demo-manifest",
                                                              iiif_manifest=f"{server.url}/manifest/sample.json"), store)
        by_csv = build_remote_catalogue(CollectionConfig(name="demo-urls", metadata=str(csv_path),
                                                         image_url_column="iiif"), store)
    assert by_manifest["counts"]["usable"] == by_csv["counts"]["usable"] == 3
    assert by_csv["fetch"]["conditional"] == by_csv["fetch"]["requests"], "the same images: cached by the manifest run"
    assert [e["row"]["title"] for e in by_manifest["files"]] == [e["row"]["title"] for e in by_csv["files"]]


def test_a_host_failing_on_a_rescan_keeps_the_cached_image_but_a_404_drops_it(iiif_server: IIIFServer,
                                                                               tmp_path: Path) -> None:
    csv_path = tmp_path / "two.csv"
    csv_path.write_text("image\n" + "".join(f"{iiif_server.url}/iiif/img1{i}/full/max/0/default.jpg\n" for i in (0, 1)))
    config = CollectionConfig(name="two", metadata=str(csv_path), image_url_column="image")
    store = open_storage(str(tmp_path / "root"))
    assert build_remote_catalogue(config, store)["counts"]["usable"] == 2
    try:
        iiif_server.answer["/iiif/img11/"] = 503
        flaky = build_remote_catalogue(config, store)
        iiif_server.answer["/iiif/img11/"] = 404
        gone = build_remote_catalogue(config, store)
    finally:
        iiif_server.answer.clear()
    assert flaky["counts"]["usable"] == 2 and flaky["fetch"]["images_stale"] == 1
    assert flaky["stale"] == [f"line 3: {iiif_server.url}/iiif/img11/full/max/0/default.jpg: HTTP 503 (after 2 attempts)"]
    assert {"problem": "image kept from the cache", "reason": flaky["stale"][0]} in catalogue_problems(flaky)
    assert gone["counts"]["usable"] == 1 and gone["stale"] == []
    assert gone["skipped"] == [{"file": f"{iiif_server.url}/iiif/img11/full/max/0/default.jpg", "row": "line 3",
                                "url": f"{iiif_server.url}/iiif/img11/full/max/0/default.jpg",
                                "reason": f"line 3: {iiif_server.url}/iiif/img11/full/max/0/default.jpg: HTTP 404"}]
