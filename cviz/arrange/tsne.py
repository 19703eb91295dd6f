"""2-D embedding with t-SNE (van der Maaten & Hinton 2008) through openTSNE (Policar et al. 2024).

openTSNE's FFT-accelerated gradients (Linderman et al. 2019) are linear in N, so 100,000 points
stay practical; MulticoreTSNE (the original tool's choice) is used instead only when asked for and
importable. Settings, and why:

- input: the first ``TSNE_DIMS`` (256) PCA components of the L2-normalised features: the
  neighbour search costs linear in the dimension, but on a 13,000-photo archive 256 components kept
  0.017 more of the features' neighbour agreement than the usual 50 (docs/performance.md).
- 250 early-exaggeration iterations, then ``N_ITER`` (300) more at ``learning_rate="auto"``
  (N / 12, Belkina et al. 2019): the late iterations are the expensive ones (the embedding has
  spread, so the FFT grid is large) and add little to a layout that is then snapped to a grid.
- PCA initialisation and a fixed seed: the same input gives the same map, and the global layout
  stays stable across runs.

Large collections (:func:`run_tsne_sampled`, above ``SAMPLE_ABOVE`` items): t-SNE on a uniform
random sample of ``SAMPLE_SIZE`` items, the rest placed into that map by openTSNE's
``TSNEEmbedding.transform`` (Policar et al. 2019: affinities of each new point to its nearest
sample points, found in the sample's own Annoy index, initialised at the median of those
neighbours, then optimised against the fixed sample), ``TRANSFORM_BATCH`` items at a time. The
sample fixes the map's global shape; the placement is independent per item, so it costs linear
in the rest and in bounded memory. Quality cost measured in benchmarks/bench_scale.py and
docs/scale.md.

Cost in N: the neighbour search (Annoy, openTSNE's) O(N log N D); the FFT-accelerated gradients
O(N) per iteration (550 iterations); memory O(N k) for the affinities. Above ``SAMPLE_ABOVE``:
O(S log S D) + O(S) per iteration for the sample S, plus O((N - S) (log S D + iterations)) for
the placement, so t-SNE at 1,000,000 items costs about what the sample plus one linear pass does.

Tiny collections (fewer than ``MIN_TSNE`` items) are laid out from their first two principal
components instead, and the result says so.

Stable maps (:func:`place_new`): when images are added to a collection whose embedding exists,
the old points keep their coordinates exactly and only the new ones are optimised against them
(openTSNE ``TSNEEmbedding.transform``: affinities of each new point to its nearest old points,
initialised at the weighted mean of those neighbours), so the map a curator knows does not move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_TSNE = 5
DEFAULT_PERPLEXITY = 15.0
TSNE_DIMS = 256
EARLY_EXAGGERATION_ITER = 250
N_ITER = 300
SMALL_N = 5000
# Up to this many points Barnes-Hut gradients are faster than FFT interpolation, whose grid has a
# fixed minimum cost (openTSNE's own "auto" switches at 10,000; measured here on 2 cores, 2,000).
BH_MAX = 2000
#: The t-SNE implementations: the one declaration that the CLI's ``--tsne``, the Launchpad's enum and
#: docs/configuration.md derive from (cviz_assets.choices).
BACKENDS: dict[str, str] = {
    "opentsne": "openTSNE (Policar et al. 2024), FFT-accelerated interpolation: about linear in N",
    "multicore": "MulticoreTSNE, the original tool's Barnes-Hut t-SNE (built by `make multicore-tsne`)",
}
SAMPLE_ABOVE = 150_000  # above this many items, t-SNE on a sample and the rest placed (run_tsne_sampled)
SAMPLE_SIZE = 100_000  # the sample: the largest that keeps the tsne stage within minutes on 2 cores
TRANSFORM_BATCH = 50_000  # items placed per transform call (bounds the placement's memory)
TRANSFORM_ITER = 100  # optimisation steps of each placed point against the fixed sample
REFINE_ITER = 150  # then steps of all points together (with every item's neighbours), from that start


@dataclass
class TsneResult:
    embedding: np.ndarray  # N x 2 float32
    method: str
    perplexity: float | None
    note: str | None
    placed: int = 0  # stable update: points placed into an existing embedding


def _perplexity(perplexity: float, n: int) -> float:
    return float(min(perplexity, max(1.0, (n - 1) / 3.0)))


def _jobs(n: int, n_jobs: int) -> int:
    """One thread below ``SMALL_N``: thread start-up and synchronisation cost more than they save
    there (3x slower with two threads at 250 points on a busy machine)."""
    return 1 if n < SMALL_N else n_jobs


def _input(x: np.ndarray, dims: int) -> np.ndarray:
    return np.ascontiguousarray(x[:, :dims], dtype=np.float32)


def run_tsne(x: np.ndarray, perplexity: float = DEFAULT_PERPLEXITY, seed: int = 0, n_jobs: int = 2,
             backend: str = "opentsne", n_iter: int = N_ITER, dims: int = TSNE_DIMS,
             early_iter: int = EARLY_EXAGGERATION_ITER, exaggeration: float | None = None,
             angle: float | None = None,
             neighbours: tuple[np.ndarray, np.ndarray] | None = None) -> TsneResult:
    """Embed the N rows of ``x`` in 2-D with t-SNE (van der Maaten & Hinton 2008).

    Parameters
    ----------
    x : (N, D) array
        The PCA rows; the first ``dims`` columns are used.
    perplexity : float
        The effective number of neighbours each point's affinities spread over (lowered for small N,
        said in the note). Lower keeps tighter local groups; the neighbour lists hold 3 x perplexity.
    seed : int
        Seeds the initialisation: the same inputs give the same map.
    n_jobs : int
        Threads for the affinities and the gradient.
    backend : str
        One of :data:`BACKENDS`.
    n_iter : int
        Iterations after the early-exaggeration phase (openTSNE's convention; MulticoreTSNE, which
        counts both phases, runs ``early_iter + n_iter``).
    dims : int
        PCA components used (:data:`TSNE_DIMS`; more keep more neighbourhood structure, cost linear in it).
    early_iter : int
        Iterations of early exaggeration, which lets clusters form before they settle.
    exaggeration : float, optional
        openTSNE's late exaggeration (None: 1); above 1 it tightens clusters at the cost of local order.
    angle : float, optional
        The Barnes-Hut accuracy trade-off (the original tool's 0.1); setting it forces Barnes-Hut
        gradients in openTSNE instead of the FFT interpolation.
    neighbours : (indices, distances), optional
        Exact neighbours of every row, at least 3 x perplexity of them, used by openTSNE instead of
        its own approximate (Annoy) search.

    Returns
    -------
    TsneResult
        The N x 2 float32 embedding, the method and perplexity used, and a note when either differs
        from the one asked for.

    Cost: affinities O(N k log N) with k = 3 x perplexity; each FFT gradient iteration about O(N).
    """
    n = x.shape[0]
    if n < MIN_TSNE:
        emb = np.zeros((n, 2), np.float32)
        k = min(2, x.shape[1])
        emb[:, :k] = x[:, :k]
        return TsneResult(emb, "pca", None, f"{n} item(s): t-SNE needs at least {MIN_TSNE}; used the first two PCA components")
    perp = _perplexity(perplexity, n)
    note = None if perp == perplexity else f"perplexity lowered to {perp:.1f} for {n} items"
    if backend not in BACKENDS:
        raise ValueError(f"t-SNE backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "multicore":
        try:
            from MulticoreTSNE import MulticoreTSNE  # type: ignore[import-not-found]
        except ImportError:
            note = ((note + "; ") if note else "") + ("MulticoreTSNE is not importable (make multicore-tsne "
                                                      "builds it): used openTSNE")
        else:
            emb = MulticoreTSNE(n_components=2, perplexity=perp, n_jobs=n_jobs, random_state=seed,
                                n_iter=early_iter + n_iter, angle=0.5 if angle is None else angle
                                ).fit_transform(_input(x, dims).astype(np.float64))
            return TsneResult(emb.astype(np.float32), "MulticoreTSNE", perp, note)
    from openTSNE import TSNE

    gradient = "bh" if angle is not None else _gradient(n)
    affinities = init = None
    if neighbours is not None and neighbours[0].shape == (n, neighbours[0].shape[1]) \
            and neighbours[0].shape[1] >= min(3 * perp, n - 1):
        from openTSNE import initialization
        from openTSNE.affinity import PerplexityBasedNN
        from openTSNE.nearest_neighbors import PrecomputedNeighbors

        idx, dist = neighbours
        affinities = PerplexityBasedNN(perplexity=perp, n_jobs=_jobs(n, n_jobs), random_state=seed, verbose=False,
                                       knn_index=PrecomputedNeighbors(np.ascontiguousarray(idx),
                                                                      np.ascontiguousarray(dist, dtype=np.float64)))
        init = initialization.pca(_input(x, dims), random_state=seed)
    tsne = TSNE(n_components=2, perplexity=perp, n_jobs=_jobs(n, n_jobs), random_state=seed, initialization="pca",
                n_iter=n_iter, early_exaggeration_iter=early_iter, learning_rate="auto",
                exaggeration=exaggeration, theta=0.5 if angle is None else angle,
                negative_gradient_method=gradient, verbose=False)
    if affinities is not None:
        emb = np.asarray(tsne.fit(affinities=affinities, initialization=init), dtype=np.float32)
        return TsneResult(emb, "openTSNE (given kNN)", perp, note)
    emb = np.asarray(tsne.fit(_input(x, dims)), dtype=np.float32)
    return TsneResult(emb, "openTSNE", perp, note)


def run_tsne_sampled(x: np.ndarray, sample_size: int = SAMPLE_SIZE, perplexity: float = DEFAULT_PERPLEXITY,
                     seed: int = 0, n_jobs: int = 2, dims: int = TSNE_DIMS, n_iter: int = N_ITER,
                     transform_iter: int = TRANSFORM_ITER, batch: int = TRANSFORM_BATCH,
                     neighbours: tuple[np.ndarray, np.ndarray] | None = None,
                     refine_iter: int = REFINE_ITER) -> TsneResult:
    """t-SNE of a uniform random sample of ``sample_size`` rows of ``x`` (drawn with ``seed``), then
    every other row placed into it (see the module docstring), then, when ``neighbours`` (every
    row's (indices, distances), at least 3 x perplexity) are given, ``refine_iter`` iterations of
    t-SNE on all rows started from that placement (openTSNE's large-data recipe: the sample fixes
    the global layout, the full iterations restore the local one among placed items, which the
    placement alone leaves collapsed on their sample neighbours).

    ``transform_iter``: gradient steps of the placement (openTSNE's default is 250);
    ``batch``: rows placed per call. Falls back to :func:`run_tsne` when ``sample_size`` covers
    every row.
    """
    n = x.shape[0]
    if sample_size >= n:
        return run_tsne(x, perplexity=perplexity, seed=seed, n_jobs=n_jobs, dims=dims, n_iter=n_iter)
    from openTSNE import TSNE

    rows = np.sort(np.random.default_rng(seed).choice(n, size=sample_size, replace=False))
    perp = _perplexity(perplexity, sample_size)
    tsne = TSNE(n_components=2, perplexity=perp, n_jobs=n_jobs, random_state=seed, initialization="pca",
                n_iter=n_iter, early_exaggeration_iter=EARLY_EXAGGERATION_ITER, learning_rate="auto",
                negative_gradient_method=_gradient(sample_size), verbose=False)
    embedding = tsne.fit(_input(x[rows], dims))
    out = np.empty((n, 2), np.float32)
    out[rows] = np.asarray(embedding, dtype=np.float32)
    rest = np.flatnonzero(~np.isin(np.arange(n), rows))
    for s in range(0, len(rest), batch):
        part = rest[s:s + batch]
        placed = embedding.transform(_input(x[part], dims), perplexity=min(5.0, perp), n_iter=transform_iter)
        out[part] = np.asarray(placed, dtype=np.float32)
    note = f"t-SNE on a sample of {sample_size} of {n} items (seed {seed}); the other {len(rest)} placed into it"
    if neighbours is None or refine_iter <= 0 or neighbours[0].shape[1] < min(3 * perp, n - 1):
        return TsneResult(out, "openTSNE sample + transform", perp, note, len(rest))
    out = _optimise_all(out, neighbours, perp, seed, n_jobs, refine_iter)
    return TsneResult(out, "openTSNE sample + transform + full iterations", perp,
                      f"{note}; then {refine_iter} iterations on all items", len(rest))


def _gradient(n: int) -> str:
    """openTSNE's negative-gradient method for an embedding of ``n`` points (``BH_MAX``)."""
    return "bh" if n <= BH_MAX else "fft"


def _optimise_all(start: np.ndarray, neighbours: tuple[np.ndarray, np.ndarray], perplexity: float, seed: int,
                  n_jobs: int, n_iter: int) -> np.ndarray:
    """``n_iter`` t-SNE iterations (FFT gradients above ``BH_MAX`` points, no exaggeration) of every
    point from ``start``, with affinities from the given neighbour lists: O(N k) memory, O(N) per
    iteration."""
    from openTSNE import TSNEEmbedding
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    idx, dist = neighbours
    affinities = PerplexityBasedNN(perplexity=perplexity, n_jobs=n_jobs, random_state=seed, verbose=False,
                                   knn_index=PrecomputedNeighbors(np.ascontiguousarray(idx),
                                                                  np.ascontiguousarray(dist, dtype=np.float64)))
    embedding = TSNEEmbedding(np.ascontiguousarray(start, dtype=np.float64), affinities,
                              negative_gradient_method=_gradient(len(start)), n_jobs=n_jobs, random_state=seed)
    embedding = embedding.optimize(n_iter=n_iter, learning_rate=max(len(start) / 12, 200), momentum=0.8)
    return np.asarray(embedding, dtype=np.float32)


def place_new(x: np.ndarray, old_rows: np.ndarray, old_embedding: np.ndarray,
              perplexity: float = DEFAULT_PERPLEXITY, seed: int = 0, n_jobs: int = 2,
              dims: int = TSNE_DIMS) -> TsneResult:
    """Embed all rows of ``x``: rows ``old_rows`` keep ``old_embedding``; the others are placed.

    Affinities are rebuilt on the old rows of the current ``x`` (features of a re-run PCA), so
    nothing from the previous run but its coordinates is needed.
    """
    from openTSNE import TSNEEmbedding

    n = x.shape[0]
    old_rows = np.asarray(old_rows, dtype=np.int64)
    is_old = np.zeros(n, bool)
    is_old[old_rows] = True
    new_rows = np.flatnonzero(~is_old)
    out = np.empty((n, 2), np.float32)
    out[old_rows] = old_embedding
    if len(new_rows) == 0:
        return TsneResult(out, "openTSNE (kept)", None, "no new items: previous coordinates kept", 0)
    if len(old_rows) < MIN_TSNE:
        raise ValueError(f"only {len(old_rows)} items in the previous embedding: recompute it")
    xi = _input(x, dims)
    perp = _perplexity(perplexity, len(old_rows))
    n_jobs = _jobs(n, n_jobs)
    affinities = _affinities_to_kept(xi[old_rows], perp, n_jobs)
    embedding = TSNEEmbedding(np.ascontiguousarray(old_embedding, dtype=np.float64), affinities,
                              negative_gradient_method=_gradient(len(old_rows)),
                              n_jobs=n_jobs, random_state=seed)
    placed = embedding.transform(xi[new_rows], perplexity=min(5.0, perp))
    out[new_rows] = np.asarray(placed, dtype=np.float32)
    note = f"{len(new_rows)} new item(s) placed into the existing map; {len(old_rows)} kept their coordinates"
    return TsneResult(out, "openTSNE transform", perp, note, len(new_rows))


def _affinities_to_kept(kept: np.ndarray, perplexity: float, n_jobs: int) -> Any:
    """Affinities of new points to the kept ones: all ``TSNEEmbedding.transform`` reads.

    Why not openTSNE's ``PerplexityBasedNN`` on the kept points: it builds an Annoy index over all of
    them and the affinities among them (5-6 s at 13,000 points; transform never uses those) to
    answer ~100 queries. Here the new points' neighbours are searched exactly
    (``cviz.measure.knn.knn_to``: 100 x 13,000 distances, milliseconds) and turned into affinities by
    the function openTSNE's own ``to_new`` uses (point-wise normalised, 3 x perplexity neighbours,
    the same perplexity check).
    """
    import scipy.sparse as sp
    from openTSNE.affinity import Affinities, joint_probabilities_nn

    from cviz.measure.knn import knn_to

    class ToKept(Affinities):
        def to_new(self, data: np.ndarray, perplexity: float | None = None, return_distances: bool = False) -> Any:
            perp = perplexity or self.perplexity
            k = min(len(kept), int(3 * perp))
            idx, dist = knn_to(kept, data, k)
            dist = dist.astype(np.float64)
            P = joint_probabilities_nn(idx, dist, [perp if perp <= k else k / 3], symmetrize=False,
                                       normalization="point-wise", n_reference_samples=len(kept), n_jobs=n_jobs)
            return (P, idx, dist) if return_distances else P

    affinities = ToKept(verbose=False)
    affinities.perplexity = perplexity
    # TSNEEmbedding checks that P has one row per kept point; transform never reads it.
    affinities.P = sp.csr_matrix((len(kept), len(kept)), dtype=np.float64)
    return affinities
