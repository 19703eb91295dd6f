"""Sensors: the drop folder (new or changed collection folders become runs), and alerts for failed
runs and failed asset checks (file, webhook, email).

The drop sensor only turns ``cviz.ingest.drop`` decisions into Dagster objects: a dynamic partition per
new collection, a run request per settled change (run key = name + content fingerprint +
generation), the cursor, and one log line per decision. Both sensors start RUNNING, so an operator
never has to touch the UI for the loop to work.

Settings (environment through ``cviz.settings``, read at each evaluation; arguments to ``build_drop_sensor`` win):
``CVIZ_DROP_ROOT`` (default ``<storage root>/drop``), ``CVIZ_DROP_QUIET_SECONDS`` (60),
``CVIZ_DROP_MAX_FOLDERS`` (folders scanned per tick, 200), ``CVIZ_DROP_INTERVAL_SECONDS`` (30),
``CVIZ_ALERTS_PATH`` (default ``<storage root>/ops/alerts.jsonl``), ``CVIZ_UI_URL`` (run links).
"""

import datetime
import json
import os
import time
from typing import Callable

import dagster as dg

from cviz.errors import CollectionBusy, CvizError
from cviz.ingest import drop
from cviz.paths import DROP, CollectionPaths
from cviz.publish import retire
from cviz.settings import settings
from cviz.stages import alerts, run_lock
from cviz.stages.common import register
from cviz.storage import Storage
from cviz_assets.partitions import collection_partitions
from cviz_assets.run_health import DEAD_TAG, dead_runs
from cviz_resources import StorageResource

JOB_NAME = "build_collection"

def drop_root(store: Storage) -> str:
    """``CVIZ_DROP_ROOT`` or ``<storage root>/drop``; a local one is created if missing."""
    root = settings().drop_root or store.url(DROP)
    if "://" not in root:  # a local folder (a URL root is object storage: nothing to create)
        os.makedirs(root, exist_ok=True)
    return root


def ui_run_url(run_id: str) -> str:
    return f"{settings().ui_url.rstrip('/')}/runs/{run_id}"


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


REPORTED_TAG = "cviz/skips_reported"


def files_skipped(n: int) -> str:
    """``1 file skipped``, ``3 files skipped``."""
    return f"{n} file skipped" if n == 1 else f"{n} files skipped"


def step_errors(events: list) -> list[dict[str, str]]:
    """``{"step", "error"}`` per STEP_FAILURE event: a user error's own words (raised as ``dg.Failure``),
    else the exception's message, not Dagster's "Error occurred while executing op"."""
    steps = []
    for event in events:
        data = event.step_failure_data
        if data and data.user_failure_data and data.user_failure_data.description:
            message = data.user_failure_data.description
        else:
            err = data.error if data else None
            while err is not None and err.cause is not None and err.cls_name == "DagsterExecutionStepExecutionError":
                err = err.cause
            message = err.message.strip() if err is not None else ""
        steps.append({"step": event.step_key, "error": message})
    return steps


def _drop_run_line(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, int]:
    """The tick's line for one finished drop run, and how many files its catalogue skipped."""
    meta = {}
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.dagster_event.step_materialization_data.materialization
        if mat.asset_key == dg.AssetKey("images"):
            meta = mat.metadata
    head = f"{run.tags.get('dagster/partition', '?')}: run {run.run_id[:8]} {run.status.value.lower()}"
    if not meta:  # no catalogue: the run failed before or in the images step, and its error says why
        failures = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
        errors = step_errors(failures)
        return f"{head} before its catalogue was written: {errors[0]['error'] if errors else 'see the run'}"[:1000], 0
    skipped = int(meta["skipped"].value) if "skipped" in meta else 0
    if not skipped:
        return f"{head}, no file skipped", 0
    files = meta["skipped_files"].value if "skipped_files" in meta else []
    shown = ", ".join(f"{f.get('file')} ({f.get('reason')})" for f in files[:5])
    more = f" and {skipped - 5} more" if skipped > 5 else ""
    return f"{head}, {files_skipped(skipped)}: {shown}{more}", skipped


def finished_drop_runs_report(instance: dg.DagsterInstance, since: float | None = None, limit: int = 20) -> list[str]:
    """One line per drop run finished since ``since`` (the last tick's end): how its catalogue went,
    with the files it skipped (a corrupt ``broken.jpg`` is then in the sensor's tick message, not only
    in the ``images`` metadata), or, for a run that failed before its catalogue (every file unusable),
    the step's error, which names the files. A run that skipped files is tagged ``cviz/skips_reported``
    so its line never repeats; the others are not tagged (their line says nothing worth a tag)."""
    done = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
    after = datetime.datetime.fromtimestamp(since, tz=datetime.timezone.utc) if since else None
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"cviz/source": "drop"}, statuses=done, updated_after=after),
                             limit=limit)
    lines = []
    for run in runs:
        if run.tags.get(REPORTED_TAG):
            continue
        line, skipped = _drop_run_line(instance, run)
        lines.append(line)
        if skipped:
            instance.add_run_tags(run.run_id, {REPORTED_TAG: "1"})
    return lines


