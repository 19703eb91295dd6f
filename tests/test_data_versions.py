"""Unchanged inputs, no work: code versions, data versions, skipped stages.

Every run goes through the real ``build_collection`` job (with its blocking checks) on a small
real collection (16 Met photos); the outputs on disk, the run's materialization metadata and the
Dagster instance's data versions and stale statuses are what the tests look at.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from cviz.stages import stamps
from tests.conftest import resources

NAME = "dv"
STAGES = ("images", "features", "pca", "tsne", "grid", "mosaic", "dzi", "metadata_json", "timeline_layout",
          "category_layout", "publish")
AFTER_IMAGES = STAGES[1:]


def job(root: Path) -> dg.JobDefinition:
    from cviz_assets.definitions import build_collection
    from cviz_assets.graph import graph_assets, graph_checks

    defs = dg.Definitions(assets=graph_assets, asset_checks=graph_checks, jobs=[build_collection],
                          resources=resources(root))
    return defs.resolve_job_def("build_collection")


def build(root: Path, instance: dg.DagsterInstance, run_config: dict | None = None,
          tags: dict | None = None) -> dg.ExecuteInProcessResult:
    result = job(root).execute_in_process(partition_key=NAME, instance=instance, run_config=run_config or {},
                                          tags=tags)
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def skipped(meta: dict[str, dict]) -> set[str]:
    return {stage for stage, m in meta.items() if isinstance(m.get("skipped"), str)}


def data_versions(instance: dg.DagsterInstance) -> dict[str, str]:
    from dagster._core.definitions.data_version import extract_data_version_from_entry

    out = {}
    for stage in STAGES:
        record = instance.get_latest_data_version_record(dg.AssetKey(stage), partition_key=NAME)
        out[stage] = extract_data_version_from_entry(record.event_log_entry).value
    return out


def stale(instance: dg.DagsterInstance) -> dict[str, str]:
    """What the UI shows per asset for this partition (FRESH, STALE, MISSING)."""
    from dagster._utils.test.data_versions import get_stale_status_resolver

    from cviz_assets.graph import graph_assets

    resolver = get_stale_status_resolver(instance, graph_assets)
    return {stage: resolver.get_status(dg.AssetKey(stage), NAME).value for stage in STAGES}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every output file (the catalogue, rescanned each run, and the lock excepted)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in (f"collections/{NAME}/images.json", f"collections/{NAME}/lock.json") \
                and not rel.startswith("ops/"):
            out[rel] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def new_instance() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [NAME])
    return instance


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, met_sample_dir: Path) -> Path:
    src = tmp_path_factory.mktemp("dv-src")
    (src / "images").mkdir()
    names = sorted(p.name for p in (met_sample_dir / "images").iterdir())
    for n in names[:17]:  # 16 in the collection, one spare to add later
        shutil.copyfile(met_sample_dir / "images" / n, (src / "images" if n in names[:16] else src) / n)
    rows = [r for r in (met_sample_dir / "metadata.csv").read_text(encoding="utf-8").splitlines()]
    (src / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return src


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory, source: Path) -> tuple[Path, dg.DagsterInstance]:
    """A root where the collection was built once (model conversion included), and its instance."""
    from cviz_assets.register import register_spec

    root = tmp_path_factory.mktemp("dv-root")
    instance = new_instance()
    register_spec(instance, resources(root)["storage"],
                  {"name": NAME, "images": str(source / "images"), "metadata": str(source / "metadata.csv")})
    first = build(root, instance)
    assert skipped(metadata(first)) == set()
    return root, instance


@pytest.fixture
def fresh(built_once, tmp_path: Path, source: Path) -> tuple[Path, Path, dg.DagsterInstance]:
    """A private copy of the built root and of the image folder (tests change them), rebuilt once in a
    new instance so the instance holds this copy's materializations."""
    from cviz_assets.register import register_spec

    base, _ = built_once
    root, src = tmp_path / "root", tmp_path / "src"
    shutil.copytree(base, root)
    shutil.copytree(source, src)
    instance = new_instance()
    spec = {"name": NAME, "images": str(src / "images"), "metadata": str(src / "metadata.csv")}
    register_spec(instance, resources(root)["storage"], spec)  # another images folder: a new config
    build(root, instance)
    return root, src, instance


