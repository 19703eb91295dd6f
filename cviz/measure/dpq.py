"""How well a grid arrangement keeps similar items together: DPQ and mean neighbour distance.

- **DPQ_p** (Distance Preservation Quality, Barthel et al., "Fast Linear Assignment Sorting", 2023;
  reference implementation ``vc_flas.metrics.distance_preservation_quality``): for every item,
  the other items are ordered by grid distance and by feature distance; DPQ compares how fast the
  mean feature distance of the k nearest grid neighbours grows against the best possible (the k
  nearest feature neighbours), summarised by a p-norm over k (p = 16 stresses small k, i.e. the
  items a viewer sees next to each other). Higher is better, 1 is perfect; a random
  arrangement scores well below an ordered one (0.2 to 0.3 on the Gaussian test data).
- **mean neighbour distance**: mean feature distance between horizontally and vertically adjacent
  cells (``vc_flas.metrics.mean_neighbor_distance``); lower is smoother.

The reference DPQ builds several dense N x N float64 matrices (about 7 GB at 13,000 items, 500 GB
at 100,000). :func:`dpq` therefore uses vc-flas itself up to ``EXACT_MAX`` items and, above that,
the same formula on a random sample of query items (every row of the two sorted distance matrices
is an item's own view of the map; DPQ averages rows, so a uniform row sample estimates it without
bias in the averages), computed in chunks so memory stays at a few hundred MB.

Cost in N: exact (vc-flas) O(N^2) memory up to ``EXACT_MAX``; above, O(S N) time for S sampled
query items, memory of a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXACT_MAX = 3000
SAMPLE_ROWS = 1000
DPQ_P = 16


@dataclass
class LayoutQuality:
    dpq: float
    p: int
    mean_neighbour_distance: float
    rows_used: int  # query items DPQ was computed over (= N when exact)
    exact: bool

    def to_values(self) -> dict[str, float | int | str]:
        return {
            f"dpq_{self.p}": round(self.dpq, 4),
            "mean_neighbour_distance": round(self.mean_neighbour_distance, 4),
            "dpq_rows": self.rows_used,
            "dpq_method": "exact (vc-flas)" if self.exact else f"estimate on {self.rows_used} sampled items",
        }


def sorted_grid(features: np.ndarray, cells: np.ndarray, cols: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows x cols x D features in grid order, rows x cols valid mask) for vc-flas' metrics."""
    n, d = features.shape
    grid = np.zeros((rows * cols, d), np.float32)
    valid = np.zeros(rows * cols, bool)
    grid[cells] = features
    valid[cells] = True
    return grid.reshape(rows, cols, d), valid.reshape(rows, cols)


