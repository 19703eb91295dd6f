""""More like this": each item's nearest neighbours by cosine on its PCA features, packed for the viewer.

The grid only approximates similarity (two alike photos can sit at opposite edges of the map), so
the viewer's panel lists each item's ``k`` nearest neighbours in feature space. Exact below
``EXACT_BELOW`` items (blocked matrix products, O(N^2 D) but a few seconds at 20,000); above it an
approximate index: Annoy (random-projection forests, Bernhardsson 2015), the copy openTSNE vendors
(``openTSNE.dependencies.annoy``), so no new package.

Published as ``neighbours.bin`` (format in docs/outputs.md): a 16-byte header (magic ``CVNB``,
format version, N, k as little-endian int32) then N x k little-endian int32 item indices, row i
the neighbours of item i (items.json order), nearest first; -1 pads rows of tiny collections.
"""

from __future__ import annotations

import struct

import numpy as np

K = 12
EXACT_BELOW = 20_000
MAGIC = b"CVNB"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4siii")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def exact_neighbours(x: np.ndarray, k: int = K, block: int = 2048) -> np.ndarray:
    """N x k nearest rows by cosine similarity (self excluded), nearest first; ties by lower index."""
    u = _unit_rows(x)
    n = u.shape[0]
    kk = min(k, n - 1)
    out = np.full((n, k), -1, dtype=np.int32)
    if kk <= 0:
        return out
    for start in range(0, n, block):
        sims = u[start:start + block] @ u.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < n - 1 else np.argsort(-sims, axis=1)[:, :kk]
        # Order the k candidates: similarity descending, then index ascending (stable, deterministic).
        cand_sims = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -cand_sims), axis=1)
        out[start:start + block, :kk] = np.take_along_axis(part, order, axis=1)
    return out


def approximate_neighbours(x: np.ndarray, k: int = K, n_trees: int = 50, seed: int = 0) -> np.ndarray:
    """N x k approximate nearest rows by cosine (Annoy "angular" distance), self excluded."""
    from openTSNE.dependencies.annoy import AnnoyIndex

    u = _unit_rows(x)
    n, d = u.shape
    index = AnnoyIndex(d, "angular")
    index.set_seed(int(seed))
    for i in range(n):
        index.add_item(i, u[i])
    index.build(n_trees)
    out = np.full((n, k), -1, dtype=np.int32)
    for i in range(n):
        got = [j for j in index.get_nns_by_item(i, k + 1, search_k=-1) if j != i][:k]
        out[i, :len(got)] = got
    return out


def nearest_neighbours(x: np.ndarray, k: int = K, exact_below: int = EXACT_BELOW, seed: int = 0) -> tuple[np.ndarray, str]:
    """(N x k int32 neighbour indices, method name): exact below ``exact_below`` rows, Annoy above."""
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array, got shape {x.shape}")
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
