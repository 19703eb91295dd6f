"""The Dagster side of the collection health page (cviz/publish/health.py): each collection's last run
and the checks it evaluated, read from the instance, and the ``collection_health`` sensor that
rewrites ``published/health.html`` whenever a run has finished since it last did."""

from __future__ import annotations

import datetime
import json
import time

import dagster as dg

from cviz.publish import health
from cviz.settings import settings
from cviz.storage import Storage
from cviz_assets.partitions import collection_partitions
from cviz_resources import StorageResource

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
NOT_BUILDS = ("recheck_published", "retire_collection", "features_chunks")  # runs that publish no map


def _last_run(instance: dg.DagsterInstance, name: str) -> tuple[dict | None, dg.DagsterRun | None]:
    from cviz_assets.sensors import step_errors

    records = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": name}, statuses=FINISHED), limit=10)
    builds = [r for r in records if r.dagster_run.job_name not in NOT_BUILDS]
    if not builds:
        return None, None
    record = builds[0]
    run = record.dagster_run
    error = ""
    if run.status == dg.DagsterRunStatus.FAILURE:
        failures = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
        errors = step_errors(failures)
        if errors:
            error = f"{errors[0]['step']}: {errors[0]['error']}"
        else:
            [failure, *_] = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE) or [None]
            error = failure.message if failure is not None else ""
    ended = datetime.datetime.fromtimestamp(record.end_time or record.update_timestamp.timestamp(),
                                            tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"run_id": run.run_id, "status": run.status.value, "ended": ended, "job": run.job_name,
            "error": error}, run


def _checks(instance: dg.DagsterInstance, name: str) -> tuple[list[str], list[str]]:
    """Failed ERROR and WARN checks of the collection's latest finished run that evaluated checks."""
    records = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": name}, statuses=FINISHED), limit=10)
    for record in records:
        evaluations = [e.dagster_event.asset_check_evaluation_data for e in instance.all_logs(
            record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        if not evaluations:
            continue
        failing, warning = [], []
        for ev in evaluations:
            if ev.passed:
                continue
            text = f"{ev.asset_key.to_user_string()}:{ev.check_name}" + (f" ({ev.description})" if ev.description else "")
            (warning if ev.severity == dg.AssetCheckSeverity.WARN else failing).append(text[:300])
        return failing, warning
    return [], []


def collection_health(instance: dg.DagsterInstance, store: Storage, now: float) -> list[health.CollectionHealth]:
    """A health row per registered collection (the instance's partitions), by name."""
    rows = []
    for name in sorted(instance.get_dynamic_partitions(collection_partitions.name)):
        try:
            row = health.storage_facts(store, name, now)
        except Exception:  # a partition that is no collection name: the unregistered_partitions sensor says so
            continue
        row.last_run, _ = _last_run(instance, name)
        row.failing_checks, row.warning_checks = _checks(instance, name)
        busy = instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": name}, statuses=IN_PROGRESS), limit=1)
        rows.append(health.classify(row, in_progress=bool(busy)))
    return rows


def write_page(instance: dg.DagsterInstance, store: Storage, now: float) -> dict:
    return health.write_health(store, collection_health(instance, store, now), settings().ui_url)


@dg.sensor(
    name="collection_health",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rewrites published/health.html and health.json (every collection's live version, last run, "
                "failing and warning checks, skipped files) when a run has finished since the last rewrite.",
)
def collection_health_sensor(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
    latest = context.instance.get_run_records(dg.RunsFilter(statuses=FINISHED), limit=1,
                                              order_by="update_timestamp", ascending=False)
    marker = json.dumps([latest[0].dagster_run.run_id if latest else None,
                         len(context.instance.get_dynamic_partitions(collection_partitions.name))])
    if marker == context.cursor:
        return dg.SensorResult(skip_reason="no run finished since the page was written", cursor=marker)
    doc = write_page(context.instance, storage.get(), time.time())
    states = ", ".join(f"{c['name']}: {c['state']}" for c in doc["collections"])
    return dg.SensorResult(skip_reason=f"wrote {health.HEALTH_HTML}: {states or 'no collection'}"[:2000], cursor=marker)
