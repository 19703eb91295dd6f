"""How well a layout keeps similar items together, in numbers a curator can compare: kNN
preservation (of the feature-space neighbours, by the t-SNE points and the grid) and label
agreement (with a chance level). The grid's DPQ and mean neighbour distance are in cviz.measure.dpq.

Cost in N: the feature neighbours of at most ``KNN_SAMPLE`` query items above
``KNN_EXACT_MAX`` (O(S N D)); the layout neighbours by a k-d tree (O(N log N)); the label
measures O(S k) sparse products. Memory O(N) for the label matrix and the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

# -- neighbourhood measures: kNN preservation and label agreement --------------------------------
# Feature-space neighbours are computed once (cosine on L2-normalised vectors, cviz.measure.knn)
# and reused by every measure. Below KNN_EXACT_MAX items every item is a query; above, a fixed
# random sample of KNN_SAMPLE items (seed 0) is, which estimates the same means (each is an average
# over items) to about +-0.01 while keeping the N x N similarity pass to 5,000 rows.
KNN_EXACT_MAX = 20000
KNN_SAMPLE = 5000
KNN_KS = (16, 50)
TSNE_K = 8  # t-SNE layout: an item's 8 nearest points in 2-D, as many as its grid neighbours
FEATURE_P = 10  # P@10 on the features
SHUFFLES = 5  # label shuffles averaged for a chance level
OFFSETS8 = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))  # (dx, dy)


def query_items(n: int, seed: int = 0, exact_max: int | None = None, sample: int | None = None) -> np.ndarray:
    """The items every neighbourhood measure averages over: all below ``KNN_EXACT_MAX``, else a
    sorted uniform sample of ``KNN_SAMPLE`` drawn with ``seed``."""
    exact_max = KNN_EXACT_MAX if exact_max is None else exact_max
    sample = KNN_SAMPLE if sample is None else sample
    if n <= exact_max:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))


def grid_neighbours(cells: np.ndarray, cols: int, rows: int, items: np.ndarray | None = None) -> np.ndarray:
    """(len(items) x 8) the items in the 8 cells around each item's cell; -1 where empty or outside."""
    cells = np.asarray(cells, np.int64)
    occupant = np.full(cols * rows, -1, np.int64)
    occupant[cells] = np.arange(len(cells))
    own = cells if items is None else cells[np.asarray(items)]
    cy, cx = np.divmod(own, cols)
    out = np.full((len(own), 8), -1, np.int64)
    for j, (dx, dy) in enumerate(OFFSETS8):
        x, y = cx + dx, cy + dy
        inside = (x >= 0) & (x < cols) & (y >= 0) & (y < rows)
        out[inside, j] = occupant[y[inside] * cols + x[inside]]
    return out


