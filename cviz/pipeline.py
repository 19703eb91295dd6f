"""One function per stage: read inputs from storage, call the computation, write outputs.

Each returns a plain ``StageReport`` (values, notes and pictures) that the Dagster asset turns into
metadata, so the assets stay a few lines long and the command line runs exactly this code (through
the same Dagster job).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from cviz import plots
from cviz.catalogue import build_catalogue, open_source, usable_items
from cviz.chunks import features_by_chunks
from cviz.collection import CollectionConfig
from cviz.errors import CollectionError
from cviz.features import Extractor, compute_features
from cviz.grid import assign_grid
from cviz.grid_refine import REFINE_K, KnnGraph
from cviz.imaging import ImageRejected, decode
from cviz.neighbours import approximate_knn, neighbour_agreement, unit_rows
from cviz.paths import MODEL_CACHE, OUTPUT_FOLDERS, CollectionPaths
from cviz.pca import run_pca
from cviz.quality import KNN_EXACT_MAX, FeatureNeighbours, feature_neighbours, layout_quality, neighbourhood_quality
from cviz.publish import Version, empty_trash, publish_version
from cviz.storage import Storage, read_source
from cviz import thumbs
from cviz.tiles import Cell, Pyramid, build_lower_levels, choose_tile_size, render_mosaic
from cviz.tsne import BACKENDS as TSNE_BACKENDS, DEFAULT_PERPLEXITY, MIN_TSNE, place_new, run_tsne
from cviz.viewer_data import build_items

BACKGROUND = (17, 17, 17)
ITEM_IMAGE_SIDE = 512


@dataclass
class StageReport:
    values: dict[str, Any] = field(default_factory=dict)  # numbers and short texts
    pictures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG/JPEG bytes
    tables: dict[str, list] = field(default_factory=dict)  # name -> rows (shown as JSON)


def load_config(storage: Storage, name: str) -> CollectionConfig:
    paths = CollectionPaths(name)
    try:
        return CollectionConfig.from_dict(storage.read_json(paths.config))
    except FileNotFoundError:
        raise CollectionError(
            f"collection {name} is not registered: no {paths.config} under {storage.url()} "
            "(register it with `cviz add` or the register_collection job)"
        ) from None


def register(storage: Storage, config: CollectionConfig, wait_s: float | None = None) -> None:
    """Write ``collection.json``. A changed config waits for a run that holds the collection's lock
    (then fails naming it, after ``wait_s``, default $CVIZ_LOCK_WAIT_S): a run never sees its
    settings change under it (it builds from the snapshot its `images` step took, see run_config)."""
    from cviz import locking

    paths = CollectionPaths(config.name)
    try:
        if storage.read_json(paths.config) == config.to_dict():
            return
    except (FileNotFoundError, ValueError):
        pass
    lock = locking.CollectionLock(storage, config.name, f"register-{uuid.uuid4().hex[:12]}")
    lock.acquire(wait_s)
    try:
        storage.write_json(paths.config, config.to_dict())
    finally:
        lock.release()


def config_hash(config: CollectionConfig) -> str:
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def run_config(storage: Storage, name: str) -> CollectionConfig:
    """The collection's settings as the `images` step of this build read them (stored in the
    catalogue), so every later stage of a run uses one snapshot even if ``collection.json`` is
    re-registered meanwhile. A catalogue written before snapshots existed falls back to the file."""
    snapshot = _catalogue(storage, name).get("config")
    return CollectionConfig.from_dict(snapshot) if snapshot else load_config(storage, name)


def _timed(report: StageReport, started: float) -> StageReport:
    seconds = round(time.perf_counter() - started, 3)
    report.values["seconds"] = seconds
    # Plotted per partition (Plots tab): throughput comparable across collections of any size.
    items = report.values.get("items", report.values.get("usable"))
    if isinstance(items, int) and not isinstance(items, bool) and seconds > 0:
        report.values.setdefault("items_per_s", round(items / seconds, 2))
    return report


# -- images ---------------------------------------------------------------------------------
def stage_images(storage: Storage, name: str) -> StageReport:
    started = time.perf_counter()
    config = load_config(storage, name)
    paths = CollectionPaths(name)
    for folder in (paths.base, paths.published, paths.item_images):  # left by runs killed mid-write
        storage.remove_stale_temp(folder)
    catalogue = build_catalogue(config, storage.storage_options, exclude=output_folders(storage))
    catalogue["config"] = config.to_dict()  # the run's snapshot (run_config): later stages read this
    catalogue["config_sha256"] = config_hash(config)
    storage.write_json(CollectionPaths(name).catalogue, catalogue)
    counts = catalogue["counts"]
    report = StageReport(values=dict(counts))
    report.values["config_sha256"] = catalogue["config_sha256"]
    report.values["metadata_encoding"] = (catalogue["metadata"] or {}).get("encoding", "no metadata CSV")
    report.tables["skipped_files"] = catalogue["skipped"][:200]
    if catalogue["metadata"]:
        md = catalogue["metadata"]
        report.tables["images_without_row"] = md["images_without_row"][:200]
        report.tables["rows_without_image"] = md["rows_without_image"][:200]
        report.tables["csv_duplicate_rows"] = md["duplicates"][:200]
    report.tables["duplicates"] = [
        {"file": e["file"], "same_bytes_as": e["duplicate_of"]} for e in catalogue["files"] if e.get("duplicate_of")
    ][:200]
    report.tables["case_clashes"] = [
        {"file": e["file"], "differs_only_by_case_from": e["case_clash_with"]}
        for e in catalogue["files"] if e.get("case_clash_with")
    ][:200]
    report.tables["notes"] = catalogue["notes"]
    return _timed(report, started)


def output_folders(storage: Storage) -> tuple[str, ...]:
    """cviz's own folders as paths on the storage's filesystem (what the catalogue never lists)."""
    return tuple(storage.path(f) for f in OUTPUT_FOLDERS)


def _catalogue(storage: Storage, name: str) -> dict[str, Any]:
    return storage.read_json(CollectionPaths(name).catalogue)


# -- features -------------------------------------------------------------------------------
def derive_outputs(storage: Storage, name: str, cell: tuple[int, int]) -> tuple[tuple[int, int], Callable]:
    """(decode_at, derive) for the features stage: one decode of each original also fills the
    mosaic's cell cache and writes the viewer's item image, so the mosaic never decodes it again."""
    existing = set(storage.list(CollectionPaths(name).item_images))

    def derive(e: dict[str, Any], img: Any) -> None:  # called only for images the features decode
        sha = e["sha256"]
        have = item_image_rel(sha).rsplit("/", 1)[1] in existing
        thumbs.derive_from_decoded(storage, sha, img, cell, BACKGROUND,
                                   item_image_path=None if have else thumbs.item_key(sha, ITEM_IMAGE_SIDE))

    # The item image wants ITEM_IMAGE_SIDE on the long side, the cell its own size; the CNN adds its
    # short side in compute_features.
    return (0, max(ITEM_IMAGE_SIDE, *cell)), derive


def stage_features(storage: Storage, name: str, extractor: Extractor, batch_size: int = 32,
                   progress: Callable[[int, int], None] | None = None) -> StageReport:
    started = time.perf_counter()
    catalogue = _catalogue(storage, name)
    items = usable_items(catalogue)
    config = load_config(storage, name)
    fs, base = open_source(catalogue, storage.storage_options)
    decode_at, derive = derive_outputs(storage, name, tuple(config.tile_size))
    # Chunk by chunk (cviz/chunks.py): chunks other workers computed are read, the rest computed here.
    try:
        chunked = features_by_chunks(storage, name, items, lambda rel: read_source(fs, f"{base}/{rel}"), extractor,
                                     batch_size, progress=progress, decode_at=decode_at, derive=derive)
    except (ImageRejected, FileNotFoundError) as exc:
        raise changed_since_catalogue(name, exc) from exc
    run = chunked.run
    storage.write_npy(CollectionPaths(name).features, run.features)
    report = StageReport(values={
        "items": len(items),
        "dimension": int(extractor.dim),
        "model": extractor.name,
        "input_size": int(extractor.input_size),
        "weights_source": getattr(extractor, "weights_source", "unknown"),
        "weights_hash": getattr(extractor, "weights_hash", "unknown"),
        "backend": getattr(extractor, "backend", "unknown"),
        "backend_version": getattr(extractor, "backend_version", "unknown"),
        "cache_hits": run.cache_hits,
        "cache_rejected": run.cache_rejected,
        "computed": run.computed,
        "originals_decoded": run.decodes,
        "decode_seconds": round(run.decode_seconds, 3),
        "inference_seconds": round(run.inference_seconds, 3),
        "cache_read_seconds": round(run.cache_read_seconds, 3),
        "chunks": chunked.chunks,
        "chunks_reused": chunked.chunks_reused,
    })
    # Rates only when there was something to rate: a fully cached run has no images/s (0 would plot
    # as a collapse on the Plots tab).
    if run.images_per_s is not None:
        report.values["images_per_s"] = round(run.images_per_s, 2)
    if run.cached_per_s is not None:
        report.values["cached_per_s"] = round(run.cached_per_s, 1)
    if getattr(extractor, "is_random", False):
        report.values["warning"] = "RANDOM WEIGHTS: features carry no learned meaning (configured explicitly)"
    for column in config.label_columns:
        agreement = neighbour_agreement(run.features, [(e.get("row") or {}).get(column, "") for e in items])
        if agreement is not None:
            report.values[f"neighbour_agreement_{column}"] = round(agreement.score, 4)
            report.values[f"neighbour_agreement_{column}_chance"] = round(agreement.chance, 4)
    return _timed(report, started)


def model_cache_dir(storage: Storage) -> str | None:
    return storage.local_path(MODEL_CACHE)


# -- pca / tsne / grid ----------------------------------------------------------------------
def stage_pca(storage: Storage, name: str, n_components: int = 256, normalise: bool = True) -> StageReport:
    """``normalise``: L2-normalise each feature vector first, so PCA, t-SNE and the grid work in the
    cosine geometry the neighbour measures use (+0.006 grid label agreement measured)."""
    started = time.perf_counter()
    paths = CollectionPaths(name)
    features = storage.read_npy(paths.features)
    result = run_pca(unit_rows(features) if normalise else features, n_components)
    storage.write_npy(paths.pca, result.components)
    report = StageReport(values={
        "items": int(features.shape[0]),
        "input_dimension": int(features.shape[1]),
        "components": int(result.components.shape[1]),
        "explained_variance": round(float(result.explained_variance_ratio.sum()), 4),
        "normalised": normalise,
        "note": result.note or "",
    })
    if len(result.explained_variance_ratio) > 1:
        report.pictures["explained_variance_plot"] = plots.explained_variance_png(result.explained_variance_ratio)
    return _timed(report, started)


TSNE_UPDATES = ("recompute", "place_new")
KNN_K = 50  # neighbours kept per item: t-SNE at perplexity <= 16 (3 x perplexity), the refinement, kNN50


def _knn_path(paths: CollectionPaths) -> str:
    """Each item's KNN_K nearest neighbours (rows of pca.npy), written by tsne, reused by grid."""
    return f"{paths.base}/knn.npy"


