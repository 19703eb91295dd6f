"""Operators' loop on a real instance: the daily re-check finds a deleted tile and the failed check
becomes an alert in the file and on a loopback webhook; check metadata keeps its types; the WARN
catalogue check lists a corrupt file; stray partitions are reported; retire_collection retires."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from cviz_assets.assets import images
from cviz_assets.catalogue_checks import catalogue_checks, catalogue_complete
from cviz_assets.graph import graph_assets, graph_checks
from cviz_assets.jobs_ops import recheck_published, retire_collection
from cviz_assets.partitions import collection_partitions
from cviz_assets.schedules import build_recheck_schedule
from cviz_assets.sensors import check_failure_alerts, unregistered_partitions
from tests.conftest import materialize_collection, resources
from tests.test_webhook import Receiver

NAME = "met-sample"


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def published_copy(met_sample_root: Path, tmp_path: Path) -> Path:
    """A private copy of the published met-sample (outputs and index), safe to damage."""
    root = tmp_path / "storage"
    for part in (f"collections/{NAME}", f"published/{NAME}"):
        shutil.copytree(met_sample_root / part, root / part)
    shutil.copyfile(met_sample_root / "published" / "index.json", root / "published" / "index.json")
    return root


def ops_defs(root: Path) -> dg.Definitions:
    return dg.Definitions(assets=graph_assets, asset_checks=[*graph_checks, *catalogue_checks],
                          jobs=[recheck_published, retire_collection], resources=resources(root))


def status_context(instance, result, root: Path) -> dg.RunStatusSensorContext:
    event = result.get_run_success_event() if result.success else result.get_run_failure_event()
    return dg.build_run_status_sensor_context(sensor_name="check_failure_alerts", dagster_event=event,
                                              dagster_instance=instance, dagster_run=result.dagster_run,
                                              resources={"storage": resources(root)["storage"]})


def alerts_in(root: Path) -> list[dict]:
    path = root / "ops" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_daily_recheck_finds_a_deleted_tile_and_alerts(published_copy: Path, instance, monkeypatch) -> None:
    root = published_copy
    hook = Receiver()
    try:
        monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("CVIZ_UI_URL", "http://ops.example:3000")
        monkeypatch.delenv("CVIZ_ALERTS_PATH", raising=False)
        instance.add_dynamic_partitions(collection_partitions.name, [NAME])
        pub = root / "published" / NAME
        pointer = json.loads((pub / "current.json").read_text())
        victim = sorted(((pub / pointer["dzi"]).with_name("map_files") / "8").iterdir())[2]
        victim.unlink()

        schedule = build_recheck_schedule()
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # off unless CVIZ_RECHECK_SCHEDULE=on
        when = dt.datetime(2026, 12, 2, 4, 0, tzinfo=dt.timezone.utc)
        # `with`: the context opens its own instance from the ref and enters it (Dagster's process-wide
        # DefsStateStorage); left open, later tests' `materialize` reads a disposed instance's storage.
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                       resources={"storage": resources(root)["storage"]},
                                       repository_def=ops_defs(root).get_repository_def()) as ctx:
            [request] = schedule.evaluate_tick(ctx).run_requests
        assert request.tags["dagster/partition"] == NAME and request.job_name in (None, "recheck_published")

        job = ops_defs(root).resolve_job_def("recheck_published")
        result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
        assert not result.success  # the checks are blocking: a failed one makes the re-check run red
        assert not result.get_asset_materialization_events()  # nothing rebuilt
        # The similarity map's checks (the layouts' have the same names on their own assets).
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()
                       if not e.asset_key.path[0].endswith("_layout")}
        assert set(evaluations) >= {"pyramid_complete", "items_resolved", "one_cell_per_image", "catalogue_complete"}
        bad = evaluations["pyramid_complete"]
        assert not bad.passed
        # offending_count is a number on every evaluation, passing or failing (Overview → Metadata keeps the series).
        for e in evaluations.values():
            assert isinstance(e.metadata["offending_count"], dg.IntMetadataValue), e.check_name
            assert isinstance(e.metadata["offending_items"], dg.JsonMetadataValue), e.check_name
        assert bad.metadata["offending_count"].value == 1 and evaluations["items_resolved"].metadata["offending_count"].value == 0
        assert "offending" not in bad.metadata

        from cviz_assets.sensors import run_failure_alerts

        run_failure_alerts(status_context(instance, result, root).for_run_failure())
        [alert] = [a for a in alerts_in(root) if a["kind"] == "check_failure"]
        assert alert["collection"] == NAME and alert["asset"] == "dzi" and alert["check"] == "pyramid_complete"
        assert alert["offending_items"] == [{"problem": "tile missing", "tile": f"8/{victim.name}"}]
        assert alert["run_url"] == f"http://ops.example:3000/runs/{result.run_id}"
        for _ in range(100):  # the webhook is posted in the background
            if any(b.get("kind") == "check_failure" for b in hook.bodies):
                break
            import time

            time.sleep(0.05)
        [posted] = [b for b in hook.bodies if b.get("kind") == "check_failure"]
        assert posted["check"] == "pyramid_complete" and posted["offending_items"] == alert["offending_items"]
    finally:
        hook.close()


def test_schedule_on_when_asked_and_skips_without_published_maps(tmp_path: Path, instance, monkeypatch) -> None:
    monkeypatch.setenv("CVIZ_RECHECK_SCHEDULE", "on")
    monkeypatch.setenv("CVIZ_RECHECK_CRON", "30 2 * * *")
    schedule = build_recheck_schedule()
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING and schedule.cron_schedule == "30 2 * * *"
    with dg.build_schedule_context(instance=instance, resources={"storage": resources(tmp_path)["storage"]},
                                   repository_def=ops_defs(tmp_path).get_repository_def()) as ctx:
        data = schedule.evaluate_tick(ctx)
    assert not data.run_requests and "no published collection" in data.skip_message


def test_warn_check_lists_a_corrupt_file_and_alerts(met_sample_dir: Path, tmp_path: Path, instance) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    files = sorted(p.name for p in (met_sample_dir / "images").iterdir())[:5]
    for f in files:
        shutil.copyfile(met_sample_dir / "images" / f, src / "images" / f)
    (src / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "images" / "broken2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not one either")
    (src / "metadata.csv").write_text("filename,title\n" + "".join(f"{f},T{i}\n" for i, f in enumerate(files[:4]))
                                      + "lost.jpg,Gone\n")
    root = tmp_path / "storage"
    from cviz_assets.register import register_spec

    register_spec(instance, resources(root)["storage"],
                  {"name": "warn-five", "images": str(src / "images"), "metadata": str(src / "metadata.csv")})
    result = dg.materialize([images, catalogue_complete], partition_key="warn-five", instance=instance,
                            resources=resources(root))
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    items = evaluation.metadata["offending_items"].value
    assert {"problem": "file skipped", "file": "broken.jpg", "reason": items[0]["reason"]} in items and items[0]["reason"]
    assert {"problem": "image without a metadata row", "file": files[4]} in items
    assert {"problem": "metadata row without an image", "filename": "lost.jpg"} in items
    assert evaluation.metadata["offending_count"].value == 4
    assert "broken.jpg" in evaluation.description
    assert evaluation.description.startswith("2 files skipped, 1 image without a metadata row, "
                                             "1 metadata row without an image"), evaluation.description
    check_failure_alerts(status_context(instance, result, root))
    [warning] = [a for a in alerts_in(root) if a["kind"] == "check_warning"]
    assert warning["collection"] == "warn-five" and warning["severity"] == "WARN" and "broken.jpg" in warning["error"]


def test_unregistered_partitions_are_reported_once(published_copy: Path, instance) -> None:
    root = published_copy
    instance.add_dynamic_partitions(collection_partitions.name, [NAME, "ghost", "Bad Key!"])
    storage = resources(root)["storage"]
    ctx = dg.build_sensor_context(instance=instance, resources={"storage": storage})
    result = unregistered_partitions(ctx)
    message = result.skip_reason.skip_message
    assert "2 unregistered" in message and "'ghost'" in message and "'Bad Key!'" in message and NAME + "'" not in message
    assert "cviz add -id ghost" in message and "retire_collection" in message
    assert {a["collection"] for a in alerts_in(root) if a["kind"] == "unregistered_partition"} == {"ghost", "Bad Key!"}
    again = unregistered_partitions(dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                                            resources={"storage": storage}))
    assert "2 unregistered" in again.skip_reason.skip_message
    assert len(alerts_in(root)) == 2  # not one alert per tick


def test_retire_collection_needs_confirmation_then_removes_it(published_copy: Path, instance) -> None:
    root = published_copy
    instance.add_dynamic_partitions(collection_partitions.name, [NAME, "Bad Key!"])
    job = ops_defs(root).resolve_job_def("retire_collection")

    def config(name: str, confirm: str, delete: bool = True) -> dict:
        return {"ops": {"retire_collection_op": {"config": {"name": name, "confirm": confirm, "delete_outputs": delete}}}}

    refused = job.execute_in_process(run_config=config(NAME, "met"), instance=instance, raise_on_error=False)
    assert not refused.success
    assert (root / "published" / NAME / "current.json").exists() and instance.has_dynamic_partition(collection_partitions.name, NAME)
    index = json.loads((root / "published" / "index.json").read_text())
    assert NAME in [c["name"] for c in index["collections"]]

    done = job.execute_in_process(run_config=config(NAME, NAME), instance=instance)
    assert done.success
    assert not (root / "published" / NAME).exists() and not (root / "collections" / NAME).exists()
    index = json.loads((root / "published" / "index.json").read_text())
    assert NAME not in [c["name"] for c in index["collections"]]
    assert not instance.has_dynamic_partition(collection_partitions.name, NAME)
    # A stray partition with an invalid name is removed too (nothing in storage to touch).
    assert job.execute_in_process(run_config=config("Bad Key!", "Bad Key!"), instance=instance).success
    assert instance.get_dynamic_partitions(collection_partitions.name) == []


def test_email_sensor_only_with_smtp_settings(monkeypatch) -> None:
    from cviz_assets import sensors

    monkeypatch.delenv("CVIZ_SMTP_HOST", raising=False)
    assert sensors.build_email_sensor() is None
    monkeypatch.setenv("CVIZ_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("CVIZ_ALERT_EMAIL_TO", "ops@example.org, curator@example.org")
    sensor = sensors.build_email_sensor()
    assert sensor is not None and sensor.name == "email_on_run_failure"
    assert "email_on_run_failure" in {s.name for s in sensors.all_sensors()}


def test_failed_run_alerts_its_failed_checks_too(met_sample_dir: Path, tmp_path: Path, instance) -> None:
    from cviz_assets.register import register_spec
    from cviz_assets.sensors import run_failure_alerts

    src = tmp_path / "src"
    src.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:3]:
        shutil.copyfile(p, src / p.name)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    root = tmp_path / "storage"
    register_spec(instance, resources(root)["storage"], {"name": "fails", "images": str(src)})

    @dg.asset(partitions_def=collection_partitions, deps=[images])
    def boom() -> None:
        raise RuntimeError("disk on fire")

    result = dg.materialize([images, catalogue_complete, boom], partition_key="fails", instance=instance,
                            resources=resources(root), raise_on_error=False)
    assert not result.success
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=result.dagster_run, resources={"storage": resources(root)["storage"]},
    ).for_run_failure()
    run_failure_alerts(ctx)
    kinds = {a["kind"]: a for a in alerts_in(root)}
    assert set(kinds) == {"run_failure", "check_warning"}
    assert "disk on fire" in kinds["run_failure"]["error"] and kinds["run_failure"]["asset"] == "boom"
    assert kinds["check_warning"]["check"] == "catalogue_complete" and kinds["check_warning"]["run_id"] == result.run_id
