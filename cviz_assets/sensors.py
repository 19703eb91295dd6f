"""Sensors: the drop folder (new or changed collection folders become runs) and failure alerts.

The drop sensor only turns ``cviz.drop`` decisions into Dagster objects: a dynamic partition per
new collection, a run request per settled change (run key = name + content fingerprint +
generation), the cursor, and one log line per decision. Both sensors start RUNNING, so an operator
never has to touch the UI for the loop to work.

Settings (environment, read at each evaluation; arguments to ``build_drop_sensor`` win):
``CVIZ_DROP_ROOT`` (default ``<storage root>/drop``), ``CVIZ_DROP_QUIET_SECONDS`` (60),
``CVIZ_DROP_MAX_FOLDERS`` (folders scanned per tick, 200), ``CVIZ_DROP_INTERVAL_SECONDS`` (30),
``CVIZ_ALERTS_PATH`` (default ``<storage root>/ops/alerts.jsonl``), ``CVIZ_UI_URL`` (run links).
"""

import os
import time
from typing import Callable

import dagster as dg

from cviz import alerts, drop
from cviz.errors import CvizError
from cviz.paths import CollectionPaths
from cviz.pipeline import register
from cviz.storage import Storage
from cviz_assets.partitions import collections
from cviz_resources import StorageResource

JOB_NAME = "build_collection"
DEFAULT_UI_URL = "http://127.0.0.1:3000"


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise CvizError(f"{name}={value!r} is not a number") from None


def drop_root(store: Storage) -> str:
    """``CVIZ_DROP_ROOT`` or ``<storage root>/drop``; a local one is created if missing."""
    root = os.environ.get("CVIZ_DROP_ROOT") or store.url("drop")
    if store.local and "://" not in root:
        os.makedirs(root, exist_ok=True)
    return root


def ui_run_url(run_id: str) -> str:
    return f"{os.environ.get('CVIZ_UI_URL', DEFAULT_UI_URL).rstrip('/')}/runs/{run_id}"


def _registration_conflict(store: Storage, request: drop.Request) -> str | None:
    """A collection of the same name registered from elsewhere (``cviz add``) is never overwritten."""
    try:
        existing = store.read_json(CollectionPaths(request.name).config)
    except FileNotFoundError:
        return None
    if str(existing.get("images", "")).rstrip("/") != request.config.images.rstrip("/"):
        return (f"a collection named {request.name} is already registered with images {existing.get('images')!r}; "
                "rename the drop folder, or retire that collection first (README: retiring a collection)")
    return None


def build_drop_sensor(
    name: str = "drop_folder_sensor",
    *,
    quiet_seconds: float | None = None,
    max_folders: int | None = None,
    minimum_interval_seconds: int | None = None,
    clock: Callable[[], float] = time.time,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The drop-folder sensor; tests pass a tiny ``quiet_seconds`` and a fake ``clock``."""

    @dg.sensor(
        name=name,
        job_name=JOB_NAME,
        minimum_interval_seconds=minimum_interval_seconds or int(_env_float("CVIZ_DROP_INTERVAL_SECONDS", 30)),
        default_status=default_status,
        description="Watches the drop root: a settled new or changed <drop>/<collection>/ folder becomes a partition and a run.",
    )
    def _drop_sensor(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
        store = storage.get()
        root = drop_root(store)
        tick = drop.evaluate(
            root,
            drop.DropCursor.from_json(context.cursor),
            now=clock(),
            quiet_seconds=quiet_seconds if quiet_seconds is not None else _env_float("CVIZ_DROP_QUIET_SECONDS", drop.DEFAULT_QUIET_SECONDS),
            max_folders=max_folders or int(_env_float("CVIZ_DROP_MAX_FOLDERS", drop.DEFAULT_MAX_FOLDERS)),
            storage_options=storage.storage_options,
        )
        for request in list(tick.requests):
            conflict = _registration_conflict(store, request)
            if conflict:
                tick.reject(request.name, conflict)
        for request in tick.requests:
            register(store, request.config)  # what the run's stages read; the drop folder owns it
        for problem in tick.new_problems:
            alerts.append_alert(alerts.alerts_path(store.url()),
                                alerts.alert_record("drop_rejected", problem["collection"], problem["error"], drop_root=root),
                                storage.storage_options)
        for line in tick.log:
            context.log.info(line)
        new = [r.name for r in tick.requests if not context.instance.has_dynamic_partition(collections.name, r.name)]
        run_requests = [
            dg.RunRequest(run_key=r.run_key, partition_key=r.name,
                          tags={"cviz/source": "drop", "cviz/fingerprint": r.fingerprint, "cviz/files": str(r.files)})
            for r in tick.requests
        ]
        cursor = tick.cursor.to_json()
        if not run_requests:
            return dg.SensorResult(skip_reason=tick.summary(), cursor=cursor)
        return dg.SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=[collections.build_add_request(new)] if new else [],
            cursor=cursor,
        )

    return _drop_sensor


drop_folder_sensor = build_drop_sensor()


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Appends a structured JSON line (collection, asset, error, run id, UI link) to the alerts file.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, storage: StorageResource) -> None:
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        if data and data.user_failure_data and data.user_failure_data.description:
            message = data.user_failure_data.description  # a user error, raised as dg.Failure
        else:
            message = data.error.message.strip() if data and data.error else ""
        steps.append({"step": event.step_key, "error": message})
    error = steps[0]["error"] if steps else (context.failure_event.message or "run failed")
    record = alerts.alert_record(
        "run_failure",
        run.tags.get("dagster/partition"),
        error,
        asset=steps[0]["step"] if steps else None,
        steps=steps,
        run_id=run.run_id,
        job=run.job_name,
        run_url=ui_run_url(run.run_id),
    )
    path = alerts.alerts_path(storage.get().url())
    alerts.append_alert(path, record, storage.storage_options)
    context.log.info(f"alert written to {path} for run {run.run_id}")


sensors = [drop_folder_sensor, run_failure_alerts]
