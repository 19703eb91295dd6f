"""One asset per intermediate, each partitioned by collection, each a call into ``cviz.stages.registry``.

Large outputs (features, tiles, JSON) are written by the stages through the storage resource at
the paths in docs/outputs.md; assets are linked with ``deps`` rather than passing data through an
IO manager, so nothing big is ever pickled.

Every stage has a code version and returns a data version (cviz.stages.stamps): a stage whose inputs,
settings and code are unchanged since its outputs were written is skipped (metadata ``skipped``),
so the UI's stale markers are true and "Materialize changed and missing" rebuilds only what changed.
"""


from typing import Any, Callable, Iterable, Literal

import dagster as dg
from pydantic import Field

from cviz.arrange.tsne import SAMPLE_ABOVE as TSNE_SAMPLE_ABOVE
from cviz.arrange.tsne import SAMPLE_SIZE as TSNE_SAMPLE_SIZE
from cviz.stages import registry, stamps
from cviz.publish.versions import Version, read_item_table
from cviz.stages.common import StageReport, read_catalogue
from cviz.stages.progress import Progress
from cviz.stages.versions import mosaic_manifest
from cviz.storage import Storage
from cviz_assets.choices import CHOICES, describe
from cviz_assets.collection_lock import one_run_at_a_time
from cviz_assets.metadata import report_metadata, summary
from cviz_assets.partitions import collection_partitions as collections
from cviz_assets.tables import catalogue_frame, items_frame, table_metadata
from cviz_assets.retries import FEATURES_POOL, STORAGE_RETRY, fail_fast_on_user_error
from cviz_resources import FeatureModelResource, StorageResource

GROUP = "collection_map"
FORCE_TAG = "cviz/force"  # a run tagged cviz/force=true runs every stage, unchanged or not

# The Launchpad offers these as choices (Dagster turns a Literal into an enum), from their one
# declaration (cviz_assets.choices), with what each does as the field's description.
_GRID, _TSNE, _UPDATE = (CHOICES[k] for k in ("grid method", "t-SNE implementation", "update mode"))
GridMethod = Literal[tuple(_GRID.options)]  # type: ignore[valid-type]
UpdateMode = Literal[tuple(_UPDATE.options)]  # type: ignore[valid-type]
TsneBackend = Literal[tuple(_TSNE.options)]  # type: ignore[valid-type]


class TsneConfig(dg.Config):
    """How the 2-D layout is made: afresh or keeping the map, and by which t-SNE implementation
    (openTSNE is used, and the note says so, when MulticoreTSNE is not importable)."""

    update: UpdateMode = Field(default=_UPDATE.default, description=describe(_UPDATE.options))
    backend: TsneBackend = Field(default=_TSNE.default, description=describe(_TSNE.options))
    sample_above: int = Field(default=TSNE_SAMPLE_ABOVE, description=(
        "above this many items, t-SNE runs on a uniform sample and places the rest into it "
        "(openTSNE's recipe for large data; docs/scale.md)"))
    sample_size: int = Field(default=TSNE_SAMPLE_SIZE, description=(
        "that sample's size: the largest t-SNE that stays within minutes on 2 cores"))


class PcaConfig(dg.Config):
    """``place_new`` keeps the previous fit and projects only images added since, so old items' rows
    stay exactly as they were and the tsne stage updates its neighbour lists instead of searching
    again (refits, saying why, once the fit saw under 90% of the items)."""

    update: UpdateMode = Field(default=_UPDATE.default, description=describe(_UPDATE.options))


class GridConfig(dg.Config):
    """How items are put into cells. ``keep_previous``: items already on the map keep their cells
    (stable update). ``refine``: swap cells afterwards to keep feature-space neighbours adjacent
    (cviz.arrange.refine)."""

    method: GridMethod = Field(default=_GRID.default, description=describe(_GRID.options))
    keep_previous: bool = False
    refine: bool = True


