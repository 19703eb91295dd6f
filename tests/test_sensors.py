"""The drop-folder sensor and the run-failure alert sensor, evaluated against a real instance."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from cviz_assets.partitions import collection_partitions
from cviz_assets.sensors import build_drop_sensor, run_failure_alerts
from cviz_resources import StorageResource
from tests.test_drop import T0, make_collection, put

QUIET = 20.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    root = tmp_path / "storage"
    monkeypatch.delenv("CVIZ_DROP_ROOT", raising=False)
    monkeypatch.delenv("CVIZ_ALERTS_PATH", raising=False)
    monkeypatch.setenv("CVIZ_UI_URL", "http://ops.example:3000/")
    return {"root": root, "drop": root / "drop", "storage": StorageResource(root=str(root))}


class Driver:
    """Evaluates the sensor like the daemon: cursor carried over, partition requests applied."""

    def __init__(self, instance: dg.DagsterInstance, storage: StorageResource, clock: Clock, **kw) -> None:
        self.instance, self.storage, self.clock = instance, storage, clock
        self.sensor = build_drop_sensor(quiet_seconds=QUIET, clock=clock, **kw)
        self.cursor: str | None = None
        self.run_keys: list[str] = []

    def evaluate(self, advance: float = 0.0) -> dg.SensorResult:
        self.clock.now += advance
        ctx = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources={"storage": self.storage})
        result = self.sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        for req in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        self.run_keys += [r.run_key for r in result.run_requests or []]
        return result


def test_new_folder_becomes_partition_and_run_request(instance, env) -> None:
    make_collection(env["drop"], "etchings", n=4, metadata_csv=b"filename,title\nimg000.jpg,Plate I\n")
    d = Driver(instance, env["storage"], Clock())
    first = d.evaluate()
    assert not first.run_requests and "etchings" in first.skip_reason.skip_message
    result = d.evaluate(QUIET)
    [req] = result.run_requests
    assert req.partition_key == "etchings" and req.job_name in (None, "build_collection")
    assert req.tags["cviz/source"] == "drop" and req.tags["cviz/fingerprint"] in req.run_key
    [add] = result.dynamic_partitions_requests
    assert add.partitions_def_name == collection_partitions.name and list(add.partition_keys) == ["etchings"]
    assert instance.has_dynamic_partition(collection_partitions.name, "etchings")
    # The sensor registered the collection the run will build, pointing at the drop folder.
    config = json.loads((env["root"] / "collections" / "etchings" / "collection.json").read_text())
    assert config["images"] == str(env["drop"] / "etchings")
    assert config["metadata"] == str(env["drop"] / "etchings" / "metadata.csv")


def test_copy_over_several_evaluations_waits_for_quiet_period(instance, env) -> None:
    clock = Clock()
    d = Driver(instance, env["storage"], clock)
    folder = env["drop"] / "diaries"
    for i in range(6):  # a slow copy: one file every 5 s, one evaluation between each
        put(folder, f"p{i}.jpg", b"p", mtime=clock.now)
        assert not d.evaluate(5).run_requests
    assert not d.evaluate(QUIET - 1).run_requests
    assert [r.partition_key for r in d.evaluate(1).run_requests] == ["diaries"]
    assert instance.get_dynamic_partitions(collection_partitions.name) == ["diaries"]


def test_added_files_fire_exactly_one_request_and_unchanged_fires_nothing(instance, env) -> None:
    folder = make_collection(env["drop"], "coins", n=3)
    d = Driver(instance, env["storage"], Clock())
    d.evaluate()
    d.evaluate(QUIET)
    assert len(d.run_keys) == 1
    for _ in range(5):  # unchanged: nothing, evaluation after evaluation
        result = d.evaluate(QUIET)
        assert not result.run_requests and not result.dynamic_partitions_requests
    for i in range(3):
        put(folder, f"added{i}.jpg", b"a", mtime=d.clock.now)
    for _ in range(6):
        d.evaluate(QUIET / 2)
    assert len(d.run_keys) == 2 and len(set(d.run_keys)) == 2
    # Known partition: no second add request.
    assert instance.get_dynamic_partitions(collection_partitions.name) == ["coins"]


def test_bad_collection_name_reported_while_others_fire(instance, env) -> None:
    make_collection(env["drop"], "Not Valid!", n=2)
    make_collection(env["drop"], "fine", n=2)
    make_collection(env["drop"], "broken", n=2, collection_json=b'{"cell": "huge"}')
    d = Driver(instance, env["storage"], Clock())
    d.evaluate()
    result = d.evaluate(QUIET)
    assert [r.partition_key for r in result.run_requests] == ["fine"]
    cursor = json.loads(d.cursor)
    problems = "\n".join(cursor["problems"])
    assert "'Not Valid!'" in problems and "broken: " in problems and "cell size" in problems
    # Ops get a structured line per rejected folder too, once.
    alerts = [json.loads(line) for line in (env["root"] / "ops" / "alerts.jsonl").read_text().splitlines()]
    assert {a["collection"] for a in alerts if a["kind"] == "drop_rejected"} >= {"broken"}
    assert any("Not Valid!" in a["error"] for a in alerts)
    d.evaluate(QUIET)
    assert len((env["root"] / "ops" / "alerts.jsonl").read_text().splitlines()) == len(alerts)


def test_name_taken_by_another_registration_is_not_overwritten(instance, env, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (env["root"] / "collections" / "met").mkdir(parents=True)
    config = {"name": "met", "images": str(other)}
    (env["root"] / "collections" / "met" / "collection.json").write_text(json.dumps(config))
    make_collection(env["drop"], "met", n=2)
    d = Driver(instance, env["storage"], Clock())
    d.evaluate()
    result = d.evaluate(QUIET)
    assert not result.run_requests and "already registered" in result.skip_reason.skip_message
    assert json.loads((env["root"] / "collections" / "met" / "collection.json").read_text()) == config


def test_drop_root_from_environment(instance, env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "incoming"
    monkeypatch.setenv("CVIZ_DROP_ROOT", str(elsewhere))
    make_collection(elsewhere, "scans", n=2)
    d = Driver(instance, env["storage"], Clock())
    d.evaluate()
    assert [r.partition_key for r in d.evaluate(QUIET).run_requests] == ["scans"]


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVIZ_DROP_INTERVAL_SECONDS", "7")
    assert build_drop_sensor().minimum_interval_seconds == 7
    assert build_drop_sensor().default_status == dg.DefaultSensorStatus.RUNNING


def test_run_failure_writes_a_structured_alert(instance, env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cviz_assets.assets import images
    from cviz_assets.register import register_spec

    alerts_file = tmp_path / "ops-alerts" / "cviz.jsonl"
    monkeypatch.setenv("CVIZ_ALERTS_PATH", str(alerts_file))
    src = tmp_path / "not-images"
    put(src, "readme.txt", b"no images here")
    register_spec(instance, env["storage"], {"name": "empty-one", "images": str(src)})
    result = dg.materialize([images], partition_key="empty-one", instance=instance,
                            resources={"storage": env["storage"]}, raise_on_error=False)
    assert not result.success
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=result.dagster_run, resources={"storage": env["storage"]},
    ).for_run_failure()
    run_failure_alerts(ctx)
    [alert] = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert alert["kind"] == "run_failure" and alert["collection"] == "empty-one" and alert["asset"] == "images"
    assert alert["run_id"] == result.run_id
    assert alert["run_url"] == f"http://ops.example:3000/runs/{result.run_id}"
    assert alert["error"].startswith("collection empty-one: none of the 1 files is a usable image")
    assert alert["steps"][0]["step"] == "images" and alert["time"].endswith("Z")
    # A user error fails at once: no retries were attempted.
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_sensors_and_checks_are_in_the_code_location() -> None:
    from cviz_assets.definitions import defs

    repo = defs.get_repository_def()
    assert {s.name for s in repo.sensor_defs} >= {"drop_folder_sensor", "run_failure_alerts", "check_failure_alerts",
                                                 "unregistered_partitions"}
    assert {s.name for s in repo.schedule_defs} == {"daily_recheck"}
    assert {"recheck_published", "retire_collection"} <= {j.name for j in repo.get_all_jobs()}
    features = defs.get_assets_def("features")
    assert features.op.pool == "cviz_features"
    for key in ("images", "features", "pca", "tsne", "grid", "mosaic", "dzi", "metadata_json"):
        policy = defs.get_assets_def(key).op.retry_policy
        assert policy is not None and policy.backoff == dg.Backoff.EXPONENTIAL, key
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert check_names >= {"one_cell_per_image", "pyramid_complete", "items_resolved", "features_finite", "catalogue_complete"}


def test_tick_message_reports_files_skipped_by_a_finished_drop_run(instance, env, tmp_path: Path, met_sample_dir: Path) -> None:
    import shutil

    from cviz_assets.assets import images
    from cviz_assets.register import register_spec

    src = tmp_path / "with-broken"
    src.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:3]:
        shutil.copyfile(p, src / p.name)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    register_spec(instance, env["storage"], {"name": "with-broken", "images": str(src)})
    result = dg.materialize([images], partition_key="with-broken", instance=instance,
                            resources={"storage": env["storage"]}, tags={"cviz/source": "drop"})
    assert result.success
    d = Driver(instance, env["storage"], Clock())
    message = d.evaluate().skip_reason.skip_message
    assert "with-broken: run " in message and "1 file skipped: broken.jpg (" in message
    assert "with-broken" not in d.evaluate(QUIET).skip_reason.skip_message  # reported once


def test_a_folder_bomb_leaves_the_next_folders_run_requested_in_the_same_tick(instance, env) -> None:
    from tests.test_drop import _bombs

    _bombs(env["drop"])
    d = Driver(instance, env["storage"], Clock())
    d.evaluate()
    result = d.evaluate(QUIET)
    assert [r.partition_key for r in result.run_requests] == ["zz-good"]
    alerts = [json.loads(line) for line in (env["root"] / "ops" / "alerts.jsonl").read_text().splitlines()]
    rejected = {a["collection"]: a["error"] for a in alerts if a["kind"] == "drop_rejected"}
    assert "nested too deeply" in rejected["bomb"] and "$CVIZ_DROP_CONFIG_MAX_BYTES" in rejected["huge"]


def test_a_folder_that_cannot_be_registered_is_reported_and_the_others_run(instance, env,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from cviz_assets import sensors

    make_collection(env["drop"], "aa-unlucky", n=2)
    make_collection(env["drop"], "bb-lucky", n=2)
    real = sensors.register

    def register(store, config, wait_s=None):  # noqa: ANN001, ANN202
        if config.name == "aa-unlucky":
            raise OSError(13, "Permission denied")
        return real(store, config, wait_s=wait_s)

    monkeypatch.setattr(sensors, "register", register)
    d = Driver(instance, env["storage"], Clock())
    d.evaluate()
    result = d.evaluate(QUIET)
    assert [r.partition_key for r in result.run_requests] == ["bb-lucky"]
    assert any("aa-unlucky: cannot register: PermissionError" in p for p in json.loads(d.cursor)["problems"])


@pytest.mark.parametrize("outcome", ["failure", "success"])
def test_a_runs_lock_is_released_when_the_run_ends(instance, env, outcome: str) -> None:
    """Whatever ended the run (here: nothing in it released the lock), the run-status sensor for its
    end status removes the lock that run holds, and never a lock another run holds."""
    from cviz.stages import run_lock
    from cviz.storage import open_storage
    from cviz_assets.sensors import lock_release_sensors

    pdef = dg.DynamicPartitionsDefinition(name="collections")

    @dg.asset(partitions_def=pdef, name="ends")
    def ends() -> None:
        if outcome == "failure":
            raise ValueError("the run fails")

    instance.add_dynamic_partitions("collections", ["c1", "c2"])
    result = dg.materialize([ends], partition_key="c1", instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    store = open_storage(str(env["root"]))
    run_lock.CollectionLock(store, "c1", run.run_id).acquire(wait_s=0)
    run_lock.CollectionLock(store, "c2", "another-run").acquire(wait_s=0)
    end = [e for e in result.all_events if e.event_type_value in ("PIPELINE_FAILURE", "PIPELINE_SUCCESS")][-1]
    [sensor] = [s for s in lock_release_sensors if s.name == f"release_run_locks_{outcome}"]
    context = dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_event=end, dagster_instance=instance,
                                                 dagster_run=run, resources={"storage": env["storage"]})
    skip = sensor(context)
    assert "lock released" in skip.skip_message
    assert run_lock.CollectionLock(store, "c1", "-").read() is None
    assert run_lock.CollectionLock(store, "c2", "-").read()["owner"] == "another-run"


def test_tick_message_of_an_all_bad_folder_names_its_files_and_clean_runs_are_not_tagged(
        instance, env, tmp_path: Path, met_sample_dir: Path) -> None:
    import shutil

    from cviz_assets.assets import images
    from cviz_assets.register import register_spec
    from cviz_assets.sensors import REPORTED_TAG, files_skipped

    bad = tmp_path / "all-bad"
    for i in range(3):
        put(bad, f"bad{i}.jpg", b"\xff\xd8\xff\xe0 truncated")
    good = tmp_path / "all-good"
    good.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:2]:
        shutil.copyfile(p, good / p.name)
    for name, src in (("all-bad", bad), ("all-good", good)):
        register_spec(instance, env["storage"], {"name": name, "images": str(src)})
    failed = dg.materialize([images], partition_key="all-bad", instance=instance, resources={"storage": env["storage"]},
                            tags={"cviz/source": "drop"}, raise_on_error=False)
    clean = dg.materialize([images], partition_key="all-good", instance=instance, resources={"storage": env["storage"]},
                           tags={"cviz/source": "drop"})
    assert not failed.success and clean.success
    message = Driver(instance, env["storage"], Clock()).evaluate().skip_reason.skip_message
    [bad_line] = [part for part in message.split("; all-") if "bad0.jpg" in part]
    assert "no file skipped" not in bad_line and "none of the 3 files is a usable image" in bad_line
    assert all(f"bad{i}.jpg" in bad_line for i in range(3))
    assert "all-good: run " in message and "no file skipped" in message
    # Only a run with something worth not repeating is tagged; a clean run's tags stay as they were.
    assert REPORTED_TAG not in instance.get_run_by_id(clean.run_id).tags
    assert (files_skipped(1), files_skipped(3)) == ("1 file skipped", "3 files skipped")

