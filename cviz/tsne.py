"""2-D embedding with t-SNE (van der Maaten & Hinton 2008) through openTSNE (Policar et al. 2024).

openTSNE's FFT-accelerated gradients (Linderman et al. 2019) are linear in N, so 100,000 points
stay practical; MulticoreTSNE (the original tool's choice) is used instead only when asked for and
importable. Parameters that matter: perplexity (neighbourhood size, lowered for small N) and the
PCA initialisation, which keeps the global layout stable across runs. Tiny collections (fewer
than ``MIN_TSNE`` items) are laid out from their first two principal components instead, and the
result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TSNE = 5
DEFAULT_PERPLEXITY = 30.0


@dataclass
class TsneResult:
    embedding: np.ndarray  # N x 2 float32
    method: str
    perplexity: float | None
    note: str | None


def run_tsne(x: np.ndarray, perplexity: float = DEFAULT_PERPLEXITY, seed: int = 0, n_jobs: int = 2,
             backend: str = "opentsne") -> TsneResult:
    n = x.shape[0]
    if n < MIN_TSNE:
        emb = np.zeros((n, 2), np.float32)
        k = min(2, x.shape[1])
        emb[:, :k] = x[:, :k]
        return TsneResult(emb, "pca", None, f"{n} item(s): t-SNE needs at least {MIN_TSNE}; used the first two PCA components")
    perp = float(min(perplexity, max(1.0, (n - 1) / 3.0)))
    note = None if perp == perplexity else f"perplexity lowered to {perp:.1f} for {n} items"
    if backend == "multicore":
        try:
            from MulticoreTSNE import MulticoreTSNE  # type: ignore[import-not-found]
        except ImportError:
            note = ((note + "; ") if note else "") + "MulticoreTSNE is not importable: used openTSNE"
        else:
            emb = MulticoreTSNE(n_components=2, perplexity=perp, n_jobs=n_jobs, random_state=seed).fit_transform(
                x.astype(np.float64))
            return TsneResult(emb.astype(np.float32), "MulticoreTSNE", perp, note)
    from openTSNE import TSNE

    tsne = TSNE(n_components=2, perplexity=perp, n_jobs=n_jobs, random_state=seed, initialization="pca",
                negative_gradient_method="fft" if n > 2000 else "bh", verbose=False)
    emb = np.asarray(tsne.fit(x.astype(np.float32)), dtype=np.float32)
    return TsneResult(emb, "openTSNE", perp, note)