def _register_requests(store: Storage, tick: drop.Tick) -> None:
    """Register each requested folder's collection (what the run's stages read; the drop folder owns
    it), rejecting a folder that conflicts with a collection registered another way and deferring one
    whose collection is being built (never wait on a run's lock in a sensor)."""
    for request in list(tick.requests):
        try:
            conflict = _registration_conflict(store, request)
        except Exception as exc:  # noqa: BLE001 - one folder's problem, never the tick's
            conflict = f"cannot read the registered collection.json of {request.name}: {type(exc).__name__}: {exc}"
        if conflict:
            tick.reject(request.name, conflict)
    for request in list(tick.requests):
        try:
            register(store, request.config, wait_s=0)
        except CollectionBusy as exc:
            tick.defer(request.name, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported (tick message, alert); the other folders go on
            tick.reject(request.name, f"cannot register: {type(exc).__name__}: {exc}"[:1000])


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
        minimum_interval_seconds=minimum_interval_seconds or settings().drop_interval_seconds,
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
            quiet_seconds=quiet_seconds if quiet_seconds is not None else settings().drop_quiet_seconds,
            max_folders=max_folders or settings().drop_max_folders,
            storage_options=storage.storage_options,
        )
        _register_requests(store, tick)
        for problem in tick.new_problems:
            alerts.send(alerts.alerts_path(store.url()),
                        alerts.alert_record("drop_rejected", problem["collection"], problem["error"], drop_root=root),
                        storage.storage_options)
        finished = finished_drop_runs_report(context.instance, since=context.last_tick_completion_time)
        for line in [*finished, *tick.log]:
            context.log.info(line)
        new = [r.name for r in tick.requests if not context.instance.has_dynamic_partition(collection_partitions.name, r.name)]
        run_requests = [
            dg.RunRequest(run_key=r.run_key, partition_key=r.name,
                          tags={"cviz/source": "drop", "cviz/fingerprint": r.fingerprint, "cviz/files": str(r.files)})
            for r in tick.requests
        ]
        cursor = tick.cursor.to_json()
        if not run_requests:
            summary = "; ".join([*finished, tick.summary()]) if finished else tick.summary()
            return dg.SensorResult(skip_reason=summary[:4000], cursor=cursor)
        return dg.SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=[collection_partitions.build_add_request(new)] if new else [],
            cursor=cursor,
        )

    return _drop_sensor


drop_folder_sensor = build_drop_sensor()


def _check_failures(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dict]:
    """One alert record per failed asset check evaluation of ``run`` (ERROR: check_failure, WARN:
    check_warning), with the offending items the check listed (``offending_items``)."""
    records = []
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.asset_check_evaluation_data if entry.dagster_event else None
        if evaluation is None or evaluation.passed:
            continue
        meta = evaluation.metadata
        items = meta["offending_items"].value if "offending_items" in meta else []
        count = meta["offending_count"].value if "offending_count" in meta else len(items or [])
        warn = evaluation.severity == dg.AssetCheckSeverity.WARN
        records.append(alerts.alert_record(
            "check_warning" if warn else "check_failure",
            evaluation.partition or run.tags.get("dagster/partition"),
            evaluation.description or f"check {evaluation.check_name} failed",
            asset=evaluation.asset_key.to_user_string(), check=evaluation.check_name,
            severity="WARN" if warn else "ERROR", offending_count=count, offending_items=items,
            run_id=run.run_id, job=run.job_name, run_url=ui_run_url(run.run_id),
        ))
    return records


def _send_all(storage: StorageResource, records: list[dict]) -> list:
    path = alerts.alerts_path(storage.get().url())
    threads = []
    for record in records:
        threads += alerts.send(path, record, storage.storage_options)
    return threads


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Failed runs (and their failed checks) become alerts: a JSON line in the alerts file, "
                "and the webhook when CVIZ_ALERT_WEBHOOK_URL is set.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, storage: StorageResource) -> None:
    run = context.dagster_run
    if run.tags.get(DEAD_TAG):  # the dead_runs sensor failed it and has already sent its run_dead alert
        return
    steps = step_errors(context.get_step_failure_events())
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
    _send_all(storage, [record, *_check_failures(context.instance, run)])
    context.log.info(f"alert written to {alerts.alerts_path(storage.get().url())} for run {run.run_id}")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="check_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A green run whose asset checks failed (a missing tile, an unresolved title, skipped "
                "images) becomes one alert per failed check, through the same sinks as run failures.",
)
def check_failure_alerts(context: dg.RunStatusSensorContext, storage: StorageResource):
    run = context.dagster_run
    records = _check_failures(context.instance, run)
    if not records:
        return dg.SkipReason(f"run {run.run_id}: every check passed")
    _send_all(storage, records)
    message = "; ".join(f"{r['collection']} {r['asset']}:{r['check']} {r['severity']}: {r['error']}" for r in records)
    context.log.info(f"run {run.run_id}: {message}")
    return dg.SkipReason(f"alerted: {message}"[:1000])


