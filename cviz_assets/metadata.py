"""Turn a stage's plain report into Dagster metadata a person can read at a glance.

Numbers become numeric metadata (plotted across partitions on the asset page, Overview → Metadata), pictures become
inline images, lists become JSON. Text that comes from user data is only ever put in JSON or
plain-text metadata, never interpolated into markdown.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from cviz.measure.plots import data_uri_markdown
from cviz.stages.common import StageReport


def _mime(data: bytes) -> str:
    return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"


def report_metadata(report: StageReport, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in report.values.items():
        if isinstance(value, bool):
            meta[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            meta[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            meta[key] = dg.MetadataValue.float(value)
        elif value is not None:
            meta[key] = dg.MetadataValue.text(str(value))
    for key, picture in report.pictures.items():
        meta[key] = dg.MetadataValue.md(data_uri_markdown(picture, key.replace("_", " "), _mime(picture)))
    for key, rows in report.tables.items():
        meta[key] = dg.MetadataValue.json(rows)
    meta.update(extra)
    return meta


def summary(report: StageReport) -> str:
    keys = [k for k, v in report.values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k}={report.values[k]}" for k in keys[:8])


# What each asset's metadata means, appended to its description (the asset page shows it beside
# the values). Every stage also reports ``seconds`` and ``items_per_s`` (plotted on the asset page, Overview → Metadata).
METADATA_MEANING: dict[str, str] = {
    "images": "found: files seen; usable: decoded whole and mapped; skipped: unreadable or not images "
              "(skipped_files says why); duplicates: same bytes as an earlier file; images_without_row / "
              "rows_without_image: the metadata CSV join; case_clashes: names differing only by case. "
              "The images: catalogue_complete check (WARN) lists them.",
    "features": "items x dimension: one CNN vector per usable image; cache_hits: vectors reused by content "
                "hash, computed: new ones; images_per_s: inference throughput; neighbour_agreement_<col>: "
                "share of nearest neighbours with the same label (with its chance level).",
    "pca": "components kept (256 at most, fewer for small collections) and explained_variance, the share "
           "of feature variance they keep; the plot is the per-component spectrum.",
    "tsne": "the 2-D layout: method (openTSNE or MulticoreTSNE), perplexity, update (recompute or place_new) "
            "and placed_new (items placed into an existing map); knn16_tsne / knn50_tsne: share of each item's "
            "8 nearest points in 2-D among its 16 / 50 nearest in feature space; label_<col>_features / _tsne: "
            "neighbour label agreement (with _chance); the scatter plot is the embedding.",
    "grid": "cols x rows with empty_cells; method (lap, flas_tsne, ...) and the refinement's swaps; "
            "knn16_grid / knn50_grid: share of each item's 8 grid neighbours among its 16 / 50 nearest in "
            "feature space; label_<col>_grid (with _chance); quality_line: features -> t-SNE -> grid on one "
            "line; dpq_16: distance preservation quality (Barthel et al. 2023, higher is better).",
    "mosaic": "width x height in pixels, tile_size, tiles_written; cells_decoded vs cells_cached (thumbnail "
              "cache); version: the new pyramid version folder; the preview is the whole mosaic, small.",
    "dzi": "levels and tiles of the Deep Zoom pyramid of the version this build started (published by "
           "the publish step); viewer: the link to the map.",
    "metadata_json": "bytes of items.json; values_truncated: metadata values cut for the viewer (whole in the "
                     "catalogue; values_truncated lists them); title_fallbacks: items titled by file name (empty template); "
                     "empty_urls; date_column and years_parsed (the viewer's date filter); columns_carried / "
                     "columns_dropped; extras_*: regions, 'more like this' neighbours and filter vocabulary "
                     "written beside it (extras_regions_<scale>_named / _purity: named regions and the mean share "
                     "of their items carrying their name; extras_duplicate_groups / _items: near-duplicates); "
                     "version: the version folder it completed (not yet live).",
    "publish": "version: the folder current.json now names; items; already_live: it was live before. Runs "
               "only after every blocking check on this build passed, so a failed check leaves the previous "
               "map live.",
}


# Every stage but `images` (which always scans) may be skipped (cviz.stages.stamps).
VERSIONING_MEANING = ("skipped: set when inputs, settings and code were unchanged, so nothing was written (the other "
                      "figures are those of the run that wrote the outputs); run_reason: why it ran; input_fingerprint: "
                      "what its outputs are built from.")


def parse_tags(text: str) -> dict[str, str]:
    """``CVIZ_ASSET_TAGS``: ``key=value`` pairs separated by commas (``domain=museum,tier=gold``)."""
    tags = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            from cviz.errors import CvizError

            raise CvizError(f"CVIZ_ASSET_TAGS: {pair!r} is not key=value")
        tags[key.strip()] = value.strip()
    return tags


def _code_reference(asset: dg.AssetsDefinition) -> dict[str, Any]:
    """Where the asset's function is defined. ``dg.with_source_code_references`` would point at the
    decorators' wrapper (cviz_assets/retries.py), so the function is unwrapped first."""
    import inspect

    fn = inspect.unwrap(getattr(asset.op.compute_fn, "decorated_fn", asset.op.compute_fn))
    try:
        path, line = inspect.getsourcefile(fn), inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return {}
    if not path:
        return {}
    return {"dagster/code_references": dg.CodeReferencesMetadataValue(
        code_references=[dg.LocalFileCodeReference(file_path=path, line_number=line)])}


def governed(assets: list, owners: list[str] | None = None, tags: dict[str, str] | None = None) -> list:
    """The assets with configured owners and tags added, their metadata explained in the
    description, and a code reference to their source (shown on the asset page)."""
    import warnings

    out = []
    with warnings.catch_warnings():  # code references are "beta" in 1.13: one warning per asset per process
        warnings.simplefilter("ignore", dg.BetaWarning)
        for asset in assets:
            refs = _code_reference(asset)

            def apply(spec: dg.AssetSpec, refs: dict = refs) -> dg.AssetSpec:
                meaning = METADATA_MEANING.get(spec.key.to_user_string())
                if meaning and spec.key.to_user_string() != "images":
                    meaning = f"{meaning} {VERSIONING_MEANING}"
                description = f"{spec.description or ''}\n\nMetadata: {meaning}".strip() if meaning else spec.description
                return spec.replace_attributes(
                    owners=[*spec.owners, *(o for o in owners or [] if o not in spec.owners)],
                    tags={**spec.tags, **(tags or {})}, description=description,
                ).merge_attributes(metadata=refs)

            out.extend(dg.map_asset_specs(apply, [asset]))
    return out
