"""``dead_runs``: a run whose worker died is failed with its reason, its collection freed, and alerted.

Dagster's default run launcher starts each run worker beside the code server and cannot report the
worker's health, so run monitoring (dagster.yaml) never fails a run whose worker was killed while
STARTED; the queue's one-run-per-collection limit then holds that collection's next run in QUEUED
for ever. This sensor judges every STARTING or STARTED collection run by its worker's pid (when
Dagster's default run launcher started it on this machine) or else its collection's lock heartbeat
(cviz.stages.dead_runs), and for a dead one:

1. tags it ``cviz/dead_run`` (and ``dagster/max_retries=0`` when it never finished a step: a run
   that never started is not retried automatically; one that did work is retried once, from its
   failure, as dagster.yaml's ``run_retries`` says);
2. reports it failed (``DagsterInstance.report_run_failed``) with the reason, so the UI, the run
   history and ``dagster/will_retry`` say what happened;
3. removes the collection's lock if the dead run still held it, and frees the concurrency pool slots
   it held (a worker killed inside a pooled step, e.g. ``features`` in ``cviz_features``, never
   gives its slot back, and the collection's next run would wait on it for ever);
4. sends a ``run_dead`` alert (file and webhook); ``run_failure_alerts`` does not repeat it.

The queue daemon then starts the collection's next queued run. Bound: a worker killed on this host
is found at the next tick (``DEAD_RUN_INTERVAL_S``); elsewhere, after ``CVIZ_LOCK_STALE_S`` without
heartbeat; a run without a known worker killed before its first stage took the lock, after ``idle_s``
(cviz.stages.dead_runs). docs/operators-runs.md says what is and is not caught.
"""

from __future__ import annotations

import time

import dagster as dg

from cviz.errors import CvizError
from cviz.settings import settings
from cviz.stages import alerts
from cviz.stages.dead_runs import Verdict, judge_collection_run, release_dead_lock
from cviz.storage import Storage
from cviz_resources import StorageResource

DEAD_TAG = "cviz/dead_run"
DEAD_RUN_INTERVAL_S = 30
NO_LOCK_JOBS = ("features_chunks",)  # its worker steps write chunk files without the collection's lock
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def last_sign_of_life(instance: dg.DagsterInstance, record: dg.RunRecord) -> float:
    """Epoch seconds of the latest of: the run's creation, start, last status change and last event."""
    times = [record.create_timestamp.timestamp(), record.update_timestamp.timestamp(), record.start_time or 0.0]
    last = instance.get_records_for_run(record.dagster_run.run_id, ascending=False, limit=1).records
    if last:
        times.append(last[0].timestamp)
    return max(times)


def local_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid, when Dagster's default run launcher started it on this machine (beside the
    code server that evaluates this sensor): from its "Started process for run (pid: N)" engine event."""
    if type(instance.run_launcher).__name__ != "DefaultRunLauncher":
        return None
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        message = entry.dagster_event.message if entry.dagster_event else ""
        if (message or "").startswith("Started process for run") and data is not None and "pid" in data.metadata:
            try:
                return int(str(data.metadata["pid"].value))
            except ValueError:
                return None
    return None


def did_work(instance: dg.DagsterInstance, run_id: str) -> bool:
    """True if the run finished at least one step (a retry from its failure then saves that work)."""
    return bool(instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS, limit=1).records)


def free_pool_slots(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Free every concurrency pool slot ``run_id`` holds or waits for; returns the pools it held.

    A step's slot is given back by its own worker when the step ends; a killed worker never does, and
    Dagster's run monitoring frees it only with ``free_slots_after_run_end_seconds`` (dagster.yaml),
    minutes later. The dead run is failed already, so nothing of it can use the slot again.
    """
    events = instance.event_log_storage
    if not events.supports_global_concurrency_limits:
        return []
    held = sorted(key for key in events.get_concurrency_keys()
                  if run_id in events.get_concurrency_info(key).active_run_ids)
    events.free_concurrency_slots_for_run(run_id)
    return held


def fail_dead_run(instance: dg.DagsterInstance, store: Storage, run: dg.DagsterRun, verdict: Verdict,
                  ui_url: str, storage_options: dict | None = None) -> dict:
    """Fail, free and alert one dead run (steps 1-4 of the module docstring); returns the alert record."""
    collection = run.tags["dagster/partition"]
    owner = run.tags.get("dagster/root_run_id") or run.run_id
    worked = did_work(instance, run.run_id)
    instance.add_run_tags(run.run_id, {DEAD_TAG: "1", **({} if worked else {"dagster/max_retries": "0"})})
    retry = "retried once from its failure (run_retries)" if worked else "not retried (it finished no step)"
    message = (f"run {run.run_id} of collection {collection} is dead: {verdict.reason}. Failed by the cviz "
               f"dead_runs sensor; {retry}.")
    instance.report_run_failed(run, message)
    released = release_dead_lock(store, collection, owner)
    pools = free_pool_slots(instance, run.run_id)
    record = alerts.alert_record("run_dead", collection, verdict.reason, run_id=run.run_id, job=run.job_name,
                                 lock_released=released, pool_slots_freed=pools, retried=worked,
                                 run_url=f"{ui_url.rstrip('/')}/runs/{run.run_id}")
    alerts.send(alerts.alerts_path(store.url()), record, storage_options)
    return record


def find_dead_runs(instance: dg.DagsterInstance, store: Storage, now: float | None = None) -> list[tuple[dg.DagsterRun, Verdict]]:
    """Every in-progress collection run judged dead now, with its verdict."""
    now = time.time() if now is None else now
    dead = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS), limit=500):
        run = record.dagster_run
        collection = run.tags.get("dagster/partition")
        if not collection or run.job_name in NO_LOCK_JOBS:
            continue
        owner = run.tags.get("dagster/root_run_id") or run.run_id
        try:
            verdict = judge_collection_run(store, collection, owner, last_sign_of_life(instance, record), now,
                                           worker_pid=local_worker_pid(instance, run.run_id))
        except CvizError:  # a partition that is no collection name has no lock to judge by
            continue
        if verdict.dead:
            dead.append((run, verdict))
    return dead


@dg.sensor(
    name="dead_runs",
    minimum_interval_seconds=DEAD_RUN_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Finds collection runs whose worker died (stale or orphaned collection lock), fails them with "
                "the reason, frees the collection for its next queued run, and alerts (kind run_dead).",
)
def dead_runs(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SkipReason:
    store = storage.get()
    found = find_dead_runs(context.instance, store)
    lines = []
    for run, verdict in found:
        record = fail_dead_run(context.instance, store, run, verdict, settings().ui_url, storage.storage_options)
        lines.append(f"{record['collection']}: run {run.run_id[:8]} failed as dead ({verdict.reason}); "
                     f"lock {'released' if record['lock_released'] else 'not held'}")
        if record["pool_slots_freed"]:
            lines[-1] += f"; pool slots freed: {', '.join(record['pool_slots_freed'])}"
        context.log.warning(lines[-1])
    return dg.SkipReason("; ".join(lines)[:2000] if lines else "every collection run in progress has a live worker")
