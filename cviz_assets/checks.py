"""Asset checks on every collection partition: the properties the viewer relies on.

Each check is a thin call into ``cviz.publish.verify``; a failure carries the offending items (file, cell,
tile, field) in its metadata, so the UI says which image or tile is wrong, not only that one is.
All are ``blocking=True``: a failed check (severity ERROR) skips everything downstream of its
asset in the run, `publish` included, so the previous map stays live. The pyramid and items
checks verify the version this run built (named by mosaic.json), not the live pointer.
"""

import functools
import warnings
from typing import Callable

import dagster as dg

from cviz.publish import verify
from cviz.stages import stamps
from cviz_assets.assets import dzi, features, grid, metadata_json
from cviz_assets.collection_lock import run_steps, step_lock, steps_below
from cviz_assets.partitions import collection_partitions
from cviz_resources import StorageResource

# Partitioned asset checks are a Dagster "preview" feature in 1.13 and warn once per process; every
# run step is a process, so the warning would fill every run's log. Silence exactly that one.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


# The first stage to build again when a check on an asset fails: dzi and metadata_json write into the
# version mosaic started, which may be live by then, so the mosaic starts a new one.
REBUILD_FROM = {"features": "features", "grid": "grid", "dzi": "mosaic", "metadata_json": "mosaic",
                "timeline_layout": "timeline_layout", "category_layout": "category_layout"}


def _under_run_lock(check: Callable[..., dg.AssetCheckResult]) -> Callable[..., dg.AssetCheckResult]:
    """Checks run under the collection's run lock like the stages: they read the outputs while no
    other run rewrites them, and as steps of the run they take part in releasing it (the lock is
    released when every step of the run, checks included, has finished)."""

    @functools.wraps(check)
    def wrapper(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        op = context.op_execution_context
        store = storage.get()
        with step_lock(op, store) as lock:
            result = check(context, storage)
            if not result.passed:
                # Its stage (and, for a version's files, the mosaic that started the version) must run
                # again next time, even with unchanged inputs: its stamps go (cviz.stages.stamps).
                for key in op.selected_asset_check_keys:
                    stamps.invalidate_from(store, op.partition_key, REBUILD_FROM.get(key.asset_key.to_user_string(), "features"))
                # A blocking failure skips every step downstream of the asset (publish among them): count
                # them as finished, so the run's last step that does run releases the collection's lock.
                lock.finish_step(steps_below(op, run_steps(op)), run_steps(op))
            return result

    return wrapper


def _result(v: verify.Verdict) -> dg.AssetCheckResult:
    counts = dict(v.counts)
    # The same keys and types on every evaluation, pass or fail, so Overview → Metadata charts them all:
    # ``offending_count`` (a number) and ``offending_items`` (the first verify.MAX_OFFENDING, as JSON).
    offending_count = int(counts.pop("offending", len(v.offending)))
    metadata: dict[str, object] = {k: dg.MetadataValue.int(n) for k, n in counts.items()}
    metadata["summary"] = dg.MetadataValue.text(v.summary)
    metadata["offending_count"] = dg.MetadataValue.int(offending_count)
    metadata["offending_items"] = dg.MetadataValue.json(v.offending)
    return dg.AssetCheckResult(passed=v.passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata,
                               description=v.summary)


def check_from(asset: dg.AssetsDefinition, name: str, description: str,
               verdict: Callable[[StorageResource, str], verify.Verdict]) -> dg.AssetChecksDefinition:
    """One blocking check on ``asset``'s collection partition, run under the run lock, whose result
    is ``verdict(storage, partition)`` in the shape every check reports (``_result``)."""

    @dg.asset_check(asset=asset, partitions_def=collection_partitions, name=name, blocking=True, description=description)
    @_under_run_lock
    def check(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        return _result(verdict(storage, context.partition_key))

    return check


def _on_storage(verifier: str) -> Callable[[StorageResource, str], verify.Verdict]:
    """``cviz.publish.verify.<verifier>`` on the storage, looked up at each call (tests replace a verifier)."""
    return lambda storage, name: getattr(verify, verifier)(storage.get(), name)


# The similarity map's checks: (asset, check name, what it promises, the verifier in cviz.publish.verify).
CHECKS = (
    (grid, "one_cell_per_image", "Every usable image has exactly one grid cell; no cell holds two images.",
     "verify_grid"),
    (dzi, "pyramid_complete", "The built version's .dzi declares the grid's size and every tile of every level exists.",
     "verify_pyramid"),
    (metadata_json, "items_resolved",
     "The built version's items.json has one entry per occupied cell; every title/url template is resolved.",
     "verify_items"),
    (features, "features_finite", "One feature row per usable image, with no NaN or infinite values.",
     "verify_features"),
)
collection_checks = [check_from(asset, name, text, _on_storage(fn)) for asset, name, text, fn in CHECKS]
one_cell_per_image, pyramid_complete, items_resolved, features_finite = collection_checks