def collection_asset(*, deps: Iterable[Any] = (), kinds: set[str], pool: str | None = None,
                     description: str | None = None) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    """One collection stage as an asset: partitioned by collection, in the map's group, retried on
    transient I/O but failing at once on user errors, under the collection's run lock, with the
    stage's code version (cviz.stages.stamps.CODE_VERSIONS; the asset's name is the stage's)."""

    def decorate(fn: Callable[..., dg.MaterializeResult]) -> dg.AssetsDefinition:
        return dg.asset(partitions_def=collections, group_name=GROUP, retry_policy=STORAGE_RETRY, deps=list(deps),
                        kinds=kinds, pool=pool, code_version=stamps.CODE_VERSIONS[fn.__name__], description=description,
                        )(fail_fast_on_user_error(one_run_at_a_time(fn)))

    return decorate


def _forced(context: dg.AssetExecutionContext) -> bool:
    return str(context.run.tags.get(FORCE_TAG, "")).lower() in ("1", "true", "yes")


def _stage(context: dg.AssetExecutionContext, store: Storage, stage: str, settings: dict[str, Any],
           run: Callable[[], StageReport], tables: Callable[[], dict[str, Any]] = dict,
           **extra: Any) -> dg.MaterializeResult:
    """Run ``stage`` unless its inputs, settings and code are those its outputs were built from
    (cviz.stages.stamps): then it writes nothing and returns the same data version, saying so.
    ``tables``: metadata made from the outputs once they are there (a column schema and preview)."""
    name = context.partition_key
    decision = stamps.check(store, name, stage, settings)
    if decision.skip and not _forced(context):
        previous = decision.previous
        assert previous is not None
        text = decision.skipped_text()
        context.log.info(f"{stage} [{name}]: skipped: {text}")
        values = {**stamps.previous_values(previous), "skipped": text, "input_fingerprint": decision.fingerprint[:16]}
        return dg.MaterializeResult(metadata=report_metadata(StageReport(values=values), **extra, **tables()),
                                    data_version=dg.DataVersion(previous.data_version))
    stamps.remove_stamps(store, name, [stage])  # a run cut short leaves no stamp: the next one runs
    report = run()
    version = stamps.record(store, name, decision, report.values)
    report.values["run_reason"] = "forced (cviz/force tag)" if decision.skip else decision.reason
    if decision.fingerprint:
        report.values["input_fingerprint"] = decision.fingerprint[:16]
    return _result(context, stage, report, version, **extra, **tables())


def _result(context: dg.AssetExecutionContext, stage: str, report: StageReport, version: str,
            **extra: object) -> dg.MaterializeResult:
    context.log.info(f"{stage} [{context.partition_key}]: {summary(report)}")
    return dg.MaterializeResult(metadata=report_metadata(report, **extra), data_version=dg.DataVersion(version))