def _tsne_items_path(paths: CollectionPaths) -> str:
    """Which item (content hash) each row of tsne.npy is: what a stable update matches on."""
    return f"{paths.base}/tsne_items.json"


def _previous_embedding(storage: Storage, paths: CollectionPaths) -> dict[str, np.ndarray] | None:
    try:
        shas = storage.read_json(_tsne_items_path(paths))
        emb = storage.read_npy(paths.tsne)
    except FileNotFoundError:
        return None
    if len(shas) != len(emb):
        return None
    return {sha: emb[i] for i, sha in enumerate(shas)}


def _labels(storage: Storage, name: str) -> dict[str, list[str]]:
    """The collection's label columns (for the agreement measures), one value per usable item."""
    columns = load_config(storage, name).label_columns
    if not columns:
        return {}
    items = usable_items(_catalogue(storage, name))
    return {c: [str((e.get("row") or {}).get(c, "") or "") for e in items] for c in columns}


def stage_tsne(storage: Storage, name: str, perplexity: float = DEFAULT_PERPLEXITY, seed: int = 0,
               update: str = "recompute", backend: str = "opentsne") -> StageReport:
    """``update="place_new"`` keeps the previous coordinates of items already mapped and places only
    the new ones (cviz.tsne.place_new); ``"recompute"`` (default) lays out everything afresh.
    ``backend``: ``opentsne`` (default) or ``multicore`` (MulticoreTSNE, `make multicore-tsne`).
    Reports how many feature-space neighbours the layout keeps (cviz.quality)."""
    if update not in TSNE_UPDATES:
        raise CollectionError(f"t-SNE update {update!r}: choose one of {', '.join(TSNE_UPDATES)}")
    if backend not in TSNE_BACKENDS:
        raise CollectionError(f"t-SNE backend {backend!r}: choose one of {', '.join(TSNE_BACKENDS)}")
    started = time.perf_counter()
    paths = CollectionPaths(name)
    x = storage.read_npy(paths.pca)
    shas = [e["sha256"] for e in usable_items(_catalogue(storage, name))]
    if len(shas) != x.shape[0]:
        raise CollectionError(f"collection {name}: pca has {x.shape[0]} rows for {len(shas)} items; re-materialize pca")
    # One neighbour search for t-SNE, the measures and the grid's refinement (exact below
    # cviz.quality.KNN_EXACT_MAX items; above, Annoy for t-SNE and the grid, a sample for the measures).
    fn = feature_neighbours(x, seed, metric="euclidean")
    knn = (fn.knn, fn.distances) if fn.exact else approximate_knn(x, KNN_K)
    storage.write_npy(_knn_path(paths), knn[0].astype(np.int32))
    result = None
    fallback = ""
    if update == "place_new":
        previous = _previous_embedding(storage, paths)
        old_rows = [i for i, sha in enumerate(shas) if previous and sha in previous]
        if previous is None:
            fallback = "no previous embedding to keep: computed afresh"
        elif len(old_rows) < MIN_TSNE:
            fallback = f"only {len(old_rows)} item(s) of the previous embedding remain: computed afresh"
        else:
            old = np.stack([previous[shas[i]] for i in old_rows])
            result = place_new(x, np.asarray(old_rows), old, perplexity=perplexity, seed=seed)
    if result is None:
        result = run_tsne(x, perplexity=perplexity, seed=seed, backend=backend, neighbours=knn)
    layout_seconds = time.perf_counter() - started
    storage.write_npy(paths.tsne, result.embedding)
    storage.write_json(_tsne_items_path(paths), shas, compact=True)
    note = "; ".join(t for t in (result.note, fallback) if t)
    report = StageReport(values={
        "items": int(x.shape[0]), "method": result.method, "update": update, "placed_new": result.placed,
        "perplexity": result.perplexity if result.perplexity is not None else 0.0, "note": note,
        "layout_seconds": round(layout_seconds, 3),
    })
    q_started = time.perf_counter()
    report.values.update(neighbourhood_quality(fn, points=result.embedding,
                                               labels=_labels(storage, name), seed=seed))
    report.values["quality_seconds"] = round(time.perf_counter() - q_started, 3)
    report.pictures["tsne_plot"] = plots.scatter_png(result.embedding, f"t-SNE of {x.shape[0]} items")
    return _timed(report, started)