def layout_neighbours(points: np.ndarray, k: int = TSNE_K, items: np.ndarray | None = None) -> np.ndarray:
    """(len(items) x k) the k nearest other points in the 2-D layout (Euclidean), nearest first."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64)
    q = np.arange(len(pts)) if items is None else np.asarray(items)
    k = min(k, len(pts) - 1)
    if k <= 0:
        return np.full((len(q), 0), -1, np.int64)
    _, idx = cKDTree(pts).query(pts[q], k=k + 1)
    idx = np.asarray(idx).reshape(len(q), k + 1)
    out = np.empty((len(q), k), np.int64)
    for r, (row, item) in enumerate(zip(idx, q)):  # drop the item itself (or the farthest, for a tie)
        others = row[row != item]
        out[r] = others[:k]
    return out


def knn_preservation(neighbours: np.ndarray, knn: np.ndarray) -> float:
    """Mean over items of the share of their (existing, != -1) layout neighbours found among their
    feature-space nearest neighbours ``knn`` (same rows); items without a neighbour are skipped."""
    valid = neighbours >= 0
    hit = (neighbours[:, :, None] == knn[:, None, :]).any(axis=2) & valid
    count = valid.sum(axis=1)
    has = count > 0
    if not has.any():
        return 1.0
    return float((hit.sum(axis=1)[has] / count[has]).mean())


class LabelSets:
    """Each item's set of labels (``a|b`` is two labels), as a sparse item x label matrix, so that
    "do these two items share a label" is one vectorised product for millions of pairs."""

    def __init__(self, values: Sequence[str]) -> None:
        from scipy import sparse

        vocab: dict[str, int] = {}
        indptr, indices = [0], []
        for v in values:
            parts = sorted({p.strip() for p in (v or "").split("|") if p.strip()})
            indices.extend(vocab.setdefault(p, len(vocab)) for p in parts)
            indptr.append(len(indices))
        self.n = len(values)
        self.matrix = sparse.csr_matrix((np.ones(len(indices), np.int8), indices, indptr),
                                        shape=(self.n, max(len(vocab), 1)))
        self.labelled = np.diff(self.matrix.indptr) > 0

    def shuffled(self, rng: np.random.Generator) -> "LabelSets":
        """The same labels dealt at random to the labelled items (unlabelled ones stay unlabelled)."""
        out = object.__new__(LabelSets)
        who = np.flatnonzero(self.labelled)
        order = np.arange(self.n)
        order[who] = rng.permutation(who)
        out.n, out.matrix, out.labelled = self.n, self.matrix[order], self.labelled
        return out

    def share(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """For item index arrays ``a``, ``b`` (same shape, -1 allowed): both labelled and sharing one."""
        a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
        ok = (a >= 0) & (b >= 0)
        out = np.zeros(len(a), bool)
        if ok.any():
            prod = self.matrix[a[ok]].multiply(self.matrix[b[ok]])
            out[ok] = np.asarray(prod.sum(axis=1)).ravel() > 0
        return out


def label_agreement(neighbours: np.ndarray, items: np.ndarray, labels: LabelSets) -> float | None:
    """Mean over labelled ``items`` of the share of their labelled neighbours (rows of
    ``neighbours``) that share a label with them; None when no item has a labelled neighbour."""
    items = np.asarray(items)
    nb = np.where(neighbours >= 0, neighbours, -1)
    nb_labelled = (nb >= 0) & labels.labelled[np.maximum(nb, 0)]
    rows = labels.labelled[items][:, None] & nb_labelled
    mine = np.broadcast_to(items[:, None], nb.shape)
    hits = labels.share(np.where(rows, mine, -1), np.where(rows, nb, -1)).reshape(nb.shape)
    count = rows.sum(axis=1)
    has = count > 0
    if not has.any():
        return None
    return float((hits.sum(axis=1)[has] / count[has]).mean())


def with_chance(neighbours: np.ndarray, items: np.ndarray, labels: LabelSets, seed: int = 0,
                shuffles: int = SHUFFLES) -> tuple[float | None, float | None]:
    """(agreement, chance): chance is the same measure with labels shuffled over the same cells
    (the same neighbour structure), averaged over ``shuffles`` fixed-seed shuffles."""
    score = label_agreement(neighbours, items, labels)
    if score is None:
        return None, None
    rng = np.random.default_rng(seed)
    chance = [label_agreement(neighbours, items, labels.shuffled(rng)) for _ in range(shuffles)]
    return score, float(np.mean([c for c in chance if c is not None]))


@dataclass
class FeatureNeighbours:
    """Feature-space nearest neighbours of the query items, computed once for every measure."""

    queries: np.ndarray  # item indices the measures average over
    knn: np.ndarray  # len(queries) x max(KNN_KS), nearest first
    exact: bool
    unit: np.ndarray  # the vectors searched (kept for label-restricted neighbour searches)
    metric: str = "cosine"
    distances: np.ndarray | None = None  # same shape as knn

    @property
    def method(self) -> str:
        return ("exact" if self.exact else f"sampled: {len(self.queries)} items, seed 0") + f", {self.metric}"


def feature_neighbours(features: np.ndarray, seed: int = 0, k: int = max(KNN_KS),
                       metric: str = "cosine") -> FeatureNeighbours:
    """``metric="euclidean"`` on the PCA components of L2-normalised features ranks neighbours as
    cosine on the features themselves does (|a - b|^2 = 2 - 2 cos for unit vectors), up to the
    variance PCA leaves out: what the pipeline's stages use."""
    from cviz.measure.knn import feature_knn, unit_rows

    u = unit_rows(features) if metric == "cosine" else np.asarray(features, np.float32)
    q = query_items(len(u), seed)
    idx, dist = feature_knn(u, k, q, normalised=True, metric=metric, return_distance=True)
    return FeatureNeighbours(q, idx, len(q) == len(u), u, metric, dist)


