"""End to end on a temporary DAGSTER_HOME configured by the repository's dagster.yaml: a folder
dropped into the drop root becomes a partition and a run (as the daemon would launch it), the
collection is materialized and published, and every asset check passes. Adding images later
leads to exactly one more run, which reuses the cached features of the images already seen."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import dagster as dg

from cviz_assets.checks import collection_checks
from cviz_assets.partitions import collection_partitions
from cviz_assets.sensors import build_drop_sensor
from tests.conftest import REPO, resources

NAME = "met-twelve"
QUIET = 5.0


def _copy_items(src: Path, dest: Path, files: list[str], rows: dict[str, dict], columns: list[str], mtime: float) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(src / "images" / f, dest / f)
        os.utime(dest / f, (mtime, mtime))
    with open(dest / "metadata.csv", "w", newline="", encoding="utf-8") as out:
        w = csv.DictWriter(out, columns)
        w.writeheader()
        w.writerows(rows[f] for f in sorted(p.name for p in dest.glob("*.jpg")))
    os.utime(dest / "metadata.csv", (mtime, mtime))


def test_drop_to_published_map_with_passing_checks(tmp_path: Path, met_sample_dir: Path) -> None:
    from cviz_assets.assets import collection_assets
    from cviz_assets.definitions import build_collection
    from cviz_assets.layout_assets import layout_assets, layout_checks  # build_collection builds the layouts too

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    root = tmp_path / "storage"
    drop_folder = root / "drop" / NAME
    with open(met_sample_dir / "metadata.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = {r["filename"]: r for r in reader}
        columns = list(reader.fieldnames or [])
    chosen = sorted(rows)[:15]
    clock = [1_900_000_000.0]
    _copy_items(met_sample_dir, drop_folder, chosen[:12], rows, columns, clock[0] - 600)
    (drop_folder / "collection.json").write_text(json.dumps({"title": "{title} ({date})", "cell": "64x64"}))

    sensor = build_drop_sensor(quiet_seconds=QUIET, clock=lambda: clock[0])
    defs = dg.Definitions(assets=[*collection_assets, *layout_assets], asset_checks=[*collection_checks, *layout_checks],
                          jobs=[build_collection],
                          sensors=[sensor], resources=resources(root))
    job = defs.resolve_job_def("build_collection")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        concurrency = instance.get_concurrency_config()  # our dagster.yaml is in force
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert concurrency.pool_config.default_pool_limit == 1  # one features step at a time
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        cursor: list[str | None] = [None]

        def evaluate(advance: float) -> list[dg.RunRequest]:
            clock[0] += advance
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor[0], resources={"storage": resources(root)["storage"]},
                                          definitions=defs)
            result = sensor(ctx)
            cursor[0] = result.cursor
            for req in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
            return list(result.run_requests or [])

        def launch(req: dg.RunRequest) -> dg.ExecuteInProcessResult:
            tags = {**req.tags, "dagster/run_key": req.run_key, "dagster/sensor_name": sensor.name}
            return job.execute_in_process(partition_key=req.partition_key, instance=instance, tags=tags)

        assert evaluate(0) == []
        [first] = evaluate(QUIET)
        assert instance.get_dynamic_partitions(collection_partitions.name) == [NAME]
        result = launch(first)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert sorted(e.check_name for e in checks) == sorted(c.check_key.name for c in [*collection_checks, *layout_checks])
        assert all(e.passed for e in checks), [(e.check_name, e.metadata.get("offending_items")) for e in checks]
        # The run (checks included) has released the collection's run lock: the next run need not wait.
        from cviz.stages import run_lock
        from cviz.storage import open_storage

        assert run_lock.describe(open_storage(str(root)), NAME) == "free"
        # Every stage reports numbers the asset page (Overview → Metadata) can chart across partitions.
        for m in result.get_asset_materialization_events():
            meta = m.materialization.metadata
            assert isinstance(meta["seconds"], dg.FloatMetadataValue), m.asset_key
            assert isinstance(meta["items_per_s"], dg.FloatMetadataValue), m.asset_key
            assert meta["items_per_s"].value > 0

        # Published for the viewer: index entry, pointer, items with the drop folder's title template.
        index = json.loads((root / "published" / "index.json").read_text())
        assert [c["name"] for c in index["collections"]] == [NAME]
        pointer = json.loads((root / "published" / NAME / "current.json").read_text())
        items = json.loads((root / "published" / NAME / pointer["items"]).read_text())
        assert items["count"] == 12 and items["grid"]["cell_width"] == 64
        i = items["fields"]["id"].index(chosen[0])
        assert items["fields"]["title"][i] == f"{rows[chosen[0]]['title']} ({rows[chosen[0]]['date']})".strip()

        # Nothing changes: nothing runs again.
        assert evaluate(QUIET) == [] and evaluate(QUIET) == []

        # Three more images (and their rows) arrive: exactly one more run, with a new run key.
        _copy_items(met_sample_dir, drop_folder, chosen[12:], rows, columns, clock[0])
        requests = evaluate(1) + evaluate(QUIET) + evaluate(QUIET)
        assert len(requests) == 1 and requests[0].run_key != first.run_key
        second = launch(requests[0])
        assert second.success
        assert all(e.passed for e in second.get_asset_check_evaluations())
        [features] = second.asset_materializations_for_node("features")
        assert features.metadata["cache_hits"].value == 12 and features.metadata["computed"].value == 3
        items = json.loads((root / "published" / NAME / json.loads(
            (root / "published" / NAME / "current.json").read_text())["items"]).read_text())
        assert items["count"] == 15

        runs = instance.get_runs()
        assert len(runs) == 2 and {r.tags["dagster/partition"] for r in runs} == {NAME}

        # Removing the drop folder forgets it; the published map stays.
        shutil.rmtree(drop_folder)
        assert evaluate(QUIET) == []
        assert (root / "published" / NAME / "current.json").exists()
    finally:
        instance.dispose()
