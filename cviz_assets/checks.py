"""Asset checks on every collection partition: the properties the viewer relies on.

Each check is a thin call into ``cviz.verify``; a failure carries the offending items (file, cell,
tile, field) in its metadata, so the UI says which image or tile is wrong, not only that one is.
"""

import functools
import warnings
from typing import Callable

import dagster as dg

from cviz import locking, verify
from cviz_assets.collection_lock import lock_owner, run_steps
from cviz_assets.assets import dzi, features, grid, metadata_json
from cviz_assets.partitions import collections
from cviz_resources import StorageResource


# Partitioned asset checks are a Dagster "preview" feature in 1.13 and warn once per process; every
# run step is a process, so the warning would fill every run's log. Silence exactly that one.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


def _under_run_lock(check: Callable[..., dg.AssetCheckResult]) -> Callable[..., dg.AssetCheckResult]:
    """Checks run under the collection's run lock like the stages: they read the outputs while no
    other run rewrites them, and as steps of the run they take part in releasing it (the lock is
    released when every step of the run, checks included, has finished)."""

    @functools.wraps(check)
    def wrapper(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        op = context.op_execution_context
        with locking.hold(storage.get(), op.partition_key, lock_owner(op), op.op.name, run_steps(op)):
            return check(context, storage)

    return wrapper


def _result(v: verify.Verdict) -> dg.AssetCheckResult:
    counts = dict(v.counts)
    # The same keys and types on every evaluation, pass or fail, so the Plots tab charts them all:
    # ``offending_count`` (a number) and ``offending_items`` (the first verify.MAX_OFFENDING, as JSON).
    offending_count = int(counts.pop("offending", len(v.offending)))
    metadata: dict[str, object] = {k: dg.MetadataValue.int(n) for k, n in counts.items()}
    metadata["summary"] = dg.MetadataValue.text(v.summary)
    metadata["offending_count"] = dg.MetadataValue.int(offending_count)
    metadata["offending_items"] = dg.MetadataValue.json(v.offending)
    return dg.AssetCheckResult(passed=v.passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata,
                               description=v.summary)


@dg.asset_check(asset=grid, partitions_def=collections, name="one_cell_per_image",
                description="Every usable image has exactly one grid cell; no cell holds two images.")
@_under_run_lock
def one_cell_per_image(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    return _result(verify.verify_grid(storage.get(), context.partition_key))


@dg.asset_check(asset=dzi, partitions_def=collections, name="pyramid_complete",
                description="The published .dzi declares the grid's size and every tile of every level exists.")
@_under_run_lock
def pyramid_complete(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    return _result(verify.verify_pyramid(storage.get(), context.partition_key))


@dg.asset_check(asset=metadata_json, partitions_def=collections, name="items_resolved",
                description="items.json has one entry per occupied cell; every title/url template is resolved.")
@_under_run_lock
def items_resolved(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    return _result(verify.verify_items(storage.get(), context.partition_key))


@dg.asset_check(asset=features, partitions_def=collections, name="features_finite",
                description="One feature row per usable image, with no NaN or infinite values.")
@_under_run_lock
def features_finite(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    return _result(verify.verify_features(storage.get(), context.partition_key))


collection_checks = [one_cell_per_image, pyramid_complete, items_resolved, features_finite]