def _knn_fits(knn: np.ndarray, features: np.ndarray, probes: int = 64) -> bool:
    """Is ``knn`` (from the tsne stage) a neighbour list of these very ``features``? Shape, and
    for a few random rows the exact 10 nearest found in it (a run killed between writes, or pca
    re-run since, leaves a stale file: then the grid stage searches again)."""
    from cviz.neighbours import feature_knn

    n = len(features)
    if knn.ndim != 2 or knn.shape[0] != n or knn.shape[1] < min(REFINE_K, n - 1):
        return False
    if n < 3:
        return True
    rows = np.random.default_rng(0).choice(n, size=min(probes, n), replace=False)
    exact = feature_knn(features, min(10, n - 1), rows, metric="euclidean")
    found = np.mean([np.isin(e, knn[r]).mean() for r, e in zip(rows, exact)])
    return bool(found >= 0.5)


def _previous_cells(storage: Storage, paths: CollectionPaths, cell_size: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """content hash -> (col, row) on the previous grid (same cell size), or {} when there is none."""
    try:
        shas = storage.read_json(f"{paths.base}/grid_items.json")
        grid = storage.read_json(paths.grid)
    except FileNotFoundError:
        return {}
    if len(shas) != len(grid["cells"]) or (grid["cell_width"], grid["cell_height"]) != tuple(cell_size):
        return {}
    return {sha: (int(c) % grid["cols"], int(c) // grid["cols"]) for sha, c in zip(shas, grid["cells"])}


def stage_grid(storage: Storage, name: str, method: str = "auto", seed: int = 0,
               keep_previous: bool = False, refine: bool = True) -> StageReport:
    """Assign cells (cviz.grid), then measure the arrangement on the PCA features (cviz.quality).

    ``keep_previous``: items already on the previous grid keep their cells and only new items are
    placed (pairs with the tsne stage's ``place_new``), so the mosaic a curator knows stays put.
    ``refine``: the cell-swap pass of cviz.grid_refine after the method (new items only on a
    stable update). The feature-space neighbours are computed once, for the refinement and the
    measures; ``quality_line`` shows features -> t-SNE -> grid on one line.
    """
    started = time.perf_counter()
    paths = CollectionPaths(name)
    config = run_config(storage, name)
    points = storage.read_npy(paths.tsne)
    features = storage.read_npy(paths.pca)
    shas = [e["sha256"] for e in usable_items(_catalogue(storage, name))]
    if len(shas) != len(points):
        raise CollectionError(f"collection {name}: tsne has {len(points)} rows for {len(shas)} items; re-materialize tsne")
    cw, ch = config.tile_size
    keep = None
    if keep_previous:
        previous = _previous_cells(storage, paths, (cw, ch))
        keep = {i: previous[sha] for i, sha in enumerate(shas) if sha in previous} or None
    try:  # the tsne stage's neighbour search, when it is of these rows
        knn = storage.read_npy(_knn_path(paths)).astype(np.int64)
        knn = knn if _knn_fits(knn, features) else None
    except FileNotFoundError:
        knn = None
    if knn is not None and len(points) <= KNN_EXACT_MAX:
        fn = FeatureNeighbours(np.arange(len(points)), knn, True, features, "euclidean")
    else:
        fn = feature_neighbours(features, seed, metric="euclidean")
    graph = None
    if refine:
        if knn is None:
            knn = fn.knn if fn.exact else approximate_knn(features, REFINE_K)[0]
        graph = KnnGraph.ranked(knn[:, :REFINE_K])
    result = assign_grid(points, cw, ch, method, features=features, seed=seed, keep=keep, refine=refine, graph=graph)
    assign_seconds = time.perf_counter() - started
    storage.write_json(paths.grid, {
        "cols": result.cols, "rows": result.rows, "cell_width": cw, "cell_height": ch,
        "method": result.method, "cells": result.cells.tolist(),
    }, compact=True)
    storage.write_json(f"{paths.base}/grid_items.json", shas, compact=True)
    q_started = time.perf_counter()
    quality = layout_quality(features, result.cells, result.cols, result.rows, seed=seed)
    values = {
        "items": len(points), "cols": result.cols, "rows": result.rows, "method": result.method,
        "empty_cells": result.cols * result.rows - len(points), "assign_seconds": round(assign_seconds, 3),
        **quality.to_values(),
        **neighbourhood_quality(fn, points=points, grid=(result.cells, result.cols, result.rows),
                                labels=_labels(storage, name), seed=seed),
        "quality_seconds": round(time.perf_counter() - q_started, 3),
        "refined": result.refine is not None,
        "refine_swaps": result.refine.swaps if result.refine else 0,
        "refine_rounds": result.refine.rounds if result.refine else 0,
        "refine_seconds": round(result.refine.seconds, 3) if result.refine else 0.0,
        "note": result.note or "",
    }
    return _timed(StageReport(values=values), started)


# -- mosaic / dzi / metadata_json --------------------------------------------------------------
def item_image_rel(sha256: str) -> str:
    return f"images/{sha256[:16]}.jpg"


def stage_mosaic(storage: Storage, name: str, workers: int = 2,
                 progress: Callable[[int, int], None] | None = None) -> StageReport:
    """Render the full-resolution mosaic as the top level of a new pyramid version, plus item images.

    ``progress(done, total)`` after every cell loaded (cached or decoded)."""
    started = time.perf_counter()
    paths = CollectionPaths(name)
    catalogue = _catalogue(storage, name)
    items = usable_items(catalogue)
    grid = storage.read_json(paths.grid)
    if len(grid["cells"]) != len(items):
        raise CollectionError(f"collection {name}: grid has {len(grid['cells'])} cells for {len(items)} items; re-materialize grid")
    cols, rows, cw, ch = grid["cols"], grid["rows"], grid["cell_width"], grid["cell_height"]
    pyramid = Pyramid(cols * cw, rows * ch, choose_tile_size(cw, ch))
    if storage.local:
        empty_trash(storage, name)  # versions retired by the last publish: deleted here, off its path
    built = Version(name, storage.new_version())
    version = built.id
    folder = built.tiles
    fs, base = open_source(catalogue, storage.storage_options)
    existing = set(storage.list(paths.item_images))
    counts = {"new_item_images": 0, "cells_decoded": 0, "cells_cached": 0}
    counts_lock = threading.Lock()  # load_cell runs in the mosaic's worker threads

    def count(key: str) -> None:
        with counts_lock:
            counts[key] += 1
            done = counts["cells_decoded"] + counts["cells_cached"]
        if progress and key != "new_item_images":
            progress(done, len(items))

    def load_cell(i: int, preview_size: tuple[int, int]) -> Cell:
        # A cached cell (cviz.thumbs) needs no decode of the source; a miss decodes it once, fills the
        # cache and writes the viewer's item image if that is missing too.
        e = items[i]
        item_rel = item_image_rel(e["sha256"])
        have_item = item_rel.rsplit("/", 1)[1] in existing
        if not have_item:  # made by the features stage's decode: copied, not decoded again
            made = thumbs.read_item_image(storage, e["sha256"], ITEM_IMAGE_SIDE)
            if made is not None:
                storage.write_bytes(f"{paths.published}/{item_rel}", made)
                count("new_item_images")
                have_item = True
        cached = thumbs.read_cell(storage, e["sha256"], (cw, ch), decode_at=preview_size) if have_item else None
        if cached is not None:
            count("cells_cached")
            return Cell(data=cached[0], small=cached[1])
        # The features stage decodes each new original once and fills both caches (derive); this
        # decode happens only for images it did not decode (cached features, another cell size).
        img, _ = decode(read_source(fs, f"{base}/{e['file']}"), name=e["file"], at_least=(0, max(ITEM_IMAGE_SIDE, cw, ch)))
        if not have_item:
            storage.write_bytes(f"{paths.published}/{item_rel}", thumbs.item_image(img, ITEM_IMAGE_SIDE))
            count("new_item_images")
        cell = thumbs.make_cell(img, (cw, ch), BACKGROUND)
        data = thumbs.write_cell(storage, e["sha256"], (cw, ch), cell)
        count("cells_decoded")
        return Cell(data=data, image=cell)

    item_at_cell = {int(c): i for i, c in enumerate(grid["cells"])}
    try:
        stats = render_mosaic(storage, folder, pyramid, cols, rows, (cw, ch), item_at_cell, load_cell, BACKGROUND, workers)
    except BaseException as exc:
        _discard_version(storage, paths, version)  # nothing names it yet; give the space back (disk full)
        if isinstance(exc, (ImageRejected, FileNotFoundError)):
            raise changed_since_catalogue(name, exc) from exc
        raise
    storage.write_bytes(built.preview, stats.preview)
    storage.write_json(paths.mosaic, {"version": version, "pyramid": pyramid.to_dict(), "cols": cols, "rows": rows,
                                      "cell_width": cw, "cell_height": ch, "items": len(items),
                                      "lowest_level": stats.lowest_level, **rendered_from(storage, name, catalogue)})
    report = StageReport(values={
        "items": len(items), "width": pyramid.width, "height": pyramid.height, "tile_size": pyramid.tile_size,
        "tiles_written": stats.tiles, "levels_written": pyramid.max_level + 1 - stats.lowest_level, **counts,
        "originals_decoded": counts["cells_decoded"],
        "version": version,
    })
    report.pictures["mosaic_preview"] = stats.preview
    return _timed(report, started)


def changed_since_catalogue(name: str, exc: BaseException) -> CollectionError:
    """A source image the catalogue found usable is now unreadable: say which, and what to re-run."""
    what = getattr(exc, "file", None) or getattr(exc, "filename", None) or "an image"
    return CollectionError(
        f"collection {name}: {what}: {exc}; the file changed or vanished after the `images` asset ran: "
        "re-materialize images, then the rest (the published map is unchanged)"
    )


def _discard_version(storage: Storage, paths: CollectionPaths, version: str) -> None:
    try:
        storage.remove_tree(paths.version(version))
    except Exception:  # best effort: the original error is the one to report
        pass


def rendered_from(storage: Storage, name: str, catalogue: dict[str, Any] | None = None) -> dict[str, str]:
    """What a mosaic is drawn from: hashes of grid.json, of the items' content hashes in grid order,
    and of the run's config snapshot. `dzi`, `metadata_json` and `publish` refuse a mismatch."""
    catalogue = catalogue if catalogue is not None else _catalogue(storage, name)
    shas = "\n".join(e["sha256"] for e in usable_items(catalogue))
    return {
        "grid_sha256": hashlib.sha256(storage.read_bytes(CollectionPaths(name).grid)).hexdigest()[:16],
        "items_sha256": hashlib.sha256(shas.encode()).hexdigest()[:16],
        "config_sha256": str(catalogue.get("config_sha256", "")),
    }


def built_version(storage: Storage, name: str, stage: str) -> tuple[Version, dict[str, Any]]:
    """The version this build's `mosaic` started, and its manifest, for `stage` to complete.

    Refuses a live version (immutable) and a mosaic drawn from another grid, item list or config
    than the current ones (e.g. `grid` re-materialized without `mosaic`).
    """
    try:
        manifest = _mosaic_manifest(storage, name)
    except FileNotFoundError:
        raise CollectionError(f"collection {name}: no mosaic built yet; materialize mosaic before {stage}") from None
    version = Version(name, manifest["version"])
    version.refuse_if_live(storage, stage)
    now = rendered_from(storage, name)
    stale = [k for k in ("grid_sha256", "items_sha256", "config_sha256") if manifest.get(k, now[k]) != now[k]]
    if stale:
        what = ", ".join(k.split("_")[0] for k in stale)
        raise CollectionError(
            f"collection {name}: the mosaic of version {version.id} was drawn from another {what} than the current "
            f"one; re-materialize mosaic, then dzi, metadata_json and publish (the published map is unchanged)"
        )
    return version, manifest


def _mosaic_manifest(storage: Storage, name: str) -> dict[str, Any]:
    return storage.read_json(CollectionPaths(name).mosaic)


def stage_dzi(storage: Storage, name: str) -> StageReport:
    """The lower pyramid levels and ``map.dzi`` of the version `mosaic` started (never a live one)."""
    started = time.perf_counter()
    version, manifest = built_version(storage, name, "dzi")
    pyramid = Pyramid(**manifest["pyramid"])
    # The mosaic stage writes the top level, and level max-1 too when cells are tiles ("lowest_level").
    stats = build_lower_levels(storage, version.tiles, pyramid, start_level=manifest.get("lowest_level"))
    storage.write_bytes(version.dzi, pyramid.xml().encode())
    return _timed(StageReport(values={
        "items": int(manifest["items"]), "levels": stats.levels, "tiles": pyramid.tile_count(), "width": pyramid.width, "height": pyramid.height,
        "tile_size": pyramid.tile_size, "version": version.id,
    }), started)


def stage_publish(storage: Storage, name: str) -> StageReport:
    """Switch ``current.json`` to the version this build completed and list it in the index.

    Runs after `dzi` and `metadata_json` and behind their blocking checks: when a check fails,
    this step is skipped and the previous map stays live. Re-publishing the live version only
    refreshes its index entry.
    """
    started = time.perf_counter()
    try:
        manifest = _mosaic_manifest(storage, name)
    except FileNotFoundError:
        raise CollectionError(f"collection {name}: nothing built to publish; materialize mosaic, dzi and metadata_json") from None
    version = Version(name, manifest["version"])
    was_live = version.is_live(storage)
    if not was_live:
        built_version(storage, name, "publish")  # same grid, items and config as the mosaic
    from cviz.layout_stage import pair_layouts  # the extra layouts built from this item list (issue 16)

    pairing = pair_layouts(storage, version)
    publish_version(storage, version, int(manifest["items"]), layouts=pairing.entries)
    return _timed(StageReport(values={"items": int(manifest["items"]), "version": version.id,
                                      "published": True, "already_live": was_live, **pairing.values()}), started)


@dataclass
class _BuiltInputs:
    """What the steps completing a version read: this run's config snapshot, catalogue, items, grid."""
    paths: CollectionPaths
    config: CollectionConfig
    catalogue: dict[str, Any]
    items: list[dict[str, Any]]
    grid: dict[str, Any]
    version: Version


def _built_inputs(storage: Storage, name: str, stage: str) -> _BuiltInputs:
    paths = CollectionPaths(name)
    catalogue = _catalogue(storage, name)
    return _BuiltInputs(paths, run_config(storage, name), catalogue, usable_items(catalogue),
                        storage.read_json(paths.grid), built_version(storage, name, stage)[0])


def stage_metadata_json(storage: Storage, name: str) -> StageReport:
    started = time.perf_counter()
    b = _built_inputs(storage, name, "metadata_json")
    config, catalogue, items, grid, built = b.config, b.catalogue, b.items, b.grid, b.version
    columns = (catalogue.get("metadata") or {}).get("columns", [])
    grid_info = {"cols": grid["cols"], "rows": grid["rows"], "cell_width": grid["cell_width"],
                 "cell_height": grid["cell_height"], "width": grid["cols"] * grid["cell_width"],
                 "height": grid["rows"] * grid["cell_height"]}
    images = [f"../{item_image_rel(e['sha256'])}" for e in items]
    doc, info = build_items(config, items, columns, grid["cells"], grid_info, images)
    size = storage.write_json(built.items, doc, compact=True)
    report = StageReport(values={
        "items": len(items), "bytes": size, "title_fallbacks": len(info["title_fallbacks"]),
        "empty_urls": info["empty_urls"], "date_column": info["date_column"] or "none",
        "years_parsed": info["years_parsed"], "version": built.id,
        "columns_carried": info["columns_carried"], "columns_dropped": info["columns_dropped"],
    })
    report.tables["title_fallback_files"] = info["title_fallbacks"][:200]
    return _timed(report, started)


# -- viewer extras: regions, "more like this", vocabulary (issue 15) ----------------------------
def stage_viewer_extras(storage: Storage, name: str) -> StageReport:
    """Write regions.json, neighbours.bin and vocabulary.json into the mosaic's version folder.

    Runs inside the ``metadata_json`` step, into the version this build started (never a live one),
    before ``publish`` can switch to it, so a published version always has its extras. Item order
    is items.json's (usable items = PCA rows = grid cells).
    """
    from cviz import regions as regions_mod
    from cviz import similar, vocabulary
    from cviz.viewer_data import DATE_COLUMNS

    started = time.perf_counter()
    b = _built_inputs(storage, name, "metadata_json")  # never into a live version
    paths, config, catalogue, items, grid, version = b.paths, b.config, b.catalogue, b.items, b.grid, b.version.id
    features = storage.read_npy(paths.pca)
    if len(grid["cells"]) != len(items) or features.shape[0] != len(items):
        raise CollectionError(f"collection {name}: grid has {len(grid['cells'])} cells and pca {features.shape[0]} rows "
                              f"for {len(items)} items; re-materialize pca, tsne and grid")
    rows = [e.get("row") or {} for e in items]
    columns = [c for c in (catalogue.get("metadata") or {}).get("columns", [])
               if c and c not in {config.filename_column, "title", "url"}]
    values = {c: [str(r.get(c, "") or "") for r in rows] for c in columns}
    titles = [config.title_template.render(r).strip() or e["file"].rsplit("/", 1)[-1] for e, r in zip(items, rows)]

    t0 = time.perf_counter()
    neighbours, nn_method = similar.nearest_neighbours(features)
    nn_bytes = similar.pack_neighbours(neighbours)
    storage.write_bytes(paths.neighbours(version), nn_bytes)
    nn_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    labels = {c: values[c] for c in config.label_columns if c in values}
    found = regions_mod.find_regions(grid["cells"], grid["cols"], grid["rows"], labels, titles)
    regions_size = storage.write_json(paths.regions(version), found.to_dict(grid["cols"], grid["rows"]), compact=True)
    regions_seconds = time.perf_counter() - t0

    skip = [c for c in columns if c in DATE_COLUMNS]
    filters = vocabulary.filter_columns(values, config.label_columns, skip=skip)
    storage.write_json(paths.vocabulary(version), {"format": vocabulary.FORMAT, "filter_columns": filters,
                                                   "label_columns": [c for c in config.label_columns if c in values]},
                       compact=True)
    report = StageReport(values={
        "items": len(items), "version": version, "neighbours_k": int(neighbours.shape[1]),
        "neighbours_method": nn_method, "neighbours_bytes": len(nn_bytes), "neighbours_seconds": round(nn_seconds, 3),
        "regions_scales": len(found.scales), "regions": sum(len(s.regions) for s in found.scales),
        "regions_source": found.source or "none", "regions_bytes": regions_size,
        "regions_seconds": round(regions_seconds, 3), "regions_note": found.note,
        "filter_columns": ", ".join(filters) or "none",
    })
    report.tables["region_names"] = [{"scale": s.name, "name": r.name, "items": r.count}
                                     for s in found.scales for r in s.regions][:200]
    return _timed(report, started)
