"""Refine a grid arrangement by swapping cells to keep feature-space neighbours next to each other.

Any grid method (FLAS, LAP, RasterFairy) fits the 2-D t-SNE layout or the features as a whole;
none of them looks at what a viewer sees, an item's 8 surrounding cells. This pass does: it
maximises directly

    E = sum over pairs of 8-adjacent cells (a, b) of W(item at a, item at b)

where W is the symmetrised k-nearest-neighbour graph of the features (cosine, k = 50; each
direction in which b is a's r-th nearest adds 1 / (1 + r / 8), so the nearest weigh most and
mutual neighbours count twice). That is the kNN preservation of cviz.measure.quality with a soft edge at
k, smooth enough to climb. Measured on imageplot (benchmarks/bench_quality.py and the README):
a plain 16-NN graph raises kNN16 most but costs label agreement; plain 50-NN raises kNN50 and
labels but not kNN16; the rank weights keep most of both.

Moves are swaps of two cells at a fixed offset (dx, dy) within ``radius`` (an empty cell counts as
an item with no neighbours, so items can also move into holes). For one offset, swaps anchored on
a lattice of spacing (|dx| + 2, |dy| + 2) touch disjoint 8-neighbourhoods, so their gains are
independent: they are evaluated together in numpy and every swap with a positive gain is applied
at once. A round runs every offset over every lattice phase; rounds repeat until fewer than
``min_share`` of the items move, ``rounds`` is reached or the time budget is spent. E never
decreases, so the result is at least as good as the input on this objective.

Cost in N: the graph holds 2 N k edges (sorted int64 keys + float32 weights, about 1.2 GB at
1,000,000 items and k = 50 before de-duplication); one round evaluates every offset over the
whole grid, O(N r^2 8 log(N k)) with lookups by binary search; rounds stop at ``MIN_SHARE``
or the time budget, so time is bounded and memory O(N k).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cviz.measure.knn import feature_knn

REFINE_K = 50
RANK_SCALE = 8.0  # weight of the r-th nearest neighbour: 1 / (1 + r / RANK_SCALE)
REFINE_RADIUS = 2
REFINE_ROUNDS = 12
MIN_SHARE = 0.002  # stop once a round moves fewer than 0.2% of the items
OFFSETS8 = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))


@dataclass
class RefineResult:
    cells: np.ndarray
    rounds: int
    swaps: int
    gain: float  # objective after / before - 1 (0 when nothing improved)
    seconds: float


class KnnGraph:
    """Symmetrised kNN graph as sorted pair keys (a * n + b) and weights, for vectorised lookups."""

    def __init__(self, knn: np.ndarray, n: int, weights: np.ndarray | None = None) -> None:
        """``knn``: (n x k) neighbour indices; ``weights`` (same shape, default 1) per edge;
        the graph is symmetrised by summing both directions."""
        a = np.repeat(np.arange(n, dtype=np.int64), knn.shape[1])
        b = knn.ravel().astype(np.int64)
        w = np.ones(len(a), np.float32) if weights is None else np.asarray(weights, np.float32).ravel()
        keys = np.concatenate([a * n + b, b * n + a])
        self.keys, inverse = np.unique(keys, return_inverse=True)
        self.weights = np.bincount(inverse, weights=np.concatenate([w, w]), minlength=len(self.keys)).astype(np.float32)
        self.n = n

    @classmethod
    def ranked(cls, knn: np.ndarray) -> "KnnGraph":
        """The refinement's graph from (n x k) neighbours, nearest first: rank-weighted edges."""
        w = 1.0 / (1.0 + np.arange(knn.shape[1]) / RANK_SCALE)
        return cls(knn, len(knn), np.broadcast_to(w, knn.shape))

    @classmethod
    def from_features(cls, features: np.ndarray, k: int = REFINE_K, metric: str = "euclidean") -> "KnnGraph":
        """Euclidean on PCA components of L2-normalised features = cosine on the features; exact up
        to cviz.measure.quality.KNN_EXACT_MAX items, Annoy above (the exact N x N pass would take minutes)."""
        from cviz.measure import quality
        from cviz.measure.knn import approximate_knn

        if len(features) > quality.KNN_EXACT_MAX and metric == "euclidean":
            return cls.ranked(approximate_knn(features, k)[0])
        return cls.ranked(feature_knn(features, k, metric=metric))

    def weight(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """W(a, b) elementwise; 0 where either is -1 (an empty cell or outside the grid)."""
        ok = (a >= 0) & (b >= 0)
        key = np.where(ok, a * self.n + b, -1)
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        return np.where(ok & (self.keys[pos] == key), self.weights[pos], 0.0)


def _neighbour_cells(cols: int, rows: int) -> np.ndarray:
    """(cols*rows x 8) flat index of each cell's 8 neighbours; cols*rows (a sentinel) outside."""
    y, x = np.divmod(np.arange(cols * rows), cols)
    out = np.full((cols * rows, 8), cols * rows, np.int64)
    for j, (dx, dy) in enumerate(OFFSETS8):
        nx, ny = x + dx, y + dy
        inside = (nx >= 0) & (nx < cols) & (ny >= 0) & (ny < rows)
        out[inside, j] = ny[inside] * cols + nx[inside]
    return out


def _moves(cols: int, rows: int, radius: int) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """Every (anchor cells, partner cells, adjacent?) batch of independent swaps."""
    y, x = np.divmod(np.arange(cols * rows), cols)
    out = []
    for dy in range(0, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy == 0 and dx <= 0:
                continue
            sx, sy = abs(dx) + 2, abs(dy) + 2
            fits = (x + dx >= 0) & (x + dx < cols) & (y + dy < rows)
            for ox in range(sx):
                for oy in range(sy):
                    c = np.flatnonzero(fits & (x % sx == ox) & (y % sy == oy))
                    if len(c):
                        out.append((c, c + dy * cols + dx, max(abs(dx), abs(dy)) == 1))
    return out


def objective(cells: np.ndarray, cols: int, rows: int, graph: KnnGraph) -> float:
    occ = np.full(cols * rows + 1, -1, np.int64)
    occ[cells] = np.arange(len(cells))
    nb = _neighbour_cells(cols, rows)
    items = occ[:-1]
    return float(graph.weight(np.repeat(items, 8), occ[nb].ravel()).sum() / 2)


def refine(cells: np.ndarray, cols: int, rows: int, graph: KnnGraph, radius: int = REFINE_RADIUS,
           rounds: int = REFINE_ROUNDS, min_share: float = MIN_SHARE, budget_s: float = 60.0,
           frozen: np.ndarray | None = None) -> RefineResult:
    """Swap cells of the arrangement while E (the module docstring's objective) rises.

    Parameters
    ----------
    cells : (N,) int array
        Each item's flat cell index (``row * cols + col``) on the grid to refine; not modified.
    cols, rows : int
        The grid's shape; cells without an item are holes that items may move into.
    graph : KnnGraph
        The weighted kNN graph of the features (:class:`KnnGraph`) whose adjacency E rewards.
    radius : int
        Largest offset tried for a swap, in cells: 1 only swaps neighbours; larger values let an item
        travel further per round at (2 * radius + 1)^2 - 1 offsets per round.
    rounds : int
        At most this many rounds over every offset and lattice phase.
    min_share : float
        Stop once a round moves fewer than this share of the items (converged).
    budget_s : float
        Stop after this many seconds, whatever is left (the result is never worse than the input).
    frozen : (N,) bool array, optional
        Items that must keep their cells (a stable update: items already on the map).

    Returns
    -------
    RefineResult
        The refined cells, the rounds run, the swaps made, the relative gain in E and the seconds spent.

    Cost: each round O(N x offsets) in vectorised numpy; E is evaluated on the 8-neighbourhoods of the
    swapped cells only.
    """
    started = time.perf_counter()
    n = len(cells)
    occ = np.full(cols * rows + 1, -1, np.int64)  # the last slot: "outside", always empty
    occ[np.asarray(cells, np.int64)] = np.arange(n)
    locked = np.zeros(n + 1, bool)  # index -1 (empty) maps to the last slot: never locked
    if frozen is not None:
        locked[:n] = frozen
    nb = _neighbour_cells(cols, rows)
    moves = _moves(cols, rows, radius)
    before = objective(cells, cols, rows, graph)
    total, done = 0, 0
    for done in range(1, rounds + 1):
        swapped = 0
        for c, d, adjacent in moves:
            i, j = occ[c], occ[d]
            live = ((i >= 0) | (j >= 0)) & ~locked[i] & ~locked[j]
            if not live.any():
                continue
            c, d, i, j = c[live], d[live], i[live], j[live]
            nc, nd = occ[nb[c]], occ[nb[d]]
            ii, jj = i[:, None], j[:, None]
            gain = (graph.weight(ii, nd).sum(1) + graph.weight(jj, nc).sum(1)
                    - graph.weight(ii, nc).sum(1) - graph.weight(jj, nd).sum(1))
            if adjacent:
                gain += 2 * graph.weight(i, j)
            go = gain > 1e-6
            if go.any():
                occ[c[go]], occ[d[go]] = j[go], i[go]
                swapped += int(go.sum())
        total += swapped
        if swapped < min_share * n or time.perf_counter() - started > budget_s:
            break
    where = np.flatnonzero(occ[:-1] >= 0)
    out = np.empty(n, np.int64)
    out[occ[where]] = where
    after = objective(out, cols, rows, graph)
    return RefineResult(out, done, total, (after / before - 1) if before > 0 else 0.0, time.perf_counter() - started)
