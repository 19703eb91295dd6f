"""The daily re-check: every published map's asset checks, against what is in storage now.

Storage drifts (a tile deleted by a lifecycle rule, a half-finished copy, a hand edit); the checks
only run with a build, so without this a broken map stays live and silent. Failed checks become
alerts through ``check_failure_alerts``. Settings: ``CVIZ_RECHECK_CRON`` (default ``0 4 * * *``,
UTC) and ``CVIZ_RECHECK_SCHEDULE=on`` to start it running (``make run`` sets it; tests and a bare
deployment leave it stopped until an operator turns it on).
"""


import dagster as dg

from cviz.paths import INDEX
from cviz.settings import Settings, settings
from cviz_assets.jobs_ops import recheck_published
from cviz_assets.partitions import collection_partitions
from cviz_resources import StorageResource

DEFAULT_CRON = Settings.recheck_cron  # "0 4 * * *", declared in cviz.settings


def published_collections(storage: StorageResource) -> list[str]:
    """Names listed in ``published/index.json`` (the viewer's home page), in its order."""
    try:
        index = storage.get().read_json(INDEX)
    except FileNotFoundError:
        return []
    return [c["name"] for c in index.get("collections", []) if c.get("name")]


def build_recheck_schedule(cron: str | None = None, default_status: dg.DefaultScheduleStatus | None = None) -> dg.ScheduleDefinition:
    on = settings().recheck_schedule
    status = default_status or (dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED)

    @dg.schedule(name="daily_recheck", job=recheck_published, cron_schedule=cron or settings().recheck_cron,
                 execution_timezone="UTC", default_status=status,
                 description="Re-runs the asset checks of every published map (recheck_published), one run each.")
    def daily_recheck(context: dg.ScheduleEvaluationContext, storage: StorageResource):
        names = published_collections(storage)
        known = [n for n in names if context.instance.has_dynamic_partition(collection_partitions.name, n)]
        for n in sorted(set(names) - set(known)):
            context.log.warning(f"{n} is published but has no partition: not re-checked (register it or unlist it)")
        if not known:
            return dg.SkipReason("no published collection to re-check")
        stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M") if context.scheduled_execution_time else "now"
        # The partition goes in as the run's tag: Dagster 1.13 validates a RunRequest's partition_key
        # against the selected *assets*, and this job selects checks only ("Job has no PartitionsDefinition").
        return [dg.RunRequest(run_key=f"recheck:{n}:{stamp}", tags={"cviz/source": "recheck", "dagster/partition": n})
                for n in known]

    return daily_recheck


daily_recheck = build_recheck_schedule()
