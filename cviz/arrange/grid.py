"""Put every item in its own grid cell, keeping similar items next to each other.

The grid's shape is chosen from N and the cell aspect so the whole mosaic is close to square.
Methods (measured in benchmarks/README.md; quality as DPQ_16, see cviz/measure/dpq.py):

- ``flas_tsne``: Fast Linear Assignment Sorting (Barthel et al. 2023, package ``vc-flas``) of the
  2-D t-SNE coordinates onto the grid, seeded by ``sorted``: the t-SNE layout already holds the
  neighbourhoods (on real photos it beats sorting the PCA features, which rewards only synthetic
  Gaussian mixtures). Near-linear time.
- ``flas``: FLAS on the leading 64 PCA components themselves, seeded from the t-SNE layout
  snapped by ``sorted`` (the default before the quality benchmark; weaker on real collections).
- ``lap``: exact linear assignment of t-SNE points to cell centres (Jonker-Volgenant, ``lapjv``);
  the dense cost matrix is (cols*rows)^2 float64, so only up to ``LAP_MAX`` items (128 MB, ~10 s).
- ``rasterfairy``: the original tool's RasterFairy (recursive splitting of the t-SNE cloud),
  through ``cviz.arrange.rasterfairy_compat``.
- ``sorted``: rows by y, each row by x; O(N log N), no dependency: the fallback that always works.
- ``auto``: chosen with benchmarks/bench_quality.py on real collections: ``lap`` up to
  ``LAP_AUTO`` items (after refinement equal to ``flas_tsne`` on imageplot, better on met-sample),
  ``flas_tsne`` above.

After any method but a stable update's, ``refine`` (default on) runs cviz.arrange.refine: local cell
swaps that raise the number of each item's 8 grid neighbours among its feature-space nearest
neighbours, which the whole-layout fits above leave on the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cviz.arrange.refine import REFINE_K, KnnGraph, RefineResult
from cviz.arrange.refine import refine as refine_cells

LAP_MAX = 4000
LAP_AUTO = 2000  # auto uses lap up to here: a few seconds (cost grows as N^2 memory, ~N^3 time)
FLAS_DIMS = 64  # leading PCA components FLAS sorts on (PCA is ordered: these carry most variance)
AUTO_METHOD = "flas_tsne"
#: The grid methods and what each does: the one declaration that the CLI's ``--grid-method``, the
#: Launchpad's enum and the table in docs/configuration.md derive from (cviz_assets.choices).
METHODS: dict[str, str] = {
    "auto": f"lap up to {LAP_AUTO:,} items, {AUTO_METHOD} above",
    "flas_tsne": "FLAS (Barthel et al. 2023) sorting the t-SNE points onto the grid",
    "flas": f"FLAS on the {FLAS_DIMS} leading PCA components (ignores the t-SNE)",
    "lap": f"exact linear assignment of the t-SNE points to cells (up to {LAP_MAX:,} items: N^2 memory)",
    "rasterfairy": "RasterFairy (Klingemann), the original tool's grid, on the t-SNE points",
    "sorted": "rows by t-SNE y, each row by x: a baseline",
}


@dataclass
class GridResult:
    cols: int
    rows: int
    cells: np.ndarray  # N int64 flat cell index (row * cols + col)
    method: str
    note: str | None = None
    refine: RefineResult | None = None


def grid_shape(n: int, cell_w: int, cell_h: int) -> tuple[int, int]:
    """(cols, rows) with cols*rows >= n and cols*cell_w close to rows*cell_h."""
    if n <= 0:
        raise ValueError("a grid needs at least one item")
    cols = max(1, math.ceil(math.sqrt(n * cell_h / cell_w)))
    rows = math.ceil(n / cols)
    return cols, rows


def _normalise(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    p = points.astype(np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    p = (p - lo) / span
    return p * np.array([cols - 1, rows - 1], dtype=np.float64)


def assign_lap(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """Exact assignment minimising the summed squared distance of points to their cell centres."""
    n, cells = len(points), cols * rows
    if n > LAP_MAX:
        raise ValueError(f"grid method 'lap' needs a dense {cells}x{cells} cost matrix: limited to {LAP_MAX} "
                         f"items, this collection has {n}; use flas, rasterfairy or sorted")
    p = _normalise(points, cols, rows)
    cy, cx = np.divmod(np.arange(cells), cols)
    centres = np.stack([cx, cy], axis=1).astype(np.float64)
    cost = np.zeros((cells, cells), np.float64)  # rows beyond n: empty cells, free anywhere
    cost[:n] = ((p[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    from lapjv import lapjv  # pinned; imported here so importing cviz.arrange.grid stays cheap

    row_to_col, _, _ = lapjv(cost)
    return np.asarray(row_to_col[:n], dtype=np.int64)


def assign_sorted(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    n = len(points)
    order_y = np.argsort(points[:, 1], kind="stable")
    cells = np.empty(n, np.int64)
    for r in range(rows):
        members = order_y[r * cols : (r + 1) * cols]
        if len(members) == 0:
            break
        by_x = members[np.argsort(points[members, 0], kind="stable")]
        # Centre a short last row instead of leaving its gap at one side.
        offset = (cols - len(by_x)) // 2
        cells[by_x] = r * cols + offset + np.arange(len(by_x))
    return cells


def assign_rasterfairy(points: np.ndarray, cols: int, rows: int) -> np.ndarray:
    from cviz.arrange.rasterfairy_compat import transform_point_cloud

    xy = transform_point_cloud(points, cols, rows)
    return xy[:, 1] * cols + xy[:, 0]


def assign_flas(features: np.ndarray, cols: int, rows: int, seed_cells: np.ndarray | None = None,
                seed: int = 0, dims: int = FLAS_DIMS) -> np.ndarray:
    """FLAS on the leading ``dims`` feature columns, starting from ``seed_cells`` when given."""
    import vc_flas

    n = len(features)
    x = np.ascontiguousarray(features[:, :dims], dtype=np.float32)
    ids = np.full(rows * cols, -1, np.int32)
    ids[np.arange(n) if seed_cells is None else seed_cells] = np.arange(n, dtype=np.int32)
    ids = ids.reshape(rows, cols)
    frozen = ids == -1  # empty cells stay where the seed put them
    grid = vc_flas.Grid(x, ids, frozen, np.arange(n, dtype=np.uint32))
    arrangement = vc_flas.flas(grid, wrap=False, seed=seed)
    sorting = arrangement.sorting.reshape(-1)
    cells = np.empty(n, np.int64)
    placed = np.flatnonzero(sorting >= 0)
    cells[sorting[placed]] = placed
    return cells


def assign_keeping(points: np.ndarray, keep: dict[int, tuple[int, int]],
                   cols: int, rows: int) -> tuple[np.ndarray, int, int, str]:
    """Items in ``keep`` (item -> (col, row) on the previous map) stay in their cells; the others
    take, one by one, the free cell nearest to the mean cell of their five nearest kept items (in
    the t-SNE layout). (Re-sorting the new items with FLAS, old ones frozen, measured worse.) New
    items can only go where cells are free (the grid grows at its right and bottom edges), so a
    full recompute places them better: the price of a map that does not move.

    Returns (cells, cols, rows, how): the grid grows when a kept cell lies outside (cols, rows).
    """
    n = len(points)
    cols = max(cols, 1 + max(c for c, _ in keep.values()))
    rows = max(rows, math.ceil(n / cols), 1 + max(r for _, r in keep.values()))
    cells = np.full(n, -1, np.int64)
    taken = np.zeros(cols * rows, bool)
    for item, (c, r) in keep.items():
        cells[item] = r * cols + c
        taken[r * cols + c] = True
    new = np.flatnonzero(cells < 0)
    if len(new) == 0:
        return cells, cols, rows, "kept"
    # Where each new item belongs: the mean cell of its nearest kept items in the t-SNE layout.
    from scipy.spatial import cKDTree

    old = np.fromiter(keep.keys(), np.int64)
    k = min(5, len(old))
    _, nearest = cKDTree(points[old].astype(np.float64)).query(points[new].astype(np.float64), k=k)
    old_xy = np.array([keep[int(i)] for i in old], np.float64)
    target = old_xy[np.asarray(nearest).reshape(len(new), k)].mean(axis=1)
    free = np.flatnonzero(~taken)
    fy, fx = np.divmod(free, cols)
    free_xy = np.stack([fx, fy], axis=1).astype(np.float64)
    available = np.ones(len(free), bool)
    for k, item in enumerate(new):
        d = ((free_xy - target[k]) ** 2).sum(axis=1)
        d[~available] = np.inf
        j = int(np.argmin(d))
        available[j] = False
        cells[item] = free[j]
    how = "kept + nearest free cell"
    return cells, cols, rows, how


def assign_grid(points: np.ndarray, cell_w: int, cell_h: int, method: str = "auto",
                features: np.ndarray | None = None, seed: int = 0,
                keep: dict[int, tuple[int, int]] | None = None, refine: bool = True,
                graph: KnnGraph | None = None) -> GridResult:
    """Assign the N items to distinct cells of a grid about as wide as tall in pixels.

    Parameters
    ----------
    points : (N, 2) array
        The t-SNE points; every method but ``flas`` sorts them onto the grid.
    cell_w, cell_h : int
        The cell size in pixels: the grid has :func:`grid_shape` columns and rows, at least N cells.
    method : str
        One of :data:`METHODS`. ``auto`` is exact (``lap``) where that is cheap, FLAS above.
    features : (N, K) array, optional
        The PCA rows: ``flas`` sorts on their leading :data:`FLAS_DIMS` components, and the
        refinement keeps their nearest neighbours adjacent. Needed by ``refine`` unless ``graph`` is given.
    seed : int
        Seeds FLAS's random start: the same inputs give the same grid.
    keep : dict of item -> (col, row), optional
        A stable update: those items keep their cells (:func:`assign_keeping`); with ``refine`` the
        new items are then refined among themselves, the kept ones frozen.
    refine : bool
        Swap cells afterwards to keep feature-space neighbours adjacent (:mod:`cviz.arrange.refine`).
    graph : KnnGraph, optional
        A prebuilt kNN graph of ``features`` (the tsne stage's search, reused).

    Returns
    -------
    GridResult
        The grid's shape, each item's flat cell index (``row * cols + col``), the method used and a
        note when it differs from the one asked for.

    Cost: ``lap`` O(N^3) time and N^2 memory (bounded by :data:`LAP_MAX`); FLAS and the
    refinement about linear in N per pass.
    """
    n = len(points)
    cols, rows = grid_shape(n, cell_w, cell_h)
    note = None
    if method not in METHODS:
        raise ValueError(f"unknown grid method {method!r}; choose one of {', '.join(METHODS)}")
    if keep:
        cells, cols, rows, how = assign_keeping(points, keep, cols, rows)
        if len(np.unique(cells)) != n or cells.min() < 0 or cells.max() >= cols * rows:
            raise AssertionError("stable grid update put two items in one cell or outside the grid")
        refined = None
        if refine and (graph is not None or features is not None) and len(keep) < n:
            frozen = np.zeros(n, bool)
            frozen[list(keep)] = True
            refined = refine_cells(cells, cols, rows, graph or KnnGraph.from_features(features, REFINE_K),
                                   frozen=frozen)
            cells = refined.cells
        return GridResult(cols, rows, cells, how,
                          f"{len(keep)} item(s) kept their cells; {n - len(keep)} new item(s) placed", refined)
    if method == "auto":
        method = "lap" if n <= LAP_AUTO else AUTO_METHOD
    if method in ("flas", "flas_tsne") and (cols < 2 or rows < 2 or n < 4):
        method, note = "sorted", f"{n} item(s) on a {cols}x{rows} grid: too small for flas, used sorted"
    if method == "flas":
        if features is None:
            raise ValueError("grid method 'flas' sorts the PCA features: pass features")
        cells = assign_flas(features, cols, rows, seed_cells=assign_sorted(points, cols, rows), seed=seed)
    elif method == "flas_tsne":
        cells = assign_flas(points, cols, rows, seed_cells=assign_sorted(points, cols, rows), seed=seed)
    elif method == "lap":
        cells = assign_lap(points, cols, rows)
    elif method == "rasterfairy":
        cells = assign_rasterfairy(points, cols, rows)
    else:
        cells = assign_sorted(points, cols, rows)
    if len(np.unique(cells)) != n or cells.min(initial=0) < 0 or cells.max(initial=0) >= cols * rows:
        raise AssertionError(f"grid method {method} put two items in one cell or outside the grid")
    refined = None
    if refine and n >= 4 and (graph is not None or features is not None):
        refined = refine_cells(cells, cols, rows, graph or KnnGraph.from_features(features, REFINE_K))
        cells = refined.cells
        if len(np.unique(cells)) != n or cells.min(initial=0) < 0 or cells.max(initial=0) >= cols * rows:
            raise AssertionError("grid refinement put two items in one cell or outside the grid")
    return GridResult(cols, rows, cells, method, note, refined)
