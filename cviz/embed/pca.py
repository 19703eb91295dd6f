"""PCA before t-SNE: 256 components (fewer when N or D is smaller), as the original tool did.

Reducing to 256 dimensions first makes t-SNE's neighbour search fast and removes noise; the
explained-variance curve tells whether 256 keeps most of the signal.

Computed from the D x D covariance (D = 1280 for the default model), accumulated over row chunks
in float64: one pass of N x D x D multiply-adds (BLAS, both cores) plus a D x D eigendecomposition.
That is exact (no randomized approximation), deterministic, streams in bounded memory and takes
about a second at 13,000 items and under ten at 100,000, where scikit-learn's full SVD of the
N x D matrix would need minutes. Signs are fixed like scikit-learn's ``svd_flip`` (the largest
loading of each component is positive), so a rerun gives identical components.

Cost in N: time O(N D^2) (two passes over the rows: mean and covariance, then the projection
O(N D K)); memory O(D^2 + N K) beyond the input, which is read ``CHUNK_ROWS`` rows at a time, so
a memory-mapped N x D feature file (5 GB at 1,000,000 x 1280 float32) is never loaded whole.
:class:`UnitRows` L2-normalises rows as they are read instead of holding a normalised copy.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np

DEFAULT_COMPONENTS = 256
CHUNK_ROWS = 8192


@dataclass
class PcaResult:
    components: np.ndarray  # N x K float32
    explained_variance_ratio: np.ndarray  # K
    requested: int
    note: str | None  # why fewer components than requested, when that happened
    mean: np.ndarray | None = None  # D float32: what was subtracted (None: nothing was fitted)
    basis: np.ndarray | None = None  # D x K float32: the components' directions


class UnitRows:
    """A read-only view of ``array`` (N x D, e.g. memory-mapped) whose rows come out L2-normalised
    float32 when indexed: what PCA of normalised features needs, without an N x D copy."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape = array.shape
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, rows: object) -> np.ndarray:
        y = np.array(self.array[rows], dtype=np.float32)
        y /= np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), 1e-12)
        mapped = getattr(self.array, "_mmap", None)
        if mapped is not None:  # a memory-mapped file: let the pages read go (they stay in the page
            mapped.madvise(mmap.MADV_DONTNEED)  # cache), so resident memory stays that of a chunk
        return y


def _mean(x: np.ndarray | UnitRows) -> np.ndarray:
    total = np.zeros(x.shape[1], np.float64)
    for s in range(0, len(x), CHUNK_ROWS):
        total += x[s:s + CHUNK_ROWS].sum(axis=0, dtype=np.float64)
    return total / max(len(x), 1)


def project(features: np.ndarray | UnitRows, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Rows of ``features`` on a fitted basis, computed as :func:`run_pca` does (float32, in row
    chunks), so a row projected later is bit-identical to the same row projected by the fit."""
    out = np.empty((len(features), basis.shape[1]), np.float32)
    m32, w = mean.astype(np.float32), basis.astype(np.float32)
    for s in range(0, len(features), CHUNK_ROWS):
        out[s:s + CHUNK_ROWS] = (features[s:s + CHUNK_ROWS].astype(np.float32) - m32) @ w
    return out


def _covariance(x: np.ndarray | UnitRows, mean: np.ndarray) -> np.ndarray:
    d = x.shape[1]
    cov = np.zeros((d, d), np.float64)
    for s in range(0, len(x), CHUNK_ROWS):
        block = x[s:s + CHUNK_ROWS].astype(np.float64) - mean
        cov += block.T @ block
    return cov / max(len(x) - 1, 1)


def run_pca(features: np.ndarray | UnitRows, n_components: int = DEFAULT_COMPONENTS) -> PcaResult:
    """Project ``features`` on its first principal components.

    K = min(n_components, N - 1, D): PCA cannot give more components than that; with N = 1 the
    single item is placed at the origin. The computation is deterministic (no seed).
    """
    n, d = features.shape
    k = min(n_components, max(n - 1, 0), d)
    if k < 1:
        return PcaResult(np.zeros((n, 1), np.float32), np.ones(1, np.float32), n_components,
                         f"{n} item(s): nothing to project, placed at the origin")
    mean = _mean(features)
    cov = _covariance(features, mean)
    eigvals, eigvecs = np.linalg.eigh(cov)  # ascending
    order = np.argsort(eigvals)[::-1][:k]
    vals = np.clip(eigvals[order], 0, None)
    vecs = eigvecs[:, order]
    flip = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(k)])
    vecs = vecs * np.where(flip == 0, 1.0, flip)
    total = float(np.clip(eigvals, 0, None).sum())
    ratio = (vals / total if total > 0 else np.zeros(k)).astype(np.float32)
    w, m32 = vecs.astype(np.float32), mean.astype(np.float32)
    comps = project(features, m32, w)
    note = None
    if k < n_components:
        note = f"{k} components instead of {n_components}: limited by " + (
            f"{n} items (at most N-1)" if k == n - 1 else f"feature dimension {d}"
        )
    return PcaResult(comps, ratio, n_components, note, m32, w)
