"""Near-duplicates: groups of items that show the same picture (scanned twice, copied, cropped, mirrored).

Archives hold the same photograph more than once: a second scan, a resized or recompressed copy, a
slightly cropped or mirrored one. Their CNN features lie much closer together than those of two
different pictures, so a threshold on the cosine distance of the features finds them. Candidate
pairs come from the neighbour lists the pipeline already has (``knn.npy``: each item's nearest rows
in PCA space, which rank as cosine on the features does), so finding them costs N x k feature dot
products, not N^2: O(N k D) time at most (13,291 items x 1280 dimensions, k = 10: 4.5 s on 2
shared cores at load 18). The PCA rows bound each pair's distance from below, so only the pairs
that bound leaves near are compared on the features, which are read (memory-mapped on local
storage) at those rows only: memory O(N k) for the pairs, never the N x D features. A pair closer
than ``threshold`` joins the two items' groups (union-find, Tarjan 1975); a group is every item
connected by such pairs.

``THRESHOLD`` (cosine distance 1 - cos on the features) was chosen on a labelled set built from
real images (benchmarks/bench_duplicates.py; tests/duplicate_set.py): each photo of a collection
and one edited copy of it (resized to half, recompressed at JPEG quality 30, cropped by 5%,
mirrored), every other pair of photos a negative. On imageplot (904 paintings) and met-sample (174
museum photos) with EfficientNet-Lite0 features, 0.135 is where the worse of precision and recall
of the grouped pairs is best: imageplot precision 0.956, recall 0.975 (its false joins are
Mondrian's near-identical 1917 compositions and three versions of one Van Gogh head), met-sample
precision 1.000, recall 0.971. Below it mild crops are missed, above it a painter's series joins.

Published as ``duplicates.json`` in the version (format in docs/outputs.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cviz.embed.pca import UnitRows

FORMAT = "cviz-duplicates/1"
THRESHOLD = 0.135
CANDIDATES = 10  # neighbours per item looked at: a group larger than this is still found (through its members)
PAIR_BLOCK = 8192  # pairs compared at a time


@dataclass
class Duplicates:
    """Groups of near-identical items (item indices, ascending; groups ordered by their first item)
    and, per group, its largest pairwise distance among the joining pairs."""
    groups: list[list[int]] = field(default_factory=list)
    spread: list[float] = field(default_factory=list)
    threshold: float = THRESHOLD
    pairs_checked: int = 0

    @property
    def items(self) -> int:
        return sum(len(g) for g in self.groups)

    def to_dict(self, ids: list[str] | None = None) -> dict:
        """The ``duplicates.json`` document: groups of item indices (items.json order) and, when
        ``ids`` are given, the groups' item ids for a reader without items.json."""
        doc: dict = {"format": FORMAT, "threshold": self.threshold, "metric": "cosine distance of the features",
                     "groups": self.groups, "max_distance": [round(d, 4) for d in self.spread]}
        if ids is not None:
            doc["ids"] = [[ids[i] for i in g] for g in self.groups]
        return doc


