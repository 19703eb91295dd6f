"""The k-nearest-neighbour engine every stage shares, and neighbour agreement.

Searches: :func:`feature_knn` (exact, cosine or Euclidean, in row blocks so memory stays
O(block x N)), :func:`approximate_knn` (Annoy, for collections past the exact limit),
:func:`knn_to` (new points against a reference set) and :func:`updated_knn` (a stable update's lists
refreshed from the previous ones instead of a new N x N pass); :func:`knn_fits` checks a saved list
against a fresh search of a sample.

Neighbour agreement (:func:`neighbour_agreement`): for each item with a label, the fraction of its ``k`` nearest neighbours (cosine distance, the item
itself excluded, neighbours without a label skipped) that carry the same label, averaged over
items. It answers "do similar-looking images end up together?" with the collection's own
metadata (e.g. artist, period, department); chance level is the summed squared label frequency.
Multi-valued labels (``a|b``) count as shared when any value is shared.

Cost in N: :func:`feature_knn` and :func:`knn_to` are exact, O(Q N D) for Q queries, memory
O(block N) (a block of queries at a time); :func:`approximate_knn` (Annoy) O(N log N D) time,
O(N D) memory; :func:`updated_knn` O(N (k + new) D); :func:`merged_knn` O(N k D + new N D);
:func:`neighbour_agreement` O(N^2 D): only for evaluation on small sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Agreement:
    score: float
    chance: float
    items: int  # items with a label that were scored
    k: int


def _label_sets(labels: Sequence[str]) -> list[frozenset[str]]:
    return [frozenset(p.strip() for p in (v or "").split("|") if p.strip()) for v in labels]


def neighbour_agreement(features: np.ndarray, labels: Sequence[str], k: int = 10, block: int = 2048,
                        sample: int | None = None, seed: int = 0) -> Agreement | None:
    """Mean fraction of each labelled item's ``k`` nearest neighbours sharing a label; None if < k+1 labelled.

    ``sample``: score at most this many labelled items (a uniform sample drawn with ``seed``, the
    same for the same N), each against all labelled items, so the cost is ``sample x N x D``
    instead of ``N x N x D`` (13,000 x 1,280 features: 220 GFLOP for all, 33 GFLOP for 2,000).
    The mean of 2,000 per-item fractions in [0, 1] has a standard error of at most 0.011."""
    sets = _label_sets(labels)
    keep = np.array([bool(s) for s in sets])
    if keep.sum() <= k:
        return None
    x = features[keep].astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    kept = [s for s in sets if s]
    n = len(kept)
    queries = np.arange(n)
    if sample is not None and n > sample:
        queries = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    hits = 0.0
    for start in range(0, len(queries), block):
        q = queries[start : start + block]
        sims = x[q] @ x.T
        sims[np.arange(len(q)), q] = -np.inf
        nearest = np.argpartition(-sims, k, axis=1)[:, :k]
        for i, neigh in zip(q, nearest):
            mine = kept[i]
            hits += sum(1 for j in neigh if mine & kept[j]) / k
    counts: dict[str, int] = {}
    for s in kept:
        for v in s:
            counts[v] = counts.get(v, 0) + 1
    chance = float(sum((c / n) ** 2 for c in counts.values()))
    return Agreement(hits / len(queries), min(1.0, chance), len(queries), k)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """float32 copy of ``x`` with every row scaled to length 1 (cosine = dot product)."""
    y = np.asarray(x, dtype=np.float32).copy()
    y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return y


def feature_knn(x: np.ndarray, k: int, queries: np.ndarray | None = None, block: int | None = None,
                normalised: bool = False, metric: str = "cosine",
                return_distance: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` nearest rows of ``x`` for each query row (all rows when ``queries`` is
    None), nearest first, the row itself excluded: a blocked matrix product (``block`` query rows
    at a time, so memory is block x N float32 similarities and their int64 partition indices: by
    default about 2**25 of each, 400 MB) and a partial sort. ``metric``: ``cosine`` (rows
    L2-normalised here unless ``normalised``) or ``euclidean``; ``return_distance`` adds the
    distances (1 - cosine, or Euclidean).
    """
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric {metric!r}: cosine or euclidean")
    u = np.asarray(x, np.float32) if (normalised or metric == "euclidean") else unit_rows(x)
    q = np.arange(len(u)) if queries is None else np.asarray(queries, dtype=np.int64)
    out, dist = _blocked_knn(u, u, q, min(k, len(u) - 1), metric, True, block)
    return (out, dist) if return_distance else out