def test_an_unchanged_rerun_skips_every_stage_and_writes_nothing(built_once) -> None:
    root, instance = built_once
    versions = data_versions(instance)
    before = snapshot(root)
    result = build(root, instance)
    meta = metadata(result)
    assert skipped(meta) == set(AFTER_IMAGES)  # features too: cached, and skipped all the same
    for stage in AFTER_IMAGES:
        assert meta[stage]["skipped"].startswith("inputs and code unchanged since 20")
    assert "skipped" not in meta["images"] or isinstance(meta["images"]["skipped"], int)  # images always scans
    # The previous run's figures, less its work: quality measures stay, timings go.
    assert meta["grid"]["knn16_grid"] > 0 and "assign_seconds" not in meta["grid"]
    assert meta["features"]["items"] == 16 and "originals_decoded" not in meta["features"]
    after = snapshot(root)
    assert after.keys() == before.keys()
    changed = [rel for rel in before if before[rel] != after[rel]]
    assert changed == []  # not one byte nor mtime: no new version, nothing republished
    # The checks still verified the (unchanged, live) version.
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert data_versions(instance) == versions
    assert set(stale(instance).values()) == {"FRESH"}


def test_a_new_image_changes_images_and_reruns_everything_below(fresh) -> None:
    from cviz_assets.assets import collection_assets

    root, src, instance = fresh
    versions = data_versions(instance)
    pointer = json.loads((root / f"published/{NAME}/current.json").read_text())
    def images_only() -> dict[str, str]:
        result = dg.materialize(collection_assets, selection=dg.AssetSelection.assets("images"),
                                partition_key=NAME, instance=instance, resources=resources(root))
        assert result.success
        return stale(instance)

    # `images` re-materialized on an unchanged folder: same data version, nothing below it is stale
    # (without data versions every direct dependent would show "new dependency materialization").
    assert set(images_only().values()) == {"FRESH"}

    spare = next(p for p in src.iterdir() if p.suffix == ".jpg")
    shutil.move(spare, src / "images" / spare.name)
    # Now `images` changes, and the UI marks the assets reading it stale (Dagster 1.13 marks direct
    # dependents; the others follow as each re-runs with a new data version).
    status = images_only()
    assert status["images"] == "FRESH"
    assert status["features"] == status["mosaic"] == "STALE", status
    meta = metadata(build(root, instance))
    assert skipped(meta) == set()
    assert meta["features"]["items"] == 17 and meta["features"]["computed"] == 1
    new = data_versions(instance)
    assert all(new[s] != versions[s] for s in STAGES), {s: (versions[s][:8], new[s][:8]) for s in STAGES}
    assert json.loads((root / f"published/{NAME}/current.json").read_text())["items"] != pointer["items"]
    assert set(stale(instance).values()) == {"FRESH"}


def test_changing_only_the_grid_method_reruns_grid_and_below_not_tsne(fresh) -> None:
    root, _, instance = fresh
    tsne_before = (root / f"collections/{NAME}/tsne.npy").stat().st_mtime_ns
    meta = metadata(build(root, instance, run_config={"ops": {"grid": {"config": {"method": "sorted"}}}}))
    assert skipped(meta) == {"features", "pca", "tsne", "timeline_layout", "category_layout"}  # layouts: tsne's order
    assert meta["grid"]["method"] == "sorted" and "inputs, settings or code changed" in meta["grid"]["run_reason"]
    assert (root / f"collections/{NAME}/tsne.npy").stat().st_mtime_ns == tsne_before
    # Back to the default: the stamp of the sorted grid does not match, so the grid runs again.
    assert "grid" not in skipped(metadata(build(root, instance)))


