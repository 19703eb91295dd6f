"""Operator jobs: re-run every asset check on a published map, and retire a collection from the UI.

``recheck_published`` selects the asset checks only (no asset is re-materialized), one run per
collection partition; the ``daily_recheck`` schedule (cviz_assets/schedules.py) launches it for
every published map, so storage drift (a deleted tile, an edited items.json) raises a check-failure
alert without anyone rebuilding anything.

``retire_collection`` does what ``cviz/publish/retire.py`` does from Python, from the Launchpad: unlist the
map, optionally delete its outputs, and remove the Dagster partition. Its config must repeat the
collection's name in ``confirm``, and it refuses while a run of that collection is in progress.
"""

import warnings

import dagster as dg

from cviz.errors import CvizError
from cviz.publish import retire
from cviz_assets.partitions import collection_partitions
from cviz_resources import StorageResource

RECHECK_JOB = "recheck_published"

with warnings.catch_warnings():
    # Dagster 1.13 deprecates partitions_def here ("inferred from the selected assets"), but a
    # selection of checks only infers none ("Job has no PartitionsDefinition"): it is needed.
    warnings.simplefilter("ignore", DeprecationWarning)
    recheck_published = dg.define_asset_job(
        RECHECK_JOB,
        selection=dg.AssetSelection.all_asset_checks(),
        partitions_def=collection_partitions,
        tags={"cviz/source": "recheck"},
        description="Re-run every asset check of one collection against what is in storage now (no rebuild).",
    )


class RetireConfig(dg.Config):
    """``name``: the collection (partition) to retire; ``confirm``: type the name again.
    ``delete_outputs``: also delete the published map and intermediates (default: only unlist)."""

    name: str
    confirm: str
    delete_outputs: bool = False
    remove_partition: bool = True


@dg.op(description="Unlist (and optionally delete) a collection's map and remove its partition.")
def retire_collection_op(context: dg.OpExecutionContext, config: RetireConfig, storage: StorageResource) -> dict:
    name = config.name
    if config.confirm != name:
        raise dg.Failure(description=f"retire_collection: confirm is {config.confirm!r}; type the collection's "
                                     f"name {name!r} in confirm to retire it", allow_retries=False)
    busy = context.instance.get_run_records(dg.RunsFilter(
        tags={"dagster/partition": name},
        statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
    ))
    if busy:
        raise dg.Failure(description=f"retire_collection: run {busy[0].dagster_run.run_id} of {name} is in progress; "
                                     "retry when it has finished", allow_retries=False)
    try:
        done = retire.retire(storage.get(), name, delete=config.delete_outputs)
    except CvizError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    had_partition = context.instance.has_dynamic_partition(collection_partitions.name, name)
    if config.remove_partition and had_partition:
        context.instance.delete_dynamic_partition(collection_partitions.name, name)
    done["partition_removed"] = bool(config.remove_partition and had_partition)
    context.log.info(f"retired {name!r}: {done}")
    context.add_output_metadata({"unlisted": done["unlisted"], "removed": dg.MetadataValue.json(done["removed"]),
                                 "partition_removed": done["partition_removed"]})
    return done


@dg.job(tags={"cviz/source": "retire"},
        description="Retire a collection: unlist it, optionally delete its outputs, remove its partition "
                    "(confirm: repeat the name).")
def retire_collection() -> None:
    retire_collection_op()
