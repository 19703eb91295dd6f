"""Layouts update like the similarity map, through the real assets: a `place_new` run with a few new
images keeps every item's cell, links the previous version's unchanged tiles (the same files, drawn
once) and draws only the rest; the linked version is byte for byte what a full render of the same
arrangement gives; a title edited in the CSV leaves both layouts skipped."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from cviz.arrange.layouts import Arrangement
from cviz.ingest.catalogue import usable_items
from cviz.paths import CollectionPaths
from cviz.stages import layouts as layout_stages
from cviz.storage import open_storage
from cviz_assets.assets import collection_assets
from cviz_assets.checks import collection_checks
from cviz_assets.layout_assets import layout_assets, layout_checks
from cviz_assets.register import register_spec
from tests.conftest import resources
from tests.test_layouts_pipeline import metadata, spec_for, tree_bytes, write_collection

ALL = [*collection_assets, *collection_checks, *layout_assets, *layout_checks]
PLACE_NEW = {"ops": {"pca": {"config": {"update": "place_new"}}, "tsne": {"config": {"update": "place_new"}},
                     "grid": {"config": {"keep_previous": True}},
                     "timeline_layout": {"config": {"keep_previous": True}},
                     "category_layout": {"config": {"keep_previous": True}}}}


def _build(root: Path, instance: dg.DagsterInstance, spec: dict, run_config: dict | None = None):
    res = resources(root)
    register_spec(instance, res["storage"], spec)
    return dg.materialize(ALL, partition_key=spec["name"], instance=instance, resources=res, run_config=run_config)


@pytest.fixture(scope="module")
def updated(tmp_path_factory: pytest.TempPathFactory, met_sample_dir: Path) -> dict:
    """A 60-item collection built, then 4 images added (dated and categorised as the CSV's others)
    and updated with place_new."""
    root = tmp_path_factory.mktemp("reuse-root")
    folder = tmp_path_factory.mktemp("reuse-src")
    rows = write_collection(met_sample_dir, folder)
    instance = dg.DagsterInstance.ephemeral()
    first = _build(root, instance, spec_for("grow", folder))
    assert first.success
    before = {lay: layout_stages.read_record(open_storage(str(root)), "grow", lay)["version"] for lay in ("timeline", "category")}
    extra = sorted(p.name for p in (met_sample_dir / "images").glob("*.jpg"))[60:64]
    template = list(rows.values())
    with open(folder / "metadata.csv", "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(template[0]))
        for k, f in enumerate(extra):
            shutil.copyfile(met_sample_dir / "images" / f, folder / "images" / f)
            w.writerow({**template[2 + k], "filename": f, "title": f"New {k}"})
    second = _build(root, instance, spec_for("grow", folder), PLACE_NEW)
    assert second.success
    return {"root": root, "folder": folder, "instance": instance, "before": before, "result": second}


@pytest.mark.parametrize("layout", ["timeline", "category"])
def test_an_update_keeps_cells_and_links_unchanged_tiles(updated: dict, layout: str) -> None:
    values = metadata(updated["result"], f"{layout}_layout")
    assert values["arranged"] == "kept"
    assert values["items_in_place"] == values["items_before"] == 60 and values["items"] == 64
    assert values["reused_from"] == updated["before"][layout]
    assert values["tiles_reused"] > values["tiles_written"] > 0
    paths = CollectionPaths("grow")
    root = updated["root"]
    new = root / paths.layout_tiles(layout, values["version"])
    old = root / paths.layout_tiles(layout, updated["before"][layout])
    top = max(int(p.name) for p in new.iterdir())
    shared = [p for p in (new / str(top)).iterdir() if (old / str(top) / p.name).exists()
              and os.stat(p).st_ino == os.stat(old / str(top) / p.name).st_ino]
    assert len(shared) >= values["items_in_place"] // 2  # linked, not drawn again


@pytest.mark.parametrize("layout", ["timeline", "category"])
def test_the_linked_version_equals_a_full_render_of_the_same_arrangement(updated: dict, layout: str) -> None:
    root = updated["root"]
    storage = open_storage(str(root))
    values = metadata(updated["result"], f"{layout}_layout")
    paths = CollectionPaths("grow")
    doc = storage.read_json(paths.layout_doc(layout, values["version"]))
    found = Arrangement(layout, doc["grid"]["cols"], doc["grid"]["rows"], np.asarray(doc["cells"]), doc["labels"],
                        {k: doc[k] for k in ("bin_years", "column") if k in doc})
    catalogue = storage.read_json(paths.catalogue)
    items = usable_items(catalogue)
    cell = (doc["grid"]["cell_width"], doc["grid"]["cell_height"])
    layout_stages._render(storage, "grow", layout, "fullrender", found, items, catalogue, cell, doc["items_sha256"], 2,
                          None, previous_version=None)
    full = tree_bytes(root / paths.layout_tiles(layout, "fullrender"))
    assert full == tree_bytes(root / paths.layout_tiles(layout, values["version"]))
    storage.remove_tree(paths.layout_version(layout, "fullrender"))


def test_a_title_edit_leaves_the_layouts_skipped(updated: dict) -> None:
    folder = updated["folder"]
    csv_path = folder / "metadata.csv"
    text = csv_path.read_text("utf-8").replace("Object 7,", "Object seven,")
    assert "Object seven" in text
    csv_path.write_text(text, "utf-8")
    result = _build(updated["root"], updated["instance"], spec_for("grow", folder), PLACE_NEW)
    assert result.success
    for layout in ("timeline_layout", "category_layout"):
        assert "unchanged" in str(metadata(result, layout).get("skipped", "")), layout
    assert "skipped" not in metadata(result, "metadata_json")  # the title is in items.json
