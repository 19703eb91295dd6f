"""Stable updates (``update: place_new``) of PCA and the neighbour search: old rows kept, new ones added.

Refitting PCA when 1% of the items are new moves every item's components a little, so nothing
computed from them before (the tsne stage's neighbour lists) can be reused, though the map keeps
its points anyway. Keeping the fit instead keeps an old item's row exactly as it was (copied; new
items are projected with :func:`cviz.embed.pca.project`), which is what lets the tsne stage update its
neighbour lists exactly instead of searching N x N again (:func:`cviz.measure.knn.updated_knn`).

The fit is refitted (and the report says why) when there is none, when it was fitted on fewer than
``REFIT_SHARE`` of today's items (the basis should describe the collection, not its first tenth),
or when old items' features no longer project to their stored rows (another model, other weights).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from cviz.embed.pca import PcaResult, project
from cviz.measure.knn import knn_fits, merged_knn, updated_knn
from cviz.measure.quality import KNN_EXACT_MAX, FeatureNeighbours
from cviz.paths import CollectionPaths
from cviz.storage import Storage

REFIT_SHARE = 0.9
PROBES = 64  # old rows re-projected to check that they are still what is stored
UNREADABLE = (ValueError, OSError, EOFError, KeyError, TypeError, AttributeError)  # a damaged file, not a missing one


@dataclass
class StableRows:
    components: np.ndarray  # N x K float32, old rows as stored, new rows projected
    kept: int
    projected: int
    fit_id: str
    fitted_on: int


def save_fit(storage: Storage, paths: CollectionPaths, result: PcaResult, shas: list[str],
             fitted_on: int | None = None, fit_id: str | None = None) -> str:
    """Write the basis (when one was fitted) and which item each row is; returns the fit's id."""
    if result.basis is not None and result.mean is not None and fit_id is None:
        basis = np.concatenate([result.mean[:, None], result.basis], axis=1).astype(np.float32)
        storage.write_npy(paths.pca_basis, basis)
        fit_id = hashlib.sha256(basis.tobytes()).hexdigest()[:16]
    storage.write_json(paths.pca_items, {"fit_id": fit_id or "", "fitted_on": fitted_on or len(shas), "items": shas},
                       compact=True)
    return fit_id or ""


def stable_rows(storage: Storage, paths: CollectionPaths, features: np.ndarray, shas: list[str]) -> StableRows | str:
    """The previous fit's rows for old items and projections for new ones, or why it must refit."""
    try:
        meta = storage.read_json(paths.pca_items)
        basis = storage.read_npy(paths.pca_basis)
        previous = storage.read_npy(paths.pca)
        old_shas = list(meta.get("items") or [])
    except FileNotFoundError:
        return "no previous PCA fit to keep: fitted afresh"
    except UNREADABLE as exc:  # the fit is only a shortcut: a damaged one is refitted, and said so
        return f"the previous PCA fit ({paths.pca_items}, {paths.pca_basis}) is unreadable ({exc}): fitted afresh"
    if len(old_shas) != len(previous) or basis.shape[0] != features.shape[1] or basis.shape[1] - 1 != previous.shape[1]:
        return "the previous PCA fit does not match today's features: fitted afresh"
    if meta.get("fitted_on", 0) < REFIT_SHARE * len(shas):
        return (f"the previous PCA fit saw {meta.get('fitted_on', 0)} of today's {len(shas)} items "
                f"(under {REFIT_SHARE:.0%}): fitted afresh")
    row_of = {sha: i for i, sha in enumerate(old_shas)}
    old = np.array([row_of.get(sha, -1) for sha in shas])
    kept = np.flatnonzero(old >= 0)
    mean, directions = basis[:, 0], basis[:, 1:]
    probe = kept[np.random.default_rng(0).choice(len(kept), size=min(PROBES, len(kept)), replace=False)] if len(kept) else kept
    if len(probe) and not np.allclose(project(features[probe], mean, directions), previous[old[probe]], rtol=1e-4, atol=1e-5):
        return "old items' features no longer give their stored PCA rows (another model?): fitted afresh"
    out = np.empty((len(shas), directions.shape[1]), np.float32)
    out[kept] = previous[old[kept]]
    new = np.flatnonzero(old < 0)
    if len(new):
        out[new] = project(features[new], mean, directions)
    return StableRows(out, len(kept), len(new), str(meta.get("fit_id", "")), int(meta["fitted_on"]))


def current_fit_id(storage: Storage, paths: CollectionPaths) -> str:
    """The id of the fit pca.npy's rows are on ("" when none is recorded or the record is damaged)."""
    try:
        return str(storage.read_json(paths.pca_items).get("fit_id", ""))
    except FileNotFoundError:
        return ""
    except UNREADABLE:
        return ""


def updated_neighbours(storage: Storage, paths: CollectionPaths, x: np.ndarray, shas: list[str], k: int,
                       previous_items: dict, fit: str) -> FeatureNeighbours | tuple[np.ndarray, np.ndarray] | str:
    """The exact kNN of today's PCA rows from the previous ``knn.npy``, when the pca stage kept the
    fit ``fit`` those lists were searched in (so old rows are unchanged); else why not (then search).
    Above ``KNN_EXACT_MAX`` rows the lists are approximate (Annoy's): they are merged with the new
    rows instead (cviz.measure.knn.merged_knn) and returned as (indices, distances).
    The result is checked against an exact search of a few rows, so lists that are not of these
    rows (a run cut short between writes) are never passed on."""
    if not fit or previous_items.get("pca_fit") != fit:
        return "PCA was refitted since the last neighbour search: searched afresh"
    try:
        knn = storage.read_npy(paths.knn).astype(np.int64)
    except FileNotFoundError:
        return "no previous neighbour search: searched afresh"
    except UNREADABLE as exc:
        return f"the previous neighbour lists ({paths.knn}) are unreadable ({exc}): searched afresh"
    old_shas = previous_items.get("items") or []
    if knn.ndim != 2 or knn.shape[0] != len(old_shas) or (knn.size and knn.max() >= len(old_shas)):
        return "the previous neighbour lists are not of the previous rows: searched afresh"
    today = {sha: i for i, sha in enumerate(shas)}
    to_today = np.array([today.get(sha, -1) for sha in old_shas] + [-1], np.int64)  # [-1]: padding stays -1
    still = to_today[:-1] >= 0
    previous = to_today[np.where(knn[still] >= 0, knn[still], len(old_shas))]
    approximate = len(x) > KNN_EXACT_MAX
    idx, dist = (merged_knn if approximate else updated_knn)(x, previous, to_today[:-1][still], k)
    if not knn_fits(idx, x, k, min_share=0.5 if approximate else 1.0):
        return "the previous neighbour lists do not fit the previous rows: searched afresh"
    if approximate:
        return idx, dist
    return FeatureNeighbours(np.arange(len(x)), idx, True, np.asarray(x, np.float32), "euclidean", dist)
