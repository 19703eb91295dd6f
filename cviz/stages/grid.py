"""The `grid` stage: one cell per item (cviz.arrange.grid), refined and measured (cviz.measure.quality).

Cost in N: reads the tsne stage's neighbour lists (no search; Annoy O(N log N D) only when they
are missing or stale), the grid method (cviz.arrange.grid) and the refinement (cviz.arrange.refine,
O(N k) memory, a time budget), then the measures on a fixed sample above
cviz.measure.quality.KNN_EXACT_MAX: O(S N D) for S sampled items. ``grid.json`` is O(N).
"""

from __future__ import annotations

import time

import numpy as np

from cviz.arrange.grid import assign_grid
from cviz.arrange.refine import REFINE_K, KnnGraph
from cviz.errors import CollectionError
from cviz.ingest.catalogue import usable_items
from cviz.measure.dpq import layout_quality
from cviz.measure.knn import approximate_knn, knn_fits
from cviz.measure.quality import KNN_EXACT_MAX, FeatureNeighbours, feature_neighbours, neighbourhood_quality
from cviz.paths import CollectionPaths
from cviz.stages.common import StageReport, label_values, read_catalogue, run_config, timed
from cviz.stages.pca_tsne import knn_path
from cviz.storage import Storage


def _previous_cells(storage: Storage, paths: CollectionPaths, cell_size: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """content hash -> (col, row) on the previous grid (same cell size), or {} when there is none."""
    try:
        shas = storage.read_json(paths.grid_items)
        grid = storage.read_json(paths.grid)
    except FileNotFoundError:
        return {}
    if len(shas) != len(grid["cells"]) or (grid["cell_width"], grid["cell_height"]) != tuple(cell_size):
        return {}
    return {sha: (int(c) % grid["cols"], int(c) // grid["cols"]) for sha, c in zip(shas, grid["cells"])}


def stage_grid(storage: Storage, name: str, method: str = "auto", seed: int = 0,
               keep_previous: bool = False, refine: bool = True) -> StageReport:
    """Assign cells (cviz.arrange.grid), then measure the arrangement on the PCA features (cviz.measure.quality).

    ``keep_previous``: items already on the previous grid keep their cells and only new items are
    placed (pairs with the tsne stage's ``place_new``), so the mosaic a curator knows stays put.
    ``refine``: the cell-swap pass of cviz.arrange.refine after the method (new items only on a
    stable update). The feature-space neighbours are computed once, for the refinement and the
    measures; ``quality_line`` shows features -> t-SNE -> grid on one line.
    """
    started = time.perf_counter()
    paths = CollectionPaths(name)
    config = run_config(storage, name)
    points = storage.read_npy(paths.tsne)
    features = storage.read_npy(paths.pca)
    shas = [e["sha256"] for e in usable_items(read_catalogue(storage, name))]
    if len(shas) != len(points):
        raise CollectionError(f"collection {name}: tsne has {len(points)} rows for {len(shas)} items; re-materialize tsne")
    cw, ch = config.cell_size
    keep = None
    if keep_previous:
        previous = _previous_cells(storage, paths, (cw, ch))
        keep = {i: previous[sha] for i, sha in enumerate(shas) if sha in previous} or None
    try:  # the tsne stage's neighbour search, when it is of these rows
        knn = storage.read_npy(knn_path(paths)).astype(np.int64)
        knn = knn if knn_fits(knn, features, REFINE_K) else None
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
    storage.write_json(paths.grid_items, shas, compact=True)
    q_started = time.perf_counter()
    quality = layout_quality(features, result.cells, result.cols, result.rows, seed=seed)
    values = {
        "items": len(points), "cols": result.cols, "rows": result.rows, "method": result.method,
        "empty_cells": result.cols * result.rows - len(points), "assign_seconds": round(assign_seconds, 3),
        **quality.to_values(),
        **neighbourhood_quality(fn, points=points, grid=(result.cells, result.cols, result.rows),
                                labels=label_values(storage, name), seed=seed),
        "quality_seconds": round(time.perf_counter() - q_started, 3),
        "refined": result.refine is not None,
        "refine_swaps": result.refine.swaps if result.refine else 0,
        "refine_rounds": result.refine.rounds if result.refine else 0,
        "refine_seconds": round(result.refine.seconds, 3) if result.refine else 0.0,
        "note": result.note or "",
    }
    return timed(StageReport(values=values), started)