def test_editing_a_title_rebuilds_the_map_files_but_not_the_layout(fresh) -> None:
    root, src, instance = fresh
    import csv

    path = src / "metadata.csv"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    first_file = sorted(p.name for p in (src / "images").iterdir())[0]
    for r in rows:
        if r["filename"] == first_file:
            r["title"] = "Renamed " + r["title"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(rows)
    meta = metadata(build(root, instance))
    layouts = {"timeline_layout", "category_layout"} & set(meta)  # they read their column's values, not titles
    assert skipped(meta) == {"pca", "tsne", "grid"} | layouts | ({"features"} & skipped(meta))
    assert {"mosaic", "dzi", "metadata_json", "publish"}.isdisjoint(skipped(meta))
    pub = root / f"published/{NAME}"
    items = json.loads((pub / json.loads((pub / "current.json").read_text())["items"]).read_text())
    assert any(t.startswith("Renamed ") for t in items["fields"]["title"])


def test_a_deleted_output_unskips_its_stage(fresh) -> None:
    root, _, instance = fresh
    (root / f"collections/{NAME}/tsne.npy").unlink()
    meta = metadata(build(root, instance))
    assert "tsne" not in skipped(meta) and meta["tsne"]["run_reason"] == "outputs missing or changed since they were written"
    assert (root / f"collections/{NAME}/tsne.npy").is_file()
    assert {"features", "pca"} <= skipped(meta)

    # A file of the live version gone: dzi may not write into a live version, so the mosaic starts a
    # new one and everything below it runs.
    pub = root / f"published/{NAME}"
    live = json.loads((pub / "current.json").read_text())
    (pub / live["dzi"]).unlink()
    meta = metadata(build(root, instance))
    assert {"mosaic", "dzi", "metadata_json", "publish"}.isdisjoint(skipped(meta))
    now = json.loads((pub / "current.json").read_text())
    assert now["dzi"] != live["dzi"] and (pub / now["dzi"]).is_file()


def test_outputs_rewritten_outside_a_run_are_noticed(fresh) -> None:
    """A stage run directly (cviz.stages.registry, another job) changes its outputs: versions are read from
    the files, not trusted from the stamps, so the stages that read them run."""
    from cviz.stages import registry
    from cviz.stages.versions import rendered_from
    from cviz.storage import open_storage
    from cviz_assets import assets
    from cviz_assets.checks import collection_checks

    root, _, instance = fresh
    store = open_storage(str(root))
    registry.stage_grid(store, NAME, method="sorted")  # no stamp, no Dagster
    grid = json.loads((root / f"collections/{NAME}/grid.json").read_text())
    selected = [assets.mosaic, assets.dzi, assets.metadata_json, assets.publish]
    result = dg.materialize([*assets.collection_assets, *collection_checks], selection=dg.AssetSelection.assets(*selected),
                            partition_key=NAME, instance=instance, resources=resources(root))
    assert result.success
    assert skipped(metadata(result)) == set()  # drawn from the grid now on disk
    pub = root / f"published/{NAME}"
    items = json.loads((pub / json.loads((pub / "current.json").read_text())["items"]).read_text())
    assert items["grid"]["cols"] == grid["cols"] and items["fields"]["cell"] == grid["cells"]

    # The whole job: the grid's outputs are not those its stamp names, so it runs (back to `auto`).
    meta = metadata(build(root, instance))
    assert meta["grid"]["run_reason"] == "outputs missing or changed since they were written"
    assert json.loads((root / f"collections/{NAME}/grid.json").read_text())["method"] != "sorted"
    manifest = json.loads((root / f"collections/{NAME}/mosaic.json").read_text())
    assert manifest["grid_sha256"] == rendered_from(store, NAME)["grid_sha256"]  # live map = grid on disk


def test_an_interrupted_stage_runs_again(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    from cviz.stages import grid as stage_grid_module
    root, _, instance = fresh
    stamp = root / f"collections/{NAME}/stamps/grid.json"
    assert stamp.is_file()

    def cut_short(*args, **kwargs):
        raise RuntimeError("killed after grid.json was written")

    monkeypatch.setattr(stage_grid_module, "layout_quality", cut_short)  # runs after grid.json is written
    monkeypatch.setenv("CVIZ_STEP_RETRIES", "0")
    from cviz_assets.graph import graph_assets
    from tests.conftest import short_step_retry_waits

    # CVIZ_STEP_RETRIES is read when cviz_assets is imported: the grid step is still retried (twice)
    # here, as before; only the 5 s and 10 s waits between its attempts are shortened.
    assert short_step_retry_waits(monkeypatch, graph_assets) >= 1
    result = job(root).execute_in_process(partition_key=NAME, instance=instance, raise_on_error=False,
                                          run_config={"ops": {"grid": {"config": {"method": "sorted"}}}})
    assert not result.success
    assert not stamp.exists()  # removed before the stage wrote anything
    monkeypatch.undo()
    meta = metadata(build(root, instance))
    assert "grid" not in skipped(meta) and meta["grid"]["run_reason"] == "no stamp"


def test_force_tag_runs_every_stage(fresh) -> None:
    root, _, instance = fresh
    meta = metadata(build(root, instance, tags={"cviz/force": "true"}))
    assert skipped(meta) == set()
    assert meta["pca"]["run_reason"].startswith("forced")


def test_launchpad_offers_the_methods_as_choices() -> None:
    from cviz.arrange.grid import METHODS
    from cviz.arrange.tsne import BACKENDS
    from cviz_assets.assets import GridConfig, TsneConfig

    def choices(config: type[dg.Config], field: str) -> list[str]:
        config_type = config.to_config_schema().as_field().config_type.fields[field].config_type
        return [v.config_value for v in config_type.enum_values]

    assert choices(GridConfig, "method") == list(METHODS)
    assert choices(TsneConfig, "backend") == list(BACKENDS)
    assert choices(TsneConfig, "update") == ["recompute", "place_new"]


def test_stamp_logic_unit(tmp_path: Path) -> None:
    """The images version ignores the scan's timing but not a row; a stamp without its outputs holds nothing."""
    from cviz.storage import open_storage

    catalogue = {"files": [{"file": "a.jpg", "status": "usable", "sha256": "x" * 64, "row": {"title": "A"}},
                           {"file": "b.txt", "status": "skipped", "reason": "not an image"}],
                 "metadata": {"columns": ["filename", "title"]}, "config_sha256": "c", "seconds": 1.0}
    v = stamps.catalogue_version(catalogue)
    assert stamps.catalogue_version({**catalogue, "seconds": 9.0, "skipped": [1]}) == v
    edited = json.loads(json.dumps(catalogue))
    edited["files"][0]["row"]["title"] = "B"
    assert stamps.catalogue_version(edited) != v
    store = open_storage(str(tmp_path))
    store.write_json(f"collections/{NAME}/images.json", catalogue)
    store.write_bytes(f"collections/{NAME}/features.npy", b"1")
    decision = stamps.check(store, NAME, "features", {"model_id": "m"})
    assert not decision.skip and decision.reason == "no stamp"
    version = stamps.record(store, NAME, decision, {"items": 1, "seconds": 2.0})
    again = stamps.check(store, NAME, "features", {"model_id": "m"})
    assert again.skip and again.previous.data_version == version
    assert stamps.previous_values(again.previous) == {"items": 1}
    assert not stamps.check(store, NAME, "features", {"model_id": "other"}).skip
    store.write_bytes(f"collections/{NAME}/features.npy", b"2")
    assert stamps.check(store, NAME, "features", {"model_id": "m"}).reason.startswith("outputs missing or changed")
    assert stamps.invalidate_from(store, NAME, "grid") == ["grid", "mosaic", "dzi", "metadata_json",
                                                                 "timeline_layout", "category_layout", "publish"]


def test_cviz_run_twice_skips_the_second_time(tmp_path: Path, built_once, source: Path) -> None:
    from tests.test_cli import run_cli

    base, _ = built_once
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(base / "cache", root / "cache")  # the converted model (not a stage output)
    args = ["run", "-id", NAME, "-imagedir", str(source / "images"), "-metadata", str(source / "metadata.csv")]
    first = run_cli(args, root)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "skipped (" not in first.stdout
    second = run_cli(args, root)  # a new process, a new temporary instance: the stamps are in storage
    assert second.returncode == 0, second.stderr[-2000:]
    for stage in ("pca", "tsne", "grid", "mosaic", "dzi", "metadata_json", "publish"):
        assert f"{stage:<14} skipped (inputs and code unchanged since" in second.stdout, second.stdout
    assert "images         done" in second.stdout
    forced = run_cli([*args, "--force"], root)
    assert forced.returncode == 0 and "skipped (" not in forced.stdout
    assert os.path.exists(root / f"collections/{NAME}/stamps/publish.json")