def build_lock_release_sensor(status: dg.DagsterRunStatus) -> dg.SensorDefinition:
    """The collection lock of a run that ended with ``status`` is removed (cviz.stages.run_lock: the
    lock lives as long as its run). A run's last step removes it on its own; this catches the runs
    that end otherwise: terminated, failed outside a step, a worker lost."""

    @dg.run_status_sensor(
        run_status=status,
        name=f"release_run_locks_{status.value.lower()}",
        monitor_all_code_locations=False,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Removes the collection lock a {status.value.lower()} run may have left.",
    )
    def _release(context: dg.RunStatusSensorContext, storage: StorageResource) -> dg.SkipReason:
        run = context.dagster_run
        name = run.tags.get("dagster/partition")
        owner = run.tags.get("dagster/root_run_id") or run.run_id
        try:
            released = run_lock.CollectionLock(storage.get(), name or "", owner).release(run=run.run_id)
        except CvizError:  # no partition, or one that is no collection name: no lock of its
            return dg.SkipReason(f"run {run.run_id}: not a collection's run")
        return dg.SkipReason(f"run {run.run_id} ({name}): lock {'released' if released else 'already free'}")

    return _release


RUN_END_STATUSES = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
lock_release_sensors = [build_lock_release_sensor(s) for s in RUN_END_STATUSES]


def build_email_sensor() -> dg.SensorDefinition | None:
    """Dagster's own run-failure email sensor, when ``CVIZ_SMTP_HOST`` and ``CVIZ_ALERT_EMAIL_TO`` are
    set (``CVIZ_ALERT_EMAIL_FROM``, ``CVIZ_SMTP_USER``, ``CVIZ_SMTP_PASSWORD``, ``CVIZ_SMTP_PORT``,
    ``CVIZ_SMTP_TYPE`` SSL or STARTTLS, default STARTTLS)."""
    s = settings()
    host = (s.smtp_host or "").strip()
    to = [a.strip() for a in (s.alert_email_to or "").split(",") if a.strip()]
    if not host or not to:
        return None
    sender = s.alert_email_from or s.smtp_user or f"cviz@{host}"
    smtp_type = s.smtp_type.upper()
    if smtp_type not in ("SSL", "STARTTLS"):
        raise CvizError(f"CVIZ_SMTP_TYPE={smtp_type!r} is not SSL or STARTTLS")
    return dg.make_email_on_run_failure_sensor(
        email_from=sender, email_password=s.smtp_password or "", email_to=to,
        smtp_host=host, smtp_type=smtp_type, smtp_port=s.smtp_port,
        smtp_user=s.smtp_user or None, name="email_on_run_failure",
        webserver_base_url=s.ui_url.rstrip("/"),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


@dg.sensor(
    name="unregistered_partitions",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports collection partitions that are no registered collection (added by hand in the UI), "
                "with the command that registers or removes each.",
)
def unregistered_partitions(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
    keys = context.instance.get_dynamic_partitions(collection_partitions.name)
    problems = retire.partition_problems(storage.get(), keys)
    reported = set(json.loads(context.cursor)) if context.cursor else set()
    path = alerts.alerts_path(storage.get().url())
    for p in problems:
        context.log.warning(f"partition {p['partition']!r}: {p['problem']}; {p['fix']}")
        if p["partition"] not in reported:  # one alert per stray partition, not one a minute
            alerts.send(path, alerts.alert_record("unregistered_partition", p["partition"], p["problem"], fix=p["fix"]),
                        storage.storage_options)
    cursor = json.dumps(sorted(p["partition"] for p in problems))
    if not problems:
        return dg.SensorResult(skip_reason=f"all {len(keys)} partitions are registered collections", cursor=cursor)
    text = "; ".join(f"{p['partition']!r}: {p['problem']}; {p['fix']}" for p in problems)
    return dg.SensorResult(skip_reason=f"{len(problems)} unregistered partition(s): {text}"[:2000], cursor=cursor)


def all_sensors() -> list[dg.SensorDefinition]:
    email = build_email_sensor()
    from cviz_assets.health import collection_health_sensor

    return [drop_folder_sensor, run_failure_alerts, check_failure_alerts, unregistered_partitions, dead_runs,
            collection_health_sensor, *lock_release_sensors, *([email] if email else [])]


sensors = all_sensors()
