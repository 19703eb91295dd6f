"""PCA before t-SNE: 256 components (fewer when N or D is smaller), as the original tool did.

Reducing to 256 dimensions first makes t-SNE's neighbour search fast and removes noise; the
explained-variance curve tells whether 256 keeps most of the signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_COMPONENTS = 256


@dataclass
class PcaResult:
    components: np.ndarray  # N x K float32
    explained_variance_ratio: np.ndarray  # K
    requested: int
    note: str | None  # why fewer components than requested, when that happened


def run_pca(features: np.ndarray, n_components: int = DEFAULT_COMPONENTS, seed: int = 0) -> PcaResult:
    """Project ``features`` on its first principal components.

    K = min(n_components, N - 1, D): PCA cannot give more components than that; with N = 1 the
    single item is placed at the origin.
    """
    n, d = features.shape
    k = min(n_components, max(n - 1, 0), d)
    if k < 1:
        return PcaResult(np.zeros((n, 1), np.float32), np.ones(1, np.float32), n_components,
                         f"{n} item(s): nothing to project, placed at the origin")
    from sklearn.decomposition import PCA

    solver = "randomized" if k < 0.8 * min(n, d) and min(n, d) > 500 else "full"
    pca = PCA(n_components=k, svd_solver=solver, random_state=seed)
    comps = pca.fit_transform(features.astype(np.float32, copy=False)).astype(np.float32)
    note = None
    if k < n_components:
        note = f"{k} components instead of {n_components}: limited by " + (
            f"{n} items (at most N-1)" if k == n - 1 else f"feature dimension {d}"
        )
    return PcaResult(comps, pca.explained_variance_ratio_.astype(np.float32), n_components, note)
