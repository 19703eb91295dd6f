"""The `pca` and `tsne` stages: reduce the features, then lay them out in 2-D (cviz.embed.pca, cviz.arrange.tsne)."""

from __future__ import annotations

import time

import numpy as np

from cviz.arrange.tsne import BACKENDS as TSNE_BACKENDS
from cviz.arrange.tsne import DEFAULT_PERPLEXITY, MIN_TSNE, TsneResult, place_new, run_tsne, run_tsne_sampled
from cviz.arrange.tsne import SAMPLE_ABOVE as TSNE_SAMPLE_ABOVE
from cviz.arrange.tsne import SAMPLE_SIZE as TSNE_SAMPLE_SIZE
from cviz.embed.pca import PcaResult, UnitRows, run_pca
from cviz.errors import CollectionError
from cviz.ingest.catalogue import usable_items
from cviz.measure import plots
from cviz.measure.knn import approximate_knn
from cviz.measure.quality import FeatureNeighbours, feature_neighbours, neighbourhood_quality
from cviz.paths import CollectionPaths
from cviz.stages.common import StageReport, label_values, read_catalogue, timed
from cviz.stages.stable_update import StableRows, current_fit_id, save_fit, stable_rows, updated_neighbours
from cviz.storage import Storage


#: How the pca and tsne stages treat a collection that grew: the one declaration that the CLI's
#: ``--update``, the Launchpad's enum and docs/configuration.md derive from (cviz_assets.choices).
UPDATE_MODES: dict[str, str] = {
    "recompute": "fit PCA and lay out the t-SNE afresh",
    "place_new": "items already on the map keep their place; only new images are placed",
}


def stage_pca(storage: Storage, name: str, n_components: int = 256, normalise: bool = True,
              update: str = "recompute") -> StageReport:
    """``normalise``: L2-normalise each feature vector first, so PCA, t-SNE and the grid work in the
    cosine geometry the neighbour measures use (+0.006 grid label agreement measured).
    ``update="place_new"``: keep the previous fit, project only new items (cviz.stages.stable_update)."""
    if update not in UPDATE_MODES:
        raise CollectionError(f"PCA update {update!r}: choose one of {', '.join(UPDATE_MODES)}")
    started = time.perf_counter()
    paths = CollectionPaths(name)
    features = storage.load_npy(paths.features, mmap=True)  # read in row chunks, never copied whole
    shas = [e["sha256"] for e in usable_items(read_catalogue(storage, name))]
    if len(shas) != len(features):
        raise CollectionError(f"collection {name}: features has {len(features)} rows for {len(shas)} items; re-materialize features")
    x = UnitRows(features) if normalise else features
    stable = stable_rows(storage, paths, x, shas) if update == "place_new" else "update: recompute"
    storage.remove_file(paths.pca_items)  # written last: a run cut short leaves no fit to keep, never a stale one
    values: dict = {"items": int(features.shape[0]), "input_dimension": int(features.shape[1]), "normalised": normalise,
                    "update": update}
    if isinstance(stable, StableRows):
        storage.write_npy(paths.pca, stable.components)
        save_fit(storage, paths, PcaResult(stable.components, np.zeros(0), n_components, None), shas,
                 fitted_on=stable.fitted_on, fit_id=stable.fit_id)
        values.update(components=int(stable.components.shape[1]), kept_rows=stable.kept, projected_new=stable.projected,
                      fit_id=stable.fit_id, note=f"kept the fit on {stable.fitted_on} items; {stable.projected} new projected")
        return timed(StageReport(values=values), started)
    result = run_pca(x, n_components)
    storage.write_npy(paths.pca, result.components)
    values.update(components=int(result.components.shape[1]), kept_rows=0, projected_new=0,
                  fit_id=save_fit(storage, paths, result, shas),
                  explained_variance=round(float(result.explained_variance_ratio.sum()), 4),
                  note="; ".join(t for t in (result.note, stable if update == "place_new" else "") if t))
    report = StageReport(values=values)
    if len(result.explained_variance_ratio) > 1:
        report.pictures["explained_variance_plot"] = plots.explained_variance_png(result.explained_variance_ratio)
    return timed(report, started)