def mean_neighbour_distance(features: np.ndarray, cells: np.ndarray, cols: int, rows: int,
                            band_bytes: int = 32 << 20) -> float:
    """Mean feature distance (L2, float64) between horizontally and vertically adjacent occupied cells:
    ``vc_flas.metrics.mean_neighbor_distance(grid, valid)`` of the sorted grid, computed over bands
    of grid rows so that memory stays that of a band (``band_bytes`` of float64 features) instead of
    the rows x cols x D grid and its float64 copies (about 8 GB at 1,000,000 x 256).

    ``features``: N x D rows; ``cells``: each row's cell (row-major on ``cols`` x ``rows``).
    """
    n, d = features.shape
    where = np.full(rows * cols, -1, np.int64)
    where[np.asarray(cells, np.int64)] = np.arange(n)
    band = max(1, int(band_bytes // max(1, cols * d * 8)))
    total, count = 0.0, 0
    last = last_valid = None  # the previous band's bottom row: vertical pairs across the seam
    for r0 in range(0, rows, band):
        idx = where[r0 * cols:min(rows, r0 + band) * cols].reshape(-1, cols)
        valid = idx >= 0
        g = np.zeros(idx.shape + (d,), np.float64)
        g[valid] = features[idx[valid]]
        pairs = [(g[:, :-1], g[:, 1:], valid[:, :-1] & valid[:, 1:]), (g[:-1], g[1:], valid[:-1] & valid[1:])]
        if last is not None:
            pairs.append((last, g[0], last_valid & valid[0]))
        for a, b, both in pairs:
            total += float(np.linalg.norm(a - b, axis=-1)[both].sum())
            count += int(both.sum())
        last, last_valid = g[-1].copy(), valid[-1].copy()
    return total / count if count else 0.0


def _gain(cum_mean_k: np.ndarray, d_mean: float) -> np.ndarray:
    return np.clip((d_mean - cum_mean_k) / d_mean, 0, np.inf)


def _float64_blocks(features: np.ndarray, block: int):
    """``features`` as float64, ``block`` rows at a time."""
    for j0 in range(0, len(features), block):
        yield np.asarray(features[j0:j0 + block], np.float64)


def dpq_sampled(features: np.ndarray, cells: np.ndarray, cols: int, p: int = DPQ_P,
                query: np.ndarray | None = None, chunk_bytes: int = 256 << 20) -> float:
    """DPQ_p over the query items ``query`` (all items when None), in row chunks.

    Same formula as vc-flas (ties in grid distance broken by feature distance), so with every item
    as a query it equals the reference up to float rounding. ``chunk_bytes``: the budget of a chunk
    of query rows' distance arrays (three float64 rows of N each) and of a float64 block of
    feature rows; each chunk converts every feature row once, so larger chunks mean fewer passes
    (at 300,000 x 256 and 100 queries: 8.2 CPU s with 64 MB, 6.1 s with 256 MB; the N x D float64
    copy this replaces took 6.9 s).
    """
    n = len(features)
    if n < 3:
        return 1.0
    q_idx = np.arange(n) if query is None else np.asarray(query)
    pos = np.stack(np.divmod(cells.astype(np.int64), cols), axis=1).astype(np.float64)  # (row, col)
    block = max(1, int(chunk_bytes // (8 * features.shape[1])))  # feature rows made float64 at a time
    sq = np.concatenate([(b * b).sum(axis=1) for b in _float64_blocks(features, block)])
    chunk = max(1, int(chunk_bytes // (8 * n * 3)))
    sum_hd = np.zeros(n - 1)  # sum over query rows of cumulative-mean feature distance by feature rank
    sum_2d = np.zeros(n - 1)  # ... by grid rank
    sum_d = 0.0
    ks = np.arange(1, n)
    for s in range(0, len(q_idx), chunk):
        rows_i = q_idx[s:s + chunk]
        xq = np.asarray(features[rows_i], np.float64)
        d = np.empty((len(rows_i), n))
        for j0, xb in zip(range(0, n, block), _float64_blocks(features, block)):  # never an N x D float64 copy
            d[:, j0:j0 + len(xb)] = xq @ xb.T
        d = np.sqrt(np.maximum(sq[rows_i, None] - 2 * d + sq[None, :], 0))
        d[np.arange(len(rows_i)), rows_i] = 0.0
        hd_sorted = np.sort(d, axis=1)
        sum_d += hd_sorted[:, 1:].sum()
        sum_hd += (np.cumsum(hd_sorted[:, 1:], axis=1) / ks).sum(axis=0)
        del hd_sorted
        spatial = ((pos[rows_i, None, :] - pos[None, :, :]) ** 2).sum(axis=2)
        scale = d.max() * 1.0001 if d.max() > 0 else 1.0
        key = np.sort(spatial + d / scale, axis=1)
        by_grid = np.fmod(key, 1) * scale
        sum_2d += (np.cumsum(by_grid[:, 1:], axis=1) / ks).sum(axis=0)
    m = len(q_idx)
    d_mean = sum_d / (m * (n - 1))
    if d_mean <= 0:
        return 1.0
    g2d = _gain(sum_2d / m, d_mean)
    ghd = _gain(sum_hd / m, d_mean)
    denom = np.linalg.norm(ghd, ord=p)
    return float(np.linalg.norm(g2d, ord=p) / denom) if denom > 0 else 1.0


def dpq(features: np.ndarray, cells: np.ndarray, cols: int, rows: int, p: int = DPQ_P,
        sample: int = SAMPLE_ROWS, seed: int = 0) -> tuple[float, int, bool]:
    """(DPQ_p, query items used, exact?) of the arrangement ``cells`` of ``features``."""
    n = len(features)
    if n < 3:  # no ranking to preserve: every arrangement is perfect
        return 1.0, n, True
    if n <= EXACT_MAX:
        from vc_flas import metrics

        grid, valid = sorted_grid(features, cells, cols, rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = float(metrics.distance_preservation_quality(grid.astype(np.float64), valid, p=p))
        # NaN only when all items are identical (no distance to preserve): perfect, too.
        return (1.0 if np.isnan(value) else value), n, True
    query = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
    return dpq_sampled(features, cells, cols, p, query), len(query), False


def layout_quality(features: np.ndarray, cells: np.ndarray, cols: int, rows: int, p: int = DPQ_P,
                   sample: int = SAMPLE_ROWS, seed: int = 0) -> LayoutQuality:
    value, used, exact = dpq(features, cells, cols, rows, p, sample, seed)
    return LayoutQuality(value, p, mean_neighbour_distance(features, cells, cols, rows), used, exact)
