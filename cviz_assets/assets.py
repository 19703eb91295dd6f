"""One asset per intermediate, each partitioned by collection, each a call into ``cviz.pipeline``.

Large outputs (features, tiles, JSON) are written by the stages through the storage resource at
the paths in docs/outputs.md; assets are linked with ``deps`` rather than passing data through an
IO manager, so nothing big is ever pickled.
"""


import dagster as dg

from cviz import pipeline
from cviz.stages.common import StageReport
from cviz.progress import Progress
from cviz_assets.collection_lock import one_run_at_a_time
from cviz_assets.metadata import report_metadata, summary
from cviz_assets.partitions import collection_partitions as collections  # alias until the collection_asset factory lands
from cviz_assets.retries import FEATURES_POOL, STORAGE_RETRY, fail_fast_on_user_error
from cviz_resources import FeatureModelResource, StorageResource

GROUP = "collection_map"


class TsneConfig(dg.Config):
    """``recompute`` (default): a fresh layout. ``place_new``: items already on the map keep their
    coordinates; only images added since are placed (openTSNE transform), so the map stays familiar.
    ``backend``: ``opentsne`` (default) or ``multicore`` (the original's MulticoreTSNE, built by
    ``make multicore-tsne``; openTSNE is used, and the note says so, when it is not importable)."""

    update: str = "recompute"
    backend: str = "opentsne"


class GridConfig(dg.Config):
    """Grid method: auto (lap up to 2,000 items, flas_tsne above), flas_tsne (FLAS on the t-SNE points), flas (FLAS on PCA), lap
    (exact, up to 4,000 items), rasterfairy, sorted. ``keep_previous``: items already on the map
    keep their cells (stable update). ``refine``: swap cells afterwards to keep feature-space
    neighbours adjacent (cviz.grid_refine)."""

    method: str = "auto"
    keep_previous: bool = False
    refine: bool = True


def _result(context: dg.AssetExecutionContext, stage: str, report: StageReport, **extra: object) -> dg.MaterializeResult:
    context.log.info(f"{stage} [{context.partition_key}]: {summary(report)}")
    return dg.MaterializeResult(metadata=report_metadata(report, **extra))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, kinds={"python"})
@fail_fast_on_user_error
@one_run_at_a_time
def images(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The catalogue: every file found, which are usable, why the others are not; metadata rows joined."""
    return _result(context, "images", pipeline.stage_images(storage.get(), context.partition_key))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=[images], kinds={"tensorflow"}, pool=FEATURES_POOL)
@fail_fast_on_user_error
@one_run_at_a_time
def features(context: dg.AssetExecutionContext, storage: StorageResource, model: FeatureModelResource) -> dg.MaterializeResult:
    """N x D CNN features, one row per usable image, computed once per image content (cached)."""
    store = storage.get()
    extractor = model.get(pipeline.model_cache_dir(store))
    progress = Progress("features", log=context.log.info)  # a log line every ~10%
    return _result(context, "features", pipeline.stage_features(store, context.partition_key, extractor, model.batch_size,
                                                                progress=progress))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=[features], kinds={"scikitlearn"})
@fail_fast_on_user_error
@one_run_at_a_time
def pca(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Features projected on their first 256 principal components (fewer for small N or D)."""
    return _result(context, "pca", pipeline.stage_pca(storage.get(), context.partition_key))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=[pca], kinds={"python"})
@fail_fast_on_user_error
@one_run_at_a_time
def tsne(context: dg.AssetExecutionContext, config: TsneConfig, storage: StorageResource) -> dg.MaterializeResult:
    """The 2-D t-SNE embedding (openTSNE); ``update: place_new`` keeps the existing map's points."""
    return _result(context, "tsne", pipeline.stage_tsne(storage.get(), context.partition_key, update=config.update,
                                                      backend=config.backend))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=[tsne], kinds={"python"})
@fail_fast_on_user_error
@one_run_at_a_time
def grid(context: dg.AssetExecutionContext, config: GridConfig, storage: StorageResource) -> dg.MaterializeResult:
    """One grid cell per image, no two images in a cell; kNN preservation, label agreement (with
    chance levels), DPQ_16 and mean neighbour distance measured; ``quality_line``: features -> t-SNE -> grid."""
    return _result(context, "grid", pipeline.stage_grid(storage.get(), context.partition_key, method=config.method,
                                                      keep_previous=config.keep_previous, refine=config.refine))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=[grid, images], kinds={"python"})
@fail_fast_on_user_error
@one_run_at_a_time
def mosaic(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The full-resolution mosaic, written streaming as the top level of a new Deep Zoom version."""
    progress = Progress("mosaic", log=context.log.info, unit="cells")
    return _result(context, "mosaic", pipeline.stage_mosaic(storage.get(), context.partition_key, progress=progress))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=[mosaic], kinds={"python"})
@fail_fast_on_user_error
@one_run_at_a_time
def dzi(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The Deep Zoom pyramid (.dzi + _files) OpenSeadragon reads, in the version `mosaic` started."""
    return _result(context, "dzi", pipeline.stage_dzi(storage.get(), context.partition_key))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=[mosaic, grid], kinds={"json"})
@fail_fast_on_user_error
@one_run_at_a_time
def metadata_json(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """What the viewer needs per cell: title, url, date and the other columns; grid shape and tile size.
    Also its extras (regions.json, neighbours.bin, vocabulary.json), written first so they are in
    place when items.json publishes the version; their figures are reported as ``extras_*``."""
    store = storage.get()
    extras = pipeline.stage_viewer_extras(store, context.partition_key)
    context.log.info(f"viewer extras [{context.partition_key}]: {summary(extras)}")
    report = pipeline.stage_metadata_json(store, context.partition_key)
    report.values.update({f"extras_{k}": v for k, v in extras.values.items()})
    report.tables.update({f"extras_{k}": v for k, v in extras.tables.items()})
    return _result(context, "metadata_json", report, viewer=dg.MetadataValue.url(storage.viewer_link(context.partition_key)))


@dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, kinds={"json"},
          deps=[dzi, metadata_json, "timeline_layout", "category_layout"])  # layouts: cviz_assets/layout_assets.py
@fail_fast_on_user_error
@one_run_at_a_time
def publish(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Switches current.json to the version this run built, behind the blocking checks (checks.py)."""
    report = pipeline.stage_publish(storage.get(), context.partition_key)
    return _result(context, "publish", report, viewer=dg.MetadataValue.url(storage.viewer_link(context.partition_key)))


collection_assets = [images, features, pca, tsne, grid, mosaic, dzi, metadata_json, publish]
