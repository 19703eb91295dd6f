"""A WARN-severity check on ``images``: what the catalogue left out, where an operator looks.

A corrupt file, an image without a metadata row or a CSV row without an image does not stop a
build (the map is made from the usable images), so it must not fail the run; but it should not
hide in the asset's metadata either. This check reads ``collections/<name>/images.json`` and lists
them (WARN: the run stays green, the check shows yellow, and ``check_failure_alerts`` sends a
``check_warning`` alert). Metadata keys match the ERROR checks: ``offending_count`` (a number, on
every evaluation) and ``offending_items``.
"""

import functools
import warnings
from typing import Any, Callable

import dagster as dg

from cviz.paths import CollectionPaths
from cviz.publish.items import MAX_VALUE_CHARS, oversized_values
from cviz.publish.verify import MAX_OFFENDING
from cviz_assets.assets import images
from cviz_assets.collection_lock import step_lock
from cviz_assets.partitions import collection_partitions
from cviz_resources import StorageResource

# As in cviz_assets.checks: partitioned checks are a 1.13 "preview" and would warn in every step's log.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


PLURALS = {"file skipped": "files skipped", "image without a metadata row": "images without a metadata row",
           "metadata row without an image": "metadata rows without an image"}


def catalogue_problems(catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    """Skipped files (with the reason; for image URLs their row and URL), images kept from the fetch
    cache because their host failed, images without a metadata row, CSV rows without an image, and
    metadata values too long for the viewer (cut in items.json, whole in the catalogue: cviz.publish.items)."""
    problems: list[dict[str, Any]] = [{"problem": "file skipped", "file": s["file"], "reason": s.get("reason"),
                                       **{k: s[k] for k in ("row", "url") if k in s}}
                                      for s in catalogue.get("skipped", [])]
    problems += [{"problem": "image kept from the cache", "reason": r} for r in catalogue.get("stale", [])]
    md = catalogue.get("metadata") or {}
    problems += [{"problem": "image without a metadata row", "file": f} for f in md.get("images_without_row", [])]
    problems += [{"problem": "metadata row without an image", "filename": r} for r in md.get("rows_without_image", [])]
    problems += [{"problem": "value cut in the viewer", "file": e["file"], "column": c, "chars": n}
                 for e in catalogue.get("files", []) if e.get("status") == "usable" and isinstance(e.get("row"), dict)
                 for c, n in oversized_values(e["row"])]
    return problems


def _under_run_lock(check: Callable[..., dg.AssetCheckResult]) -> Callable[..., dg.AssetCheckResult]:
    """As cviz_assets.checks: a check step is a step of the run, so it takes part in the run lock."""

    @functools.wraps(check)
    def wrapper(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        with step_lock(context.op_execution_context, storage.get(), blocks=False):  # a WARN check skips nothing
            return check(context, storage)

    return wrapper


@dg.asset_check(asset=images, partitions_def=collection_partitions, name="catalogue_complete",
                description="WARN: lists skipped files (corrupt, unsupported), images without a metadata row and "
                            "metadata rows without an image.")
@_under_run_lock
def catalogue_complete(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    rel = CollectionPaths(context.op_execution_context.partition_key).catalogue
    try:
        catalogue = storage.get().read_json(rel)
    except FileNotFoundError:
        problems = [{"problem": "no catalogue", "file": rel}]
        counts = {}
    else:
        problems = catalogue_problems(catalogue)
        c = catalogue.get("counts", {})
        counts = {k: int(c.get(k, 0)) for k in ("found", "usable", "skipped", "images_without_row", "rows_without_image")}
    kinds: dict[str, int] = {}
    for p in problems:
        kinds[p["problem"]] = kinds.get(p["problem"], 0) + 1
    summary = ", ".join(f"{n} {PLURALS.get(k, k) if n > 1 else k}" for k, n in kinds.items())
    if problems and problems[0]["problem"] == "file skipped":
        summary += f" (first: {problems[0]['file']}: {problems[0]['reason']})"
    cut = [p for p in problems if p["problem"] == "value cut in the viewer"]
    if cut:
        summary += (f" ({cut[0]['file']}: {cut[0]['column']} has {cut[0]['chars']:,} characters; the viewer gets "
                    f"the first {MAX_VALUE_CHARS:,}, the catalogue keeps it whole)")
    metadata: dict[str, Any] = {k: dg.MetadataValue.int(v) for k, v in counts.items()}
    metadata["offending_count"] = dg.MetadataValue.int(len(problems))
    metadata["offending_items"] = dg.MetadataValue.json(problems[:MAX_OFFENDING])
    metadata["summary"] = dg.MetadataValue.text(summary or "every file usable, every image and row matched")
    return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
                               description=summary or "every file usable, every image and row matched")


catalogue_checks = [catalogue_complete]
