"""A WARN-severity check on ``metadata_json``: the near-duplicate groups of the version this run built.

Two scans of one photograph, a copy or a crop do not make a map wrong, so the check never blocks
publishing; it lists the groups (cviz.publish.verify.verify_duplicates reading the version's
duplicates.json) where an operator looks: the check shows yellow, its ``offending_items`` name the
files of each group, ``check_failure_alerts`` sends a ``check_warning`` alert. Metadata keys match
the other checks: ``offending_count`` (groups, on every evaluation), ``offending_items``, ``summary``.
"""

import warnings

import dagster as dg

from cviz.publish import verify
from cviz_assets.assets import metadata_json
from cviz_assets.catalogue_checks import _under_run_lock
from cviz_assets.partitions import collection_partitions
from cviz_resources import StorageResource

# As in cviz_assets.checks: partitioned checks are a 1.13 "preview" and would warn in every step's log.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


@dg.asset_check(asset=metadata_json, partitions_def=collection_partitions, name="near_duplicates",
                description="WARN: groups of near-identical images (the same photograph scanned twice, copies, "
                            "crops, mirrored scans) in the version this run built, from duplicates.json.")
@_under_run_lock
def near_duplicates(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    v = verify.verify_duplicates(storage.get(), context.op_execution_context.partition_key)
    counts = dict(v.counts)
    offending_count = int(counts.pop("offending", len(v.offending)))
    metadata: dict[str, object] = {k: dg.MetadataValue.int(n) for k, n in counts.items()}
    metadata["summary"] = dg.MetadataValue.text(v.summary)
    metadata["offending_count"] = dg.MetadataValue.int(offending_count)
    metadata["offending_items"] = dg.MetadataValue.json(v.offending)
    return dg.AssetCheckResult(passed=v.passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
                               description=v.summary)


duplicate_checks = [near_duplicates]
