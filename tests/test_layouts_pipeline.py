"""The layouts through the real Dagster assets: a collection with dates and categories
publishes all three layouts; each layout puts the items where the metadata CSV says; a collection
without dates has no timeline and says why; one layout rebuilt alone leaves the live similarity
version byte for byte as it was; a layout built from another item list is not published.

One storage root for the module: the collections share the feature and cell caches, so only the
first build computes features."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from cviz.arrange.layouts import items_sha256
from cviz_assets.assets import FORCE_TAG, collection_assets
from cviz_assets.checks import collection_checks
from cviz_assets.layout_assets import category_layout, layout_assets, layout_checks, timeline_layout
from cviz_assets.register import register_spec
from tests.conftest import resources

ALL = [*collection_assets, *collection_checks, *layout_assets, *layout_checks]
N = 60
DEPARTMENTS = ["Paintings", "Paintings", "Prints|Paintings", "Prints", "Sculpture", "", "Arms|Prints"]


def year_of(i: int) -> int | None:
    """The CSV's date of item i: every tenth undated, one in ten 'n.d.', the rest 1850-1969."""
    return None if i % 10 in (0, 1) else 1850 + (i * 13) % 120


def write_collection(src: Path, out: Path, dates: bool = True) -> dict[str, dict[str, str]]:
    """``out/images`` (N met-sample images) and ``out/metadata.csv``; returns the rows by file name."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    files = sorted(p.name for p in (src / "images").glob("*.jpg"))[:N]
    rows = {}
    for i, f in enumerate(files):
        shutil.copyfile(src / "images" / f, out / "images" / f)
        date = "" if i % 10 == 0 else "n.d." if i % 10 == 1 else f"ca. {year_of(i)}"
        rows[f] = {"filename": f, "title": f"Object {i}", "department": DEPARTMENTS[i % len(DEPARTMENTS)],
                   **({"date": date} if dates else {})}
    with open(out / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, list(next(iter(rows.values()))))
        w.writeheader()
        w.writerows(rows.values())
    return rows


def build(root: Path, instance: dg.DagsterInstance, spec: dict, selection: list | None = None,
          force: bool = False) -> dg.ExecuteInProcessResult:
    """Register ``spec`` and materialize its partition: everything (as build_collection runs it,
    with the blocking checks), or only the ``selection`` assets and their checks. ``force``: run
    stages whose inputs are unchanged too (cviz.stages.stamps would skip them), as an operator rebuilding one does."""
    res = resources(root)
    register_spec(instance, res["storage"], spec)
    return dg.materialize(ALL, partition_key=spec["name"], instance=instance, resources=res,
                          selection=dg.AssetSelection.assets(*selection) if selection else None,
                          tags={FORCE_TAG: "true"} if force else None)


def spec_for(name: str, folder: Path) -> dict:
    return {"name": name, "images": str(folder / "images"), "metadata": str(folder / "metadata.csv")}


def pointer(root: Path, name: str) -> dict:
    return json.loads((root / "published" / name / "current.json").read_text())


def layout_doc(root: Path, name: str, layout: str) -> dict:
    rel = pointer(root, name)["layouts"][layout]["layout"]
    return json.loads((root / "published" / name / rel).read_text())


def ids(root: Path, name: str) -> list[str]:
    items = json.loads((root / "published" / name / pointer(root, name)["items"]).read_text())
    return items["fields"]["id"]


def label_of(doc: dict, cell: int) -> dict:
    cols = doc["grid"]["cols"]
    x, y = cell % cols, cell // cols
    [lab] = [b for b in doc["labels"] if b["x"] <= x < b["x"] + b["w"] and b["y"] <= y < b["y"] + b["h"]]
    return lab


def tree_bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [mat] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, met_sample_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("layouts-root")
    folder = tmp_path_factory.mktemp("layouts-src")
    rows = write_collection(met_sample_dir, folder)
    instance = dg.DagsterInstance.ephemeral()
    result = build(root, instance, spec_for("dated", folder))
    return {"root": root, "folder": folder, "rows": rows, "instance": instance, "result": result,
            "src": met_sample_dir, "tmp": tmp_path_factory}


def test_a_collection_with_dates_and_categories_publishes_all_three_layouts(env: dict) -> None:
    root, result = env["root"], env["result"]
    assert result.success
    evaluations = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[0].endswith("_layout")]
    assert {(e.asset_key.path[0], e.check_name) for e in evaluations} == {
        (f"{lay}_layout", c) for lay in ("timeline", "category") for c in ("one_cell_per_image", "pyramid_complete", "items_resolved")}
    assert all(e.passed for e in evaluations)
    p = pointer(root, "dated")
    assert set(p["layouts"]) == {"timeline", "category"}
    assert p["dzi"].split("/")[0] == p["items"].split("/")[0]  # the similarity map as before
    for layout, entry in p["layouts"].items():
        assert entry["dzi"].startswith(f"layouts/{layout}/") and entry["layout"].endswith("/layout.json")
        dzi = root / "published" / "dated" / entry["dzi"]
        assert dzi.exists() and (dzi.parent / "map_files").is_dir()
        doc = layout_doc(root, "dated", layout)
        assert doc["format"] == "cviz-layout/1" and doc["layout"] == layout and doc["dzi"] == "map.dzi"
        assert doc["items_sha256"] == hashlib.sha256(json.dumps(ids(root, "dated")).encode()).hexdigest()
        g = doc["grid"]
        assert len(doc["cells"]) == N and len(set(doc["cells"])) == N and max(doc["cells"]) < g["cols"] * g["rows"]
        assert (g["width"], g["height"]) == (g["cols"] * g["cell_width"], g["rows"] * g["cell_height"])
    assert metadata(result, "publish")["layouts"] == "category, timeline"
    assert metadata(result, "timeline_layout")["cells_decoded"] == 0  # the cell cache, filled by features


def test_timeline_bins_hold_the_items_of_their_csv_years(env: dict) -> None:
    root, rows = env["root"], env["rows"]
    doc = layout_doc(root, "dated", "timeline")
    bins = [b for b in doc["labels"] if b["kind"] == "bin"]
    assert [b["x"] for b in bins] == sorted(b["x"] for b in bins)
    assert [b["year_from"] for b in bins] == sorted(b["year_from"] for b in bins)  # columns in year order
    index = {f: i for i, f in enumerate(sorted(rows))}
    for item_id, cell in zip(ids(root, "dated"), doc["cells"]):
        year = year_of(index[item_id])
        lab = label_of(doc, cell)
        if year is None:
            assert lab["text"] == "undated", (item_id, lab)
        else:
            assert lab["kind"] == "bin" and lab["year_from"] <= year <= lab["year_to"], (item_id, year, lab)
    assert doc["column"] == "date" and doc["bin_years"] == bins[0]["year_to"] - bins[0]["year_from"] + 1


def test_category_blocks_hold_exactly_their_csv_items(env: dict) -> None:
    root, rows = env["root"], env["rows"]
    doc = layout_doc(root, "dated", "category")
    assert doc["column"] == "department"
    want: dict[str, set[str]] = {}
    for f, r in rows.items():
        first = r["department"].split("|")[0].strip() or "(no value)"
        want.setdefault(first, set()).add(f)
    got: dict[str, set[str]] = {}
    for item_id, cell in zip(ids(root, "dated"), doc["cells"]):
        got.setdefault(label_of(doc, cell)["text"], set()).add(item_id)
    assert got == want
    assert {b["text"]: b["count"] for b in doc["labels"]} == {k: len(v) for k, v in want.items()}


def test_rebuilding_one_layout_alone_leaves_the_similarity_version_untouched(env: dict) -> None:
    root = env["root"]
    before = pointer(root, "dated")
    live = root / "published" / "dated" / before["dzi"].split("/")[0]
    files_before = tree_bytes(live)
    build(root, env["instance"], spec_for("dated", env["folder"]), selection=[timeline_layout, collection_assets[-1]],
          force=True)
    after = pointer(root, "dated")
    assert tree_bytes(live) == files_before
    assert {k: after[k] for k in ("dzi", "items", "preview")} == {k: before[k] for k in ("dzi", "items", "preview")}
    assert after["layouts"]["category"] == before["layouts"]["category"]
    assert after["layouts"]["timeline"] != before["layouts"]["timeline"]
    assert (root / "published" / "dated" / after["layouts"]["timeline"]["dzi"]).exists()


def test_an_unchanged_rebuild_skips_the_layouts_and_publish(env: dict) -> None:
    """cviz.stages.stamps: the layout steps are stages like the others; nothing changed, nothing rebuilt."""
    root = env["root"]
    before = pointer(root, "dated")
    result = build(root, env["instance"], spec_for("dated", env["folder"]))
    for asset in ("timeline_layout", "category_layout", "publish"):
        assert "unchanged" in str(metadata(result, asset).get("skipped", "")), asset
    assert pointer(root, "dated")["layouts"] == before["layouts"]


def test_a_collection_without_dates_gets_no_timeline_and_says_why(env: dict) -> None:
    root = env["root"]
    folder = env["tmp"].mktemp("nodate-src")
    write_collection(env["src"], folder, dates=False)
    result = build(root, env["instance"], spec_for("undated", folder))
    meta = metadata(result, "timeline_layout")
    assert meta["built"] is False and "no date column" in meta["reason"]
    assert set(pointer(root, "undated")["layouts"]) == {"category"}
    assert "timeline: absent: no date column" in metadata(result, "publish")["layouts_left_out"]
    [check] = [e for e in result.get_asset_check_evaluations()
               if e.asset_key.path[0] == "timeline_layout" and e.check_name == "pyramid_complete"]
    assert check.passed and "no timeline" in check.description
    assert not (root / "published" / "undated" / "layouts" / "timeline").exists()


def test_turned_off_layout_is_absent(env: dict) -> None:
    root = env["root"]
    spec = {**spec_for("dated-off", env["folder"]), "layouts": {"category": False, "timeline": {"column": "date"}}}
    result = build(root, env["instance"], spec)
    assert set(pointer(root, "dated-off")["layouts"]) == {"timeline"}
    assert "turned off" in metadata(result, "category_layout")["reason"]


def test_a_layout_from_another_item_list_is_not_published(env: dict) -> None:
    root = env["root"]
    folder = env["tmp"].mktemp("shrink-src")
    rows = write_collection(env["src"], folder)
    spec = spec_for("shrinks", folder)
    assert build(root, env["instance"], spec).success
    old_timeline = pointer(root, "shrinks")["layouts"]["timeline"]
    (folder / "images" / sorted(rows)[5]).unlink()  # the item list changes
    everything_but_timeline = [a for a in collection_assets] + [category_layout]
    result = build(root, env["instance"], spec, selection=everything_but_timeline)
    p = pointer(root, "shrinks")
    assert set(p["layouts"]) == {"category"}
    assert "timeline: built from another item list; materialize timeline_layout" in metadata(result, "publish")["layouts_left_out"]
    assert layout_doc(root, "shrinks", "category")["items_sha256"] == items_sha256(ids(root, "shrinks"))
    # The old timeline version is not live any more but kept (the newest two stay for readers).
    assert (root / "published" / "shrinks" / old_timeline["dzi"]).exists()


def test_the_build_job_builds_every_layout() -> None:
    from cviz_assets.definitions import defs

    job = defs.resolve_job_def("build_collection")
    nodes = {n.name for n in job.graph.node_defs}
    assert {"timeline_layout", "category_layout"} <= nodes
    assert {f"{a}_layout_{c}" for a in ("timeline", "category")
            for c in ("one_cell_per_image", "pyramid_complete", "items_resolved")} <= nodes


def _run_layout_checks(root: Path, name: str) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """The layout checks alone on one partition (no asset re-materialized), as tests/test_checks.py does."""
    from cviz_assets.partitions import collection_partitions as collections

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(collections.name, [name])
    result = dg.materialize(ALL, selection=dg.AssetSelection.checks(*layout_checks), tags={"dagster/partition": name},
                            instance=instance, resources=resources(root), raise_on_error=False)
    return {(e.asset_key.path[0], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_layout_checks_find_a_missing_tile_and_a_shared_cell(env: dict) -> None:
    root = env["root"]
    folder = env["tmp"].mktemp("checked-src")
    write_collection(env["src"], folder)
    assert build(root, env["instance"], spec_for("checked", folder)).success
    assert all(e.passed for e in _run_layout_checks(root, "checked").values())
    p = pointer(root, "checked")
    tile = next((root / "published" / "checked" / p["layouts"]["timeline"]["dzi"]).parent.glob("map_files/0/*.jpg"))
    tile.unlink()
    layout_json = root / "published" / "checked" / p["layouts"]["category"]["layout"]
    doc = json.loads(layout_json.read_text())
    doc["cells"][1] = doc["cells"][0]
    layout_json.write_text(json.dumps(doc))
    found = _run_layout_checks(root, "checked")
    assert not found[("timeline_layout", "pyramid_complete")].passed
    assert "tile missing" in found[("timeline_layout", "pyramid_complete")].description
    assert not found[("category_layout", "one_cell_per_image")].passed
    assert not found[("category_layout", "items_resolved")].passed
    assert found[("timeline_layout", "one_cell_per_image")].passed and found[("category_layout", "pyramid_complete")].passed


def test_a_layout_column_the_csv_lacks_fails_naming_the_field_and_keeps_the_map(env: dict) -> None:
    root = env["root"]
    spec = spec_for("badcol", env["folder"])
    assert build(root, env["instance"], spec).success
    before = (root / "published" / "badcol" / "current.json").read_bytes()
    res = resources(root)
    register_spec(env["instance"], res["storage"], {**spec, "layouts": {"category": {"column": "nope"}}})
    result = dg.materialize(ALL, partition_key="badcol", instance=env["instance"], resources=res, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "category_layout"
    text = str(failure.step_failure_data.user_failure_data.description if failure.step_failure_data.user_failure_data
               else failure.step_failure_data.error.message)
    assert "layouts.category.column" in text and "'nope'" in text
    assert (root / "published" / "badcol" / "current.json").read_bytes() == before  # publish never ran