@collection_asset(kinds={"python"})
def images(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The catalogue: every file found, which are usable, why the others are not; metadata rows joined.
    Always scans (reading only files changed since the last scan, every file on a forced run); its data
    version is the catalogue's content, so an unchanged scan leaves the rest unchanged."""
    store = storage.get()
    name = context.partition_key
    report = registry.stage_images(store, name, reread=_forced(context))  # forced: read every file
    decision = stamps.Decision("images", None, None, "always scanned")
    table = table_metadata(catalogue_frame(read_catalogue(store, name)))
    return _result(context, "images", report, stamps.record(store, name, decision, report.values), **table)


@collection_asset(deps=[images], kinds={"tensorflow"}, pool=FEATURES_POOL)
def features(context: dg.AssetExecutionContext, storage: StorageResource, model: FeatureModelResource) -> dg.MaterializeResult:
    """N x D CNN features, one row per usable image, computed once per image content (cached)."""
    store = storage.get()
    extractor = model.get(registry.model_cache_dir(store))
    progress = Progress("features", log=context.log.info)  # a log line every ~10%
    # The model's identity, not its runtime: backends agree within 1e-4 (tests/test_backends.py).
    settings = {"model_id": extractor.model_id, "dim": int(extractor.dim)}
    return _stage(context, store, "features", settings,
                  lambda: registry.stage_features(store, context.partition_key, extractor, model.batch_size,
                                                  progress=progress))


@collection_asset(deps=[features], kinds={"scikitlearn"})
def pca(context: dg.AssetExecutionContext, config: PcaConfig, storage: StorageResource) -> dg.MaterializeResult:
    """Features projected on their first 256 principal components (fewer for small N or D)."""
    store = storage.get()
    settings = {} if config.update == "recompute" else {"update": config.update}  # the default keeps old fingerprints
    return _stage(context, store, "pca", settings,
                  lambda: registry.stage_pca(store, context.partition_key, update=config.update))


@collection_asset(deps=[pca], kinds={"python"})
def tsne(context: dg.AssetExecutionContext, config: TsneConfig, storage: StorageResource) -> dg.MaterializeResult:
    """The 2-D t-SNE embedding (openTSNE); ``update: place_new`` keeps the existing map's points."""
    store = storage.get()
    settings = {"update": config.update, "backend": config.backend, "sample_above": config.sample_above,
                "sample_size": config.sample_size}
    return _stage(context, store, "tsne", settings,
                  lambda: registry.stage_tsne(store, context.partition_key, update=config.update, backend=config.backend,
                                              sample_above=config.sample_above, sample_size=config.sample_size))


@collection_asset(deps=[tsne], kinds={"python"})
def grid(context: dg.AssetExecutionContext, config: GridConfig, storage: StorageResource) -> dg.MaterializeResult:
    """One grid cell per image, no two images in a cell; kNN preservation, label agreement (with
    chance levels), DPQ_16 and mean neighbour distance measured; ``quality_line``: features -> t-SNE -> grid."""
    store = storage.get()
    name = context.partition_key
    settings = {"method": config.method, "keep_previous": config.keep_previous, "refine": config.refine,
                "cell_size": list(registry.run_config(store, name).cell_size)}
    return _stage(context, store, "grid", settings,
                  lambda: registry.stage_grid(store, name, method=config.method, keep_previous=config.keep_previous,
                                              refine=config.refine))


@collection_asset(deps=[grid, images], kinds={"python"})
def mosaic(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The full-resolution mosaic, written streaming as the top level of a new Deep Zoom version."""
    store = storage.get()
    progress = Progress("mosaic", log=context.log.info, unit="cells")
    return _stage(context, store, "mosaic", {},
                  lambda: registry.stage_mosaic(store, context.partition_key, progress=progress))


@collection_asset(deps=[mosaic], kinds={"python"})
def dzi(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The Deep Zoom pyramid (.dzi + _files) OpenSeadragon reads, in the version `mosaic` started."""
    store = storage.get()
    return _stage(context, store, "dzi", {}, lambda: registry.stage_dzi(store, context.partition_key))


@collection_asset(deps=[mosaic, grid], kinds={"json"})
def metadata_json(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """What the viewer needs per cell: title, url, date and the other columns; grid shape and tile size.
    Also its extras (regions.json, neighbours.bin, vocabulary.json), written first so they are in
    place when items.json publishes the version; their figures are reported as ``extras_*``."""
    store = storage.get()
    name = context.partition_key

    def run() -> StageReport:
        extras = registry.stage_viewer_extras(store, name)
        context.log.info(f"viewer extras [{name}]: {summary(extras)}")
        report = registry.stage_metadata_json(store, name)
        report.values.update({f"extras_{k}": v for k, v in extras.values.items()})
        report.tables.update({f"extras_{k}": v for k, v in extras.tables.items()})
        return report

    def tables() -> dict[str, Any]:  # the item table the viewer loads, as the version holds it
        version = mosaic_manifest(store, name)["version"]
        return table_metadata(items_frame(read_item_table(store, Version(name, version))))

    return _stage(context, store, "metadata_json", {}, run, tables,
                  viewer=dg.MetadataValue.url(storage.viewer_link(name)))


@collection_asset(deps=[dzi, metadata_json, "timeline_layout", "category_layout"], kinds={"json"})  # cviz_assets/layout_assets.py
def publish(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Switches current.json to the version this run built, behind the blocking checks (checks.py)."""
    store = storage.get()
    name = context.partition_key
    return _stage(context, store, "publish", {}, lambda: registry.stage_publish(store, name),
                  viewer=dg.MetadataValue.url(storage.viewer_link(name)))


collection_assets = [images, features, pca, tsne, grid, mosaic, dzi, metadata_json, publish]