def candidate_pairs(knn: np.ndarray, n: int, k: int = CANDIDATES) -> np.ndarray:
    """Every item and its first ``k`` listed neighbours as distinct pairs (M x 2, i < j, sorted).
    ``knn``: N x m neighbour indices (-1 pads)."""
    if knn.ndim != 2 or knn.shape[0] != n:
        raise ValueError(f"neighbour lists of shape {knn.shape} for {n} feature rows")
    nb = np.asarray(knn[:, :k], dtype=np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), nb.shape[1])
    cols = nb.ravel()
    keep = (cols >= 0) & (cols < n) & (cols != rows)
    a, b = np.minimum(rows[keep], cols[keep]), np.maximum(rows[keep], cols[keep])
    key = np.unique(a * n + b)  # one int64 per pair: sorted as (i, j) are, without a 2-column sort
    return np.stack([key // n, key % n], axis=1) if len(key) else np.zeros((0, 2), np.int64)


def candidate_distances(features: np.ndarray, knn: np.ndarray, k: int = CANDIDATES,
                        projected: np.ndarray | None = None,
                        threshold: float = THRESHOLD) -> tuple[np.ndarray, np.ndarray, int]:
    """(pairs (M x 2, i < j), their cosine distances (M,), pairs examined) for every item and its first
    ``k`` listed neighbours.

    ``features`` is only read at the rows of the pairs computed, a block at a time, so a memory-mapped
    N x D file is never loaded whole. ``projected``: the rows' PCA projection of the L2-normalised
    features (``pca.npy``). An orthonormal projection never lengthens a vector, so
    ``|p_i - p_j|^2 <= |u_i - u_j|^2 = 2 (1 - cos)``: a pair whose projected squared distance exceeds
    ``2 * threshold`` is farther than ``threshold`` and is dropped before its features are read
    (exactly the pairs the threshold keeps survive; a margin covers float32 rounding).
    """
    pairs = candidate_pairs(knn, len(features), k)
    examined = len(pairs)
    if projected is not None and len(pairs):
        if len(projected) != len(features):
            raise ValueError(f"{len(projected)} projected rows for {len(features)} feature rows")
        near = np.empty(len(pairs), bool)
        for s in range(0, len(pairs), PAIR_BLOCK):
            p = pairs[s:s + PAIR_BLOCK]
            diff = np.asarray(projected[p[:, 0]], np.float32) - np.asarray(projected[p[:, 1]], np.float32)
            near[s:s + PAIR_BLOCK] = np.einsum("ij,ij->i", diff, diff) <= 2.0 * threshold * 1.001 + 1e-5
        pairs = pairs[near]
    unit = UnitRows(features)  # rows normalised as read; a memory-mapped file's pages let go per block
    dist = np.empty(len(pairs), np.float32)
    for s in range(0, len(pairs), PAIR_BLOCK):  # memory stays 2 x PAIR_BLOCK x D floats
        p = pairs[s:s + PAIR_BLOCK]
        dist[s:s + PAIR_BLOCK] = 1.0 - np.einsum("ij,ij->i", unit[p[:, 0]], unit[p[:, 1]])
    return pairs, dist, examined


def find_duplicates(features: np.ndarray, knn: np.ndarray, threshold: float = THRESHOLD,
                    k: int = CANDIDATES, projected: np.ndarray | None = None) -> Duplicates:
    """Groups of items whose features lie within ``threshold`` cosine distance of one another,
    linked through the first ``k`` entries of each item's neighbour list ``knn``.

    ``threshold``: largest cosine distance (0 identical, 2 opposite) at which two items count as one
    picture. ``k``: neighbours per item examined; items with more than ``k`` copies are still joined
    through each other. ``projected``: the rows' PCA projection, to skip pairs it proves too far
    apart without reading their features (:func:`candidate_distances`).
    """
    pairs, dist, examined = candidate_distances(features, knn, k, projected, threshold)
    close = dist <= threshold
    parent = np.arange(len(features))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = int(parent[a])
        return a

    for (i, j) in pairs[close]:
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    members: dict[int, list[int]] = {}
    for i in np.unique(pairs[close]) if close.any() else []:
        members.setdefault(root(int(i)), []).append(int(i))
    spread: dict[int, float] = {}
    for (i, _), d in zip(pairs[close], dist[close]):
        r = root(int(i))
        spread[r] = max(spread.get(r, 0.0), float(d))
    order = sorted(members, key=lambda r: members[r][0])
    return Duplicates([sorted(members[r]) for r in order], [spread[r] for r in order], threshold, examined)


def pair_scores(groups: list[list[int]], truth: list[int]) -> tuple[float, float]:
    """(precision, recall) of the item pairs that ``groups`` put together against ``truth`` (a group
    label per item; items with the same label are copies of one picture)."""
    predicted = {(a, b) for g in groups for x, a in enumerate(g) for b in g[x + 1:]}
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(truth):
        by_label.setdefault(label, []).append(i)
    actual = {(a, b) for m in by_label.values() for x, a in enumerate(m) for b in m[x + 1:]}
    hit = len(predicted & actual)
    return (hit / len(predicted) if predicted else 1.0), (hit / len(actual) if actual else 1.0)