KNN_K = 50  # neighbours kept per item: t-SNE at perplexity <= 16 (3 x perplexity), the refinement, kNN50


def knn_path(paths: CollectionPaths) -> str:
    """Each item's KNN_K nearest neighbours (rows of pca.npy), written by tsne, reused by grid."""
    return paths.knn


def _tsne_items_path(paths: CollectionPaths) -> str:
    """Which item (content hash) each row of tsne.npy is: what a stable update matches on."""
    return paths.tsne_items


def _previous_items(storage: Storage, paths: CollectionPaths) -> dict:
    """``{"items": [content hash per row of tsne.npy and knn.npy], "pca_fit": fit id the lists were
    searched in}`` (a plain list in files of earlier versions), or {}."""
    try:
        got = storage.read_json(_tsne_items_path(paths))
    except FileNotFoundError:
        return {}
    except ValueError as exc:  # the previous map's positions: never silently dropped (that would move every item)
        raise CollectionError(f"{_tsne_items_path(paths)} is unreadable ({exc}); to lay the map out afresh, "
                              "materialize tsne with update: recompute") from exc
    if isinstance(got, list):
        return {"items": got}
    if not isinstance(got, dict) or not isinstance(got.get("items", []), list):
        raise CollectionError(f"{_tsne_items_path(paths)} is not a list of items; to lay the map out afresh, "
                              "materialize tsne with update: recompute")
    return got


def _previous_embedding(storage: Storage, paths: CollectionPaths, shas: list[str]) -> dict[str, np.ndarray] | None:
    try:
        emb = storage.read_npy(paths.tsne)
    except FileNotFoundError:
        return None
    if not shas or len(shas) != len(emb):
        return None
    return {sha: emb[i] for i, sha in enumerate(shas)}


def _neighbours(storage: Storage, paths: CollectionPaths, x: np.ndarray, shas: list[str], seed: int,
                previous: dict | None, fit: str) -> tuple[FeatureNeighbours, tuple[np.ndarray, np.ndarray], str]:
    """One neighbour search for t-SNE, the measures and the grid's refinement (exact below
    cviz.measure.quality.KNN_EXACT_MAX items; above, Annoy for t-SNE and the grid, a sample for the
    measures); on a stable update with the PCA fit kept, the previous lists updated instead."""
    why = ""
    if previous is not None:
        got = updated_neighbours(storage, paths, x, shas, KNN_K, previous, fit)
        if isinstance(got, FeatureNeighbours):
            return got, (got.knn, got.distances), "neighbour lists updated (PCA fit kept)"
        if isinstance(got, tuple):  # approximate lists merged with the new rows; the measures sample exactly
            return (feature_neighbours(x, seed, metric="euclidean"), got,
                    "approximate neighbour lists merged with the new items (PCA fit kept)")
        why = got
    fn = feature_neighbours(x, seed, metric="euclidean")
    return fn, ((fn.knn, fn.distances) if fn.exact else approximate_knn(x, KNN_K)), why


def _layout(storage: Storage, paths: CollectionPaths, x: np.ndarray, shas: list[str],
            knn: tuple[np.ndarray, np.ndarray], before: dict | None, perplexity: float, seed: int, backend: str,
            sample_above: int, sample_size: int) -> tuple[TsneResult, str]:
    """(the 2-D layout, why a stable update fell back to a fresh one): the previous points kept and
    the new ones placed when ``before`` (the previous map's items) allows; else t-SNE of every row,
    or of a sample with the rest placed above ``sample_above`` rows."""
    fallback = ""
    if before is not None:
        previous = _previous_embedding(storage, paths, before.get("items") or [])
        old_rows = [i for i, sha in enumerate(shas) if previous and sha in previous]
        if previous is None:
            fallback = "no previous embedding to keep: computed afresh"
        elif len(old_rows) < MIN_TSNE:
            fallback = f"only {len(old_rows)} item(s) of the previous embedding remain: computed afresh"
        else:
            old = np.stack([previous[shas[i]] for i in old_rows])
            return place_new(x, np.asarray(old_rows), old, perplexity=perplexity, seed=seed), fallback
    if len(x) > sample_above and backend == "opentsne":
        return run_tsne_sampled(x, sample_size, perplexity=perplexity, seed=seed, neighbours=knn), fallback
    return run_tsne(x, perplexity=perplexity, seed=seed, backend=backend, neighbours=knn), fallback


