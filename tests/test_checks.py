"""Asset checks: they pass on a good collection, and each corrupted output fails the right check
with the offending item named in its metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from cviz.publish import verify
from cviz.storage import open_storage
from cviz_assets.assets import collection_assets
from cviz_assets.checks import collection_checks, features_finite, items_resolved, one_cell_per_image, pyramid_complete
from cviz_assets.partitions import collection_partitions
from tests.conftest import resources

NAME = "met-sample"


@pytest.fixture
def corruptible(met_sample_root: Path, tmp_path: Path) -> Path:
    """A private copy of the materialized met-sample outputs, safe to damage."""
    root = tmp_path / "storage"
    for part in (f"collections/{NAME}", f"published/{NAME}"):
        shutil.copytree(met_sample_root / part, root / part)
    return root


def published(root: Path) -> tuple[Path, dict]:
    pub = root / "published" / NAME
    return pub, json.loads((pub / "current.json").read_text())


def run_checks(root: Path, *checks: dg.AssetChecksDefinition) -> dict[str, dg.AssetCheckEvaluation]:
    """Execute checks alone (no asset re-materialized) on one collection partition.

    The partition goes in as the run's ``dagster/partition`` tag: in Dagster 1.13.27,
    ``materialize(partition_key=...)`` cannot infer a partitions definition for a selection
    holding only checks ("no PartitionsDefinition shared by all the provided assets").
    """
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(collection_partitions.name, [NAME])
    result = dg.materialize([*collection_assets, *collection_checks], selection=dg.AssetSelection.checks(*checks),
                            tags={"dagster/partition": NAME}, instance=instance, resources=resources(root),
                            raise_on_error=False)
    evaluations = result.get_asset_check_evaluations()
    assert {e.partition for e in evaluations} == {NAME}
    # The checks are blocking: a failed one fails its step, and so the run.
    assert result.success == all(e.passed for e in evaluations)
    return {e.check_name: e for e in evaluations}


def test_all_checks_pass_on_a_good_collection(met_sample_root: Path) -> None:
    store = open_storage(str(met_sample_root))
    for fn in (verify.verify_grid, verify.verify_pyramid, verify.verify_items, verify.verify_features):
        v = fn(store, NAME)
        passed, offending = v.passed, v.offending
        assert passed and offending == [], fn.__name__
    evaluations = run_checks(met_sample_root, *collection_checks)
    assert sorted(evaluations) == sorted(c.check_key.name for c in collection_checks)
    assert all(e.passed for e in evaluations.values())
    assert evaluations["pyramid_complete"].metadata["tiles"].value > 0


def test_deleted_tile_fails_the_pyramid_check_naming_the_tile(corruptible: Path) -> None:
    pub, pointer = published(corruptible)
    files = (pub / pointer["dzi"]).with_name("map_files")
    victim = sorted((files / "8").iterdir())[3]
    victim.unlink()
    evaluation = run_checks(corruptible, pyramid_complete, items_resolved)
    assert evaluation["items_resolved"].passed
    bad = evaluation["pyramid_complete"]
    assert not bad.passed
    assert bad.metadata["offending_items"].value == [{"problem": "tile missing", "tile": f"8/{victim.name}"}]


def test_declared_size_mismatch_fails_the_pyramid_check(corruptible: Path) -> None:
    pub, pointer = published(corruptible)
    dzi = pub / pointer["dzi"]
    dzi.write_text(dzi.read_text().replace('Width="', 'Width="1'))
    v = verify.verify_pyramid(open_storage(str(corruptible)), NAME)
    passed, offending = v.passed, v.offending
    assert not passed
    assert offending[0]["problem"] == "declared size differs from the grid"


def test_blank_title_fails_the_items_check_naming_the_item(corruptible: Path) -> None:
    pub, pointer = published(corruptible)
    items_path = pub / pointer["items"]
    doc = json.loads(items_path.read_text())
    i = 5
    victim, title = doc["fields"]["id"][i], doc["fields"]["title"][i]
    assert title  # met-sample titles are real
    doc["fields"]["title"][i] = ""
    items_path.write_text(json.dumps(doc))
    evaluation = run_checks(corruptible, items_resolved, pyramid_complete)
    assert evaluation["pyramid_complete"].passed
    bad = evaluation["items_resolved"]
    assert not bad.passed
    [problem] = bad.metadata["offending_items"].value
    assert problem["id"] == victim and problem["field"] == "title"
    assert problem["found"] == "" and problem["expected"] == title


def test_unresolved_url_and_missing_item_fail_the_items_check(corruptible: Path) -> None:
    pub, pointer = published(corruptible)
    items_path = pub / pointer["items"]
    doc = json.loads(items_path.read_text())
    doc["fields"]["url"][0] = "{url}"
    dropped = doc["fields"]["id"][-1]
    for values in [*doc["fields"].values(), *doc["values"].values()]:
        values.pop()
    doc["count"] -= 1
    items_path.write_text(json.dumps(doc))
    v = verify.verify_items(open_storage(str(corruptible)), NAME)
    passed, offending = v.passed, v.offending
    assert not passed
    assert {"problem": "image missing from items.json", "id": dropped} in offending
    assert any(p["problem"] == "url not resolved from its template" and p["found"] == "{url}" for p in offending)


def test_shared_cell_fails_the_grid_check_naming_both_images(corruptible: Path) -> None:
    grid_path = corruptible / "collections" / NAME / "grid.json"
    grid = json.loads(grid_path.read_text())
    grid["cells"][1] = grid["cells"][0]
    grid_path.write_text(json.dumps(grid))
    catalogue = json.loads((corruptible / "collections" / NAME / "images.json").read_text())
    usable = [e["file"] for e in catalogue["files"] if e["status"] == "usable"]
    bad = run_checks(corruptible, one_cell_per_image)["one_cell_per_image"]
    assert not bad.passed
    assert bad.metadata["offending_items"].value == [{"problem": "cell shared", "cell": grid["cells"][0],
                                                "files": usable[:2]}]


def test_nan_row_fails_the_features_check_naming_the_image(corruptible: Path) -> None:
    path = corruptible / "collections" / NAME / "features.npy"
    x = np.load(path)
    x[7, 3] = np.nan
    x[9, 0] = np.inf
    np.save(path, x)
    catalogue = json.loads((corruptible / "collections" / NAME / "images.json").read_text())
    usable = [e["file"] for e in catalogue["files"] if e["status"] == "usable"]
    bad = run_checks(corruptible, features_finite)["features_finite"]
    assert not bad.passed
    assert bad.metadata["offending_items"].value == [
        {"problem": "non-finite row", "row": 7, "file": usable[7]},
        {"problem": "non-finite row", "row": 9, "file": usable[9]},
    ]
