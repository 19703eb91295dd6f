"""The viewer's IIIF export (viewer/public/src/lib/export.js) makes valid Presentation 3 manifests:
checked by the iiif-prezi3 models and the specification's MUSTs (tests/iiif_validate.py), on an
items.json written by cviz's own publish code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cviz.ingest.collection import CollectionConfig
from cviz.publish.items import build_items
from tests.iiif_validate import export_manifest, prezi3_round_trip, spec_problems

ROWS = [
    {"title": "River at dusk", "url": "https://museum.example.org/1", "Date": "1888", "iiif_service": "https://img.example.org/iiif/1",
     "iiif_service_type": "ImageService3", "iiif_service_profile": "level2", "iiif_width": "4000", "iiif_height": "3000"},
    {"title": "<script>alert(1)</script>", "url": "javascript:alert(1)", "Date": "", "iiif_service": "https://old.example.org/iiif/2",
     "iiif_service_type": "ImageService2", "iiif_service_profile": "level0", "iiif_width": "", "iiif_height": ""},
    {"title": "", "url": "", "Date": "ca. 1901", "iiif_service": "", "iiif_service_type": "", "iiif_service_profile": "",
     "iiif_width": "800", "iiif_height": "600"},
]


def _items_json(tmp_path: Path) -> Path:
    config = CollectionConfig(name="exported", iiif_manifest="https://museum.example.org/manifest.json")
    entries = [{"file": f"ab/{i}.bin", "row": row} for i, row in enumerate(ROWS)]
    grid = {"cols": 2, "rows": 2, "cell_width": 64, "cell_height": 64, "width": 128, "height": 128}
    doc, _ = build_items(config, entries, list(ROWS[0]), [0, 1, 3], grid, [f"../images/{i}.jpg" for i in range(3)])
    path = tmp_path / "items.json"
    path.write_text(json.dumps(doc))
    return path


def test_an_exported_selection_is_a_valid_presentation_3_manifest(tmp_path: Path) -> None:
    manifest = export_manifest(_items_json(tmp_path), [2, 0, 1], "https://maps.example.org/exports/sel.json",
                               "https://maps.example.org/data/exported/v1/items.json")
    assert spec_problems(manifest) == []
    assert prezi3_round_trip(manifest) == manifest, "iiif-prezi3 read every property as it was written"
    canvases = manifest["items"]
    assert [c["label"]["none"][0] for c in canvases] == ["2.bin", "River at dusk",
                                                         "<span>&lt;script&gt;alert(1)&lt;/script&gt;</span>"]
    assert [(c["width"], c["height"]) for c in canvases] == [(800, 600), (4000, 3000), (64, 64)]
    assert "homepage" not in canvases[2], "javascript: links are not exported"
    bodies = [c["items"][0]["items"][0]["body"] for c in canvases]
    assert bodies[0]["id"] == "https://maps.example.org/data/exported/images/2.jpg"
    assert bodies[1]["service"] == [{"id": "https://img.example.org/iiif/1", "type": "ImageService3", "profile": "level2"}]


def test_the_validators_catch_what_they_claim_to(tmp_path: Path) -> None:
    manifest = export_manifest(_items_json(tmp_path), [0], "https://maps.example.org/exports/one.json",
                               "https://maps.example.org/data/exported/v1/items.json")
    broken = json.loads(json.dumps(manifest))
    broken["items"][0]["width"] = "wide"
    broken["items"][0]["items"][0]["items"][0]["target"] = "https://elsewhere.example.org/"
    assert len(spec_problems(broken)) == 2
    with pytest.raises(Exception, match="width"):
        prezi3_round_trip(broken)