def stage_tsne(storage: Storage, name: str, perplexity: float = DEFAULT_PERPLEXITY, seed: int = 0,
               update: str = "recompute", backend: str = "opentsne", sample_above: int = TSNE_SAMPLE_ABOVE,
               sample_size: int = TSNE_SAMPLE_SIZE) -> StageReport:
    """``update="place_new"`` keeps the previous coordinates of items already mapped and places only
    the new ones (cviz.arrange.tsne.place_new); ``"recompute"`` (default) lays out everything afresh.
    ``backend``: ``opentsne`` (default) or ``multicore`` (MulticoreTSNE, `make multicore-tsne`).
    ``sample_above``, ``sample_size``: above that many items t-SNE runs on a sample of this size
    and places the rest into it (cviz.arrange.tsne.run_tsne_sampled; defaults there).
    Cost in N: the neighbour search (exact O(N^2 D) up to cviz.measure.quality.KNN_EXACT_MAX,
    Annoy O(N log N D) above) plus the t-SNE's (cviz.arrange.tsne); quality on a sample of
    cviz.measure.quality.KNN_SAMPLE items above KNN_EXACT_MAX: O(S N D).
    Reports how many feature-space neighbours the layout keeps (cviz.measure.quality)."""
    if update not in UPDATE_MODES:
        raise CollectionError(f"t-SNE update {update!r}: choose one of {', '.join(UPDATE_MODES)}")
    if backend not in TSNE_BACKENDS:
        raise CollectionError(f"t-SNE backend {backend!r}: choose one of {', '.join(TSNE_BACKENDS)}")
    if sample_above < 1 or sample_size < 2:
        raise CollectionError(f"t-SNE sampling: sample_above must be at least 1 and sample_size at least 2 "
                              f"(got sample_above={sample_above}, sample_size={sample_size})")
    started = time.perf_counter()
    paths = CollectionPaths(name)
    x = storage.read_npy(paths.pca)
    shas = [e["sha256"] for e in usable_items(read_catalogue(storage, name))]
    if len(shas) != x.shape[0]:
        raise CollectionError(f"collection {name}: pca has {x.shape[0]} rows for {len(shas)} items; re-materialize pca")
    before = _previous_items(storage, paths) if update == "place_new" else None
    fit = current_fit_id(storage, paths)  # the PCA fit these rows are on
    fn, knn, knn_note = _neighbours(storage, paths, x, shas, seed, before, fit)
    storage.write_npy(knn_path(paths), knn[0].astype(np.int32))
    result, fallback = _layout(storage, paths, x, shas, knn, before if update == "place_new" else None,
                               perplexity, seed, backend, sample_above, sample_size)
    layout_seconds = time.perf_counter() - started
    storage.write_npy(paths.tsne, result.embedding)
    storage.write_json(_tsne_items_path(paths), {"items": shas, "pca_fit": fit}, compact=True)
    note = "; ".join(t for t in (result.note, fallback, knn_note) if t)
    report = StageReport(values={
        "items": int(x.shape[0]), "method": result.method, "update": update, "placed_new": result.placed,
        "perplexity": result.perplexity if result.perplexity is not None else 0.0, "note": note,
        "layout_seconds": round(layout_seconds, 3),
    })
    q_started = time.perf_counter()
    report.values.update(neighbourhood_quality(fn, points=result.embedding,
                                               labels=label_values(storage, name), seed=seed))
    report.values["quality_seconds"] = round(time.perf_counter() - q_started, 3)
    report.pictures["tsne_plot"] = plots.scatter_png(result.embedding, f"t-SNE of {x.shape[0]} items")
    return timed(report, started)