def _labelled_feature_knn(fn: FeatureNeighbours, labels: LabelSets, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(queries, k nearest labelled items of each labelled query) in feature space."""
    from cviz.measure.knn import feature_knn

    who = np.flatnonzero(labels.labelled)
    q = fn.queries[labels.labelled[fn.queries]]
    if len(who) == labels.n:  # everything labelled: the shared neighbours already answer
        return q, fn.knn[:, :k]
    sub = np.searchsorted(who, q)
    return q, who[feature_knn(fn.unit[who], k, sub, normalised=True, metric=fn.metric)]


def _labelled_layout_knn(points: np.ndarray, queries: np.ndarray, labels: LabelSets, k: int) -> tuple[np.ndarray, np.ndarray]:
    who = np.flatnonzero(labels.labelled)
    q = queries[labels.labelled[queries]]
    if len(who) == labels.n:
        return q, layout_neighbours(points, k, q)
    return q, who[layout_neighbours(points[who], k, np.searchsorted(who, q))]


def _r(v: float | None) -> float:
    return round(float(v), 4) if v is not None else 0.0


def neighbourhood_quality(fn: FeatureNeighbours, points: np.ndarray | None = None,
                          grid: tuple[np.ndarray, int, int] | None = None,
                          labels: dict[str, Sequence[str]] | None = None, seed: int = 0) -> dict[str, float | str]:
    """kNN preservation of the t-SNE ``points`` and/or the ``grid`` (cells, cols, rows), and per
    label column: P@10 on the features, P@8 on the t-SNE layout, grid 8-neighbour agreement, each
    with its chance level. Keys are flat and numeric (plotted per partition), plus two texts."""
    out: dict[str, float | str] = {"knn_method": fn.method, "knn_queries": int(len(fn.queries))}
    tsne_nb = layout_neighbours(points, TSNE_K, fn.queries) if points is not None else None
    grid_nb = grid_neighbours(grid[0], grid[1], grid[2], fn.queries) if grid is not None else None
    for k in KNN_KS:
        knn = fn.knn[:, :k]
        if tsne_nb is not None:
            out[f"knn{k}_tsne"] = _r(knn_preservation(tsne_nb, knn))
        if grid_nb is not None:
            out[f"knn{k}_grid"] = _r(knn_preservation(grid_nb, knn))
    def put(key: str, neighbours: np.ndarray, items: np.ndarray, sets: LabelSets) -> None:
        score, chance = with_chance(neighbours, items, sets, seed)
        if score is not None:  # no labelled neighbour at all: leave the key out (no NaN metadata)
            out[key], out[f"{key}_chance"] = _r(score), _r(chance)

    for column, values in (labels or {}).items():
        sets = LabelSets(list(values))
        if sets.labelled.sum() <= FEATURE_P:
            continue
        q, nb = _labelled_feature_knn(fn, sets, FEATURE_P)
        put(f"label_{column}_features", nb, q, sets)
        if points is not None:
            q, nb = _labelled_layout_knn(points, fn.queries, sets, TSNE_K)
            put(f"label_{column}_tsne", nb, q, sets)
        if grid_nb is not None:
            put(f"label_{column}_grid", grid_nb, fn.queries, sets)
    out["quality_line"] = quality_line(out, list((labels or {}).keys()))
    return out


def quality_line(values: dict[str, float | str], columns: Sequence[str]) -> str:
    """One line, features -> t-SNE -> grid, showing where neighbourhoods are lost."""
    def chain(prefix: str, first: str | None) -> str:
        steps = [(s, values.get(f"{prefix}_{s}" if s != "features" else f"{prefix}_features"))
                 for s in ("features", "tsne", "grid") if not (s == "features" and first is None)]
        return " -> ".join(f"{s} {v:.3f}" for s, v in steps if isinstance(v, float) and v == v)

    parts = []
    for k in KNN_KS:
        c = chain(f"knn{k}", None)
        if c:
            parts.append(f"kNN{k} preserved: {c}")
    for column in columns:
        c = chain(f"label_{column}", "features")
        if c:
            chance = values.get(f"label_{column}_grid_chance", values.get(f"label_{column}_features_chance"))
            parts.append(f"{column} agreement: {c} (chance {chance:.3f})" if isinstance(chance, float) else c)
    return "; ".join(parts)
