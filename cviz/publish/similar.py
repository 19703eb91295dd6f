""""More like this": each item's nearest neighbours in feature space, packed for the viewer.

The grid only approximates similarity (two alike photos can sit at opposite edges of the map), so
the viewer's panel lists each item's ``k`` nearest neighbours. They are the pipeline's one
neighbour definition: Euclidean distance between PCA rows of L2-normalised features, which ranks
as cosine on the features does up to the variance PCA leaves out (cosine *between PCA rows* would
not: PCA centres the data). The tsne stage has already searched exactly that (``knn.npy``, 50 per
item) for t-SNE, the quality measures and the grid's refinement, so the viewer reuses its first
``k`` when it fits these rows (:func:`cviz.measure.knn.knn_fits`) instead of a second N x N pass;
otherwise it searches: exact below ``EXACT_BELOW`` items (blocked matrix products), Annoy
(random-projection forests, Bernhardsson 2015, the copy openTSNE vendors) above, as the tsne stage.

Published as ``neighbours.bin`` (format in docs/outputs.md): a 16-byte header (magic ``CVNB``,
format version, N, k as little-endian int32) then N x k little-endian int32 item indices, row i
the neighbours of item i (items.json order), nearest first; -1 pads rows of tiny collections.

Cost in N: reusing the tsne stage's lists is O(N k) plus a check of 64 rows; otherwise exact
O(N^2 D) below ``EXACT_BELOW`` rows and Annoy O(N log N D) above. ``neighbours.bin`` is 4 N k bytes
(48 MB at 1,000,000 items).
"""

from __future__ import annotations

import struct

import numpy as np

from cviz.measure.knn import approximate_knn, feature_knn, knn_fits

K = 12
EXACT_BELOW = 20_000
MAGIC = b"CVNB"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4siii")


def first_k(knn: np.ndarray, k: int = K) -> np.ndarray:
    """The first ``k`` columns of an N x m neighbour list as int32, padded with -1 when m < k."""
    n = knn.shape[0]
    out = np.full((n, k), -1, dtype=np.int32)
    take = min(k, knn.shape[1])
    out[:, :take] = knn[:, :take]
    return out


def exact_neighbours(x: np.ndarray, k: int = K, block: int | None = None) -> np.ndarray:
    """N x k nearest rows by Euclidean distance (self excluded), nearest first; -1 pads."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 2:
        return np.full((len(x), k), -1, dtype=np.int32)
    return first_k(feature_knn(x, min(k, len(x) - 1), block=block, metric="euclidean"), k)


def approximate_neighbours(x: np.ndarray, k: int = K, seed: int = 0) -> np.ndarray:
    """N x k approximate nearest rows by Euclidean distance (Annoy), self excluded."""
    return first_k(approximate_knn(np.asarray(x, dtype=np.float32), k, seed=seed)[0], k)


def nearest_neighbours(x: np.ndarray, k: int = K, exact_below: int = EXACT_BELOW, seed: int = 0,
                       searched: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """(N x k int32 neighbour indices, method name). ``searched``: the tsne stage's neighbour list
    of these rows (``knn.npy``), used when it fits them; else exact below ``exact_below`` rows,
    Annoy above."""
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array, got shape {x.shape}")
    if searched is not None and knn_fits(searched, x, k):
        return first_k(searched, k), "reused: the tsne stage's search"
    if x.shape[0] < exact_below:
        return exact_neighbours(x, k), "exact"
    return approximate_neighbours(x, k, seed=seed), "annoy"


def pack_neighbours(indices: np.ndarray) -> bytes:
    """The ``neighbours.bin`` bytes for an N x k index array (values in -1..N-1)."""
    idx = np.asarray(indices)
    if idx.ndim != 2:
        raise ValueError(f"neighbour indices must be N x k, got shape {idx.shape}")
    n, k = idx.shape
    if idx.size and (idx.min() < -1 or idx.max() >= n):
        raise ValueError(f"neighbour indices must lie in -1..{n - 1}")
    return HEADER.pack(MAGIC, FORMAT_VERSION, n, k) + idx.astype("<i4", copy=False).tobytes()


def unpack_neighbours(data: bytes) -> np.ndarray:
    """Inverse of pack_neighbours, checking the header and length."""
    if len(data) < HEADER.size:
        raise ValueError(f"neighbours.bin: {len(data)} bytes, shorter than its {HEADER.size}-byte header")
    magic, version, n, k = HEADER.unpack_from(data)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ValueError(f"neighbours.bin: not a cviz neighbour file (magic {magic!r}, version {version})")
    expected = HEADER.size + 4 * n * k
    if n < 0 or k < 0 or len(data) != expected:
        raise ValueError(f"neighbours.bin: {len(data)} bytes, expected {expected} for {n} x {k}")
    return np.frombuffer(data, dtype="<i4", offset=HEADER.size).reshape(n, k).astype(np.int32)
