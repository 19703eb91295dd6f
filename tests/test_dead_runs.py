"""Dead runs (the worker killed while the instance still says STARTED) are judged by their collection's
lock, failed with a reason, freed and alerted; live runs and other runs' locks are left alone.

In-process against a real instance and storage; tests/test_ops_drills.py does the same with the
daemon's process group killed for real."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from cviz.stages.dead_runs import judge, pid_alive
from cviz.stages.run_lock import CollectionLock
from cviz_resources import StorageResource



def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    return proc.pid


def test_a_zombie_worker_is_dead() -> None:
    """A child that exited and was not reaped still answers signal 0; it is dead all the same."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                break
        time.sleep(0.05)
    try:
        assert not pid_alive(proc.pid)
    finally:
        proc.wait(10)


def test_judge_by_the_worker_pid_then_the_lock_heartbeat() -> None:
    import os

    now = 1_000_000.0
    gone, me = _gone_pid(), os.getpid()
    lock = {"owner": "r1", "pid": me, "host": "h", "heartbeat": now - 2}
    dead = judge(lock, "r1", last_sign=now, now=now, stale_s=60, idle_s=120, worker_pid=gone)
    assert dead.dead and dead.held_lock and f"its run worker (pid {gone}) no longer exists" in dead.reason
    # A live worker is alive whatever its lock says: waiting for a pool slot between steps, the heartbeat
    # stops; under the multiprocess executor the lock's pid is a step's, gone once the step ended.
    waiting = {**lock, "pid": gone, "heartbeat": now - 3600}
    assert not judge(waiting, "r1", now - 3600, now, 60, 120, worker_pid=me).dead
    # No worker pid known here (another launcher, another machine): the heartbeat decides.
    assert not judge(lock, "r1", now, now, 60, 120).dead
    stale = judge({**lock, "heartbeat": now - 61}, "r1", now, now, 60, 120)
    assert stale.dead and "last heartbeat 61 s ago" in stale.reason
    other = {**lock, "owner": "r2"}  # another run's lock: this run holds none and is judged by its last sign of life
    assert not judge(other, "r1", now - 100, now, 60, 120).dead
    orphan = judge(None, "r1", now - 121, now, 60, 120)
    assert orphan.dead and not orphan.held_lock and "before its first stage" in orphan.reason


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _started_run(instance: dg.DagsterInstance, collection: str, worker_pid: int | None = None) -> dg.DagsterRun:
    """A STARTED run of ``collection``; with ``worker_pid``, the engine event Dagster's default run
    launcher writes when it has started the run's worker process."""
    from dagster._core.events import EngineEventData

    from cviz_assets.definitions import defs

    job = defs.resolve_job_def("build_collection")
    run = instance.create_run_for_job(job, tags={"dagster/partition": collection}, status=dg.DagsterRunStatus.STARTED)
    if worker_pid is not None:
        instance.report_engine_event(f"Started process for run (pid: {worker_pid}).", run,
                                     EngineEventData.in_process(worker_pid))
    return run


def test_a_dead_run_is_failed_freed_and_alerted_once(instance, tmp_path: Path, monkeypatch) -> None:
    from cviz_assets.run_health import DEAD_TAG, dead_runs, find_dead_runs
    from cviz_assets.sensors import run_failure_alerts

    monkeypatch.setenv("CVIZ_UI_URL", "http://ops.example:3000")
    monkeypatch.delenv("CVIZ_ALERTS_PATH", raising=False)
    storage = StorageResource(root=str(tmp_path / "storage"))
    store = storage.get()
    import os

    dead = _started_run(instance, "dead-one", worker_pid=_gone_pid())
    live = _started_run(instance, "live-one", worker_pid=os.getpid())
    busy = _started_run(instance, "busy-one")
    CollectionLock(store, "dead-one", dead.run_id).try_acquire()  # a fresh heartbeat: the worker pid decides
    CollectionLock(store, "live-one", live.run_id).try_acquire()
    store.write_json("collections/live-one/lock.json", {**CollectionLock(store, "live-one", live.run_id).read(),
                                                         "pid": _gone_pid(), "heartbeat": time.time() - 3600})
    CollectionLock(store, "busy-one", "a-cli-run").try_acquire()  # another run holds busy-one; this run just started

    slots = instance.event_log_storage
    slots.set_concurrency_slots("cviz_features", 1)
    slots.claim_concurrency_slot("cviz_features", dead.run_id, "features")  # killed inside its features step
    assert [r.run_id for r, _ in find_dead_runs(instance, store)] == [dead.run_id]
    result = dead_runs(dg.build_sensor_context(instance=instance, resources={"storage": storage}))
    assert "dead-one: run " in result.skip_message and "lock released" in result.skip_message
    assert "pool slots freed: cviz_features" in result.skip_message
    assert slots.get_concurrency_info("cviz_features").active_slot_count == 0  # the next features step may run
    claim = slots.claim_concurrency_slot("cviz_features", live.run_id, "features")
    assert claim.slot_status.value == "CLAIMED"

    failed = instance.get_run_by_id(dead.run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE and failed.tags[DEAD_TAG] == "1"
    assert failed.tags["dagster/max_retries"] == "0"  # it finished no step: never retried automatically
    [event] = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "is dead: its run worker (pid" in event.message and "no longer exists" in event.message
    assert CollectionLock(store, "dead-one", "-").read() is None  # the collection is free
    assert CollectionLock(store, "busy-one", "-").read()["owner"] == "a-cli-run"  # never another run's lock
    for run in (live, busy):
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED

    [alert] = [json.loads(line) for line in (tmp_path / "storage" / "ops" / "alerts.jsonl").read_text().splitlines()]
    assert alert["kind"] == "run_dead" and alert["collection"] == "dead-one" and alert["run_id"] == dead.run_id
    assert alert["pool_slots_freed"] == ["cviz_features"]
    assert alert["lock_released"] is True and alert["run_url"] == f"http://ops.example:3000/runs/{dead.run_id}"
    # run_failure_alerts sees the failure too, but the run_dead alert already said it: no second line.
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts", dagster_event=event.dagster_event, dagster_instance=instance,
        dagster_run=failed, resources={"storage": storage}).for_run_failure()
    run_failure_alerts(ctx)
    assert len((tmp_path / "storage" / "ops" / "alerts.jsonl").read_text().splitlines()) == 1
    # Much later: a run killed before its first stage took the lock is dead once idle for long enough;
    # the run whose worker lives is still alive (its lock's hour-old heartbeat notwithstanding).
    later = {r.run_id: v for r, v in find_dead_runs(instance, store, now=time.time() + 10_000)}
    assert set(later) == {busy.run_id} and "before its first stage" in later[busy.run_id].reason