def knn_to(reference: np.ndarray, points: np.ndarray, k: int, block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(indices, Euclidean distances) of the ``k`` nearest ``reference`` rows of each of ``points``
    (points that are not in ``reference``: nothing is excluded), nearest first, exact."""
    ref, pts = np.asarray(reference, np.float32), np.asarray(points, np.float32)
    return _blocked_knn(ref, pts, np.arange(len(pts)), min(k, len(ref)), "euclidean", False, block)


def _blocked_knn(u: np.ndarray, source: np.ndarray, rows: np.ndarray, k: int, metric: str, exclude_self: bool,
                 block: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The search behind feature_knn and knn_to: the ``k`` nearest rows of ``u`` to each query
    ``source[rows[i]]``, a block of queries at a time (never all of them copied at once);
    ``exclude_self``: ``source`` is ``u`` and a query row is not its own neighbour."""
    n = len(u)
    block = block or int(max(64, min(2048, (1 << 25) // max(n, 1))))
    out = np.empty((len(rows), max(k, 0)), np.int64)
    dist = np.empty((len(rows), max(k, 0)), np.float32)
    if k > 0:
        sq = (u * u).sum(axis=1) if metric == "euclidean" else None
        for s in range(0, len(rows), block):
            qv = source[rows[s:s + block]]
            sims = qv @ u.T  # larger = nearer: cosine, or 2 a.b - |b|^2 (same order as -|a-b|^2)
            if sq is not None:
                sims *= 2  # in place: a block's memory is sims and argpartition's indices, no temporaries
                sims -= sq[None, :]
            if exclude_self:
                sims[np.arange(len(qv)), rows[s:s + block]] = -np.inf
            np.negative(sims, out=sims)  # argpartition finds the smallest: of -sims
            part = np.argpartition(sims, k - 1, axis=1)[:, :k]
            top = -np.take_along_axis(sims, part, axis=1)
            order = np.argsort(-top, axis=1, kind="stable")
            out[s:s + block] = np.take_along_axis(part, order, axis=1)
            top = np.take_along_axis(top, order, axis=1)
            if sq is not None:
                dist[s:s + block] = np.sqrt(np.maximum((qv * qv).sum(axis=1)[:, None] - top, 0))
            else:
                dist[s:s + block] = np.maximum(1 - top, 0)
    return out, dist


def approximate_knn(x: np.ndarray, k: int, n_jobs: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(indices, Euclidean distances) of every row's ``k`` nearest others by Annoy (random
    projection trees, the search openTSNE itself uses above 1,000 points): for collections where
    the exact N x N pass costs minutes (cviz.measure.quality.KNN_EXACT_MAX and above)."""
    from openTSNE.nearest_neighbors import Annoy

    k = min(k, len(x) - 1)
    idx, dist = Annoy(np.ascontiguousarray(x, dtype=np.float32), k, metric="euclidean", n_jobs=n_jobs,
                      random_state=seed).build()
    return idx.astype(np.int64), dist.astype(np.float32)


def knn_fits(knn: np.ndarray, features: np.ndarray, min_k: int, probes: int = 64, min_share: float = 0.5) -> bool:
    """Is ``knn`` (the tsne stage's ``knn.npy``) a neighbour list of these very ``features``? Shape
    (at least ``min_k`` columns, or all other rows), and for a few random rows the exact 10 nearest
    found in it, at least ``min_share`` of them (0.5 admits Annoy's approximate lists; 1.0 asks an
    exact list to be exact). A run killed between writes, or pca re-run since, leaves a stale file:
    then the reader searches again."""
    n = len(features)
    if knn.ndim != 2 or knn.shape[0] != n or knn.shape[1] < min(min_k, n - 1):
        return False
    if n < 3:
        return True
    rows = np.random.default_rng(0).choice(n, size=min(probes, n), replace=False)
    exact = feature_knn(features, min(10, n - 1), rows, metric="euclidean")
    found = np.mean([np.isin(e, knn[r]).mean() for r, e in zip(rows, exact)])
    return bool(found >= min_share)


def _update_rows(x: np.ndarray, previous: np.ndarray, old_rows: np.ndarray, k: int
                 ) -> tuple[np.ndarray, int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What an update of neighbour lists starts from: the rows as float32, N, k (at most N - 1), the
    old and the new rows, the previous lists cut to k, and which old rows have a whole previous list
    (k entries, none gone)."""
    u = np.asarray(x, np.float32)
    n = len(u)
    k = min(k, n - 1)
    old_rows = np.asarray(old_rows, np.int64)
    is_old = np.zeros(n, bool)
    is_old[old_rows] = True
    new_rows = np.flatnonzero(~is_old)
    prev = np.asarray(previous, np.int64)[:, :k]
    whole = (prev.shape[1] >= k) & (prev >= 0).all(axis=1) if k > 0 else np.ones(len(old_rows), bool)
    return u, n, k, old_rows, new_rows, prev, whole


def updated_knn(x: np.ndarray, previous: np.ndarray, old_rows: np.ndarray, k: int,
                block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The exact Euclidean kNN of every row of ``x`` (as :func:`feature_knn` finds it), from the
    lists of a search made before items were added or removed, when the rows that were there are
    unchanged (cviz.stages.stable_update keeps them).

    ``previous``: for the rows ``old_rows`` of ``x``, their neighbour lists of that search, in
    today's row numbers, -1 for an item gone since. An old row's new nearest ``k`` are among its
    old list and the new rows, unless an item of its list is gone (or the list is short): those
    rows, and the new rows, are searched against everything. Cost O(N (k + new) D) instead of N^2 D.
    """
    u, n, k, old_rows, new_rows, prev, whole = _update_rows(x, previous, old_rows, k)
    merge_rows, merge_prev = old_rows[whole], prev[whole]
    search = np.concatenate([new_rows, old_rows[~whole]])
    idx = np.empty((n, max(k, 0)), np.int64)
    dist = np.empty((n, max(k, 0)), np.float32)
    if len(search):
        idx[search], dist[search] = _blocked_knn(u, u, search, k, "euclidean", True, None)
    sq = (u * u).sum(axis=1)
    u_new, sq_new = u[new_rows], sq[new_rows]
    for s in range(0, len(merge_rows), block):
        rows, kept = merge_rows[s:s + block], merge_prev[s:s + block]
        cand = np.concatenate([kept, np.broadcast_to(new_rows, (len(rows), len(new_rows)))], axis=1)
        q = u[rows]
        sims = np.concatenate([2 * np.einsum("ij,ikj->ik", q, u[kept]) - sq[kept],  # the same score as
                               2 * (q @ u_new.T) - sq_new[None, :]], axis=1)  # _blocked_knn's
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        idx[rows] = np.take_along_axis(cand, order, axis=1)
        top = np.take_along_axis(sims, order, axis=1)
        dist[rows] = np.sqrt(np.maximum((q * q).sum(axis=1)[:, None] - top, 0))
    return idx, dist


def _pair_distances(u: np.ndarray, a: np.ndarray, b: np.ndarray, block: int = 65536) -> np.ndarray:
    """Euclidean distances between rows ``u[a[i]]`` and ``u[b[i]]``, ``block`` pairs at a time
    (never a pairs x D copy of the whole list)."""
    out = np.empty(len(a), np.float32)
    for s in range(0, len(a), block):
        diff = u[a[s:s + block]] - u[b[s:s + block]]
        out[s:s + block] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def merged_knn(x: np.ndarray, previous: np.ndarray, old_rows: np.ndarray, k: int,
               block: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Approximate kNN of every row of ``x`` after items were added, from approximate lists of
    the rows that were there (Annoy's, above cviz.measure.quality.KNN_EXACT_MAX), without a new
    search of all N rows (arguments as :func:`updated_knn`).

    The new rows (and old rows whose list lost an item) are searched exactly against all rows:
    O(new x N x D). An old row's candidates are its previous list plus the new rows that found it
    among their own ``k`` nearest (reverse neighbours: a new item near an old one is usually
    mutual); the ``k`` nearest candidates are kept. Cost O(N k D + new N D), memory O(block k)
    beyond the N x k result, against the O(N log N D) of searching everything again. The lists
    stay as approximate as the ones they came from, plus the misses of the reverse rule.
    """
    u, n, k, old_rows, new_rows, prev, whole = _update_rows(x, previous, old_rows, k)
    idx = np.empty((n, k), np.int64)
    dist = np.empty((n, k), np.float32)
    search = np.concatenate([new_rows, old_rows[~whole]])
    if len(search):
        idx[search], dist[search] = _blocked_knn(u, u, search, k, "euclidean", True, None)
    found_by = idx[new_rows].ravel()  # old row i ... found by new row j
    order = np.argsort(found_by, kind="stable")
    rev_i, rev_j = found_by[order], np.repeat(new_rows, k)[order]
    merge_rows, merge_prev = old_rows[whole], prev[whole]
    for s in range(0, len(merge_rows), block):
        rows, cand = merge_rows[s:s + block], merge_prev[s:s + block]
        lo, hi = np.searchsorted(rev_i, rows), np.searchsorted(rev_i, rows, side="right")
        extra = hi - lo
        r_of = np.concatenate([np.repeat(np.arange(len(rows)), k), np.repeat(np.arange(len(rows)), extra)])
        pick = np.repeat(lo, extra) + np.arange(extra.sum()) - np.repeat(np.cumsum(extra) - extra, extra)
        c_of = np.concatenate([cand.ravel(), rev_j[pick]])
        d = _pair_distances(u, rows[r_of], c_of)
        keep = np.lexsort((d, r_of))
        first = np.searchsorted(r_of[keep], np.arange(len(rows)))
        take = (first[:, None] + np.arange(k)[None, :]).ravel()
        idx[rows] = c_of[keep][take].reshape(len(rows), k)
        dist[rows] = d[keep][take].reshape(len(rows), k)
    return idx, dist
