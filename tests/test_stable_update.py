"""Stable updates (update: place_new): PCA keeps its fit, the neighbour lists are updated, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from cviz.embed.pca import project, run_pca
from cviz.ingest.collection import CollectionConfig
from cviz.measure.knn import feature_knn, unit_rows, updated_knn
from cviz.paths import CollectionPaths
from cviz.stages import registry
from cviz.storage import Storage, open_storage

P = CollectionPaths("stable")


def _same_sets(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([set(r) == set(s) for r, s in zip(a.tolist(), b.tolist())]))


def test_updated_lists_equal_a_full_search_with_items_added_and_removed() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 24)).astype(np.float32)
    is_old = np.ones(2000, bool)
    is_old[rng.choice(2000, 40, replace=False)] = False  # 40 added since the last search
    old_rows = np.flatnonzero(is_old)
    gone = rng.normal(size=(7, 24)).astype(np.float32)  # 7 that were there and are gone
    before = feature_knn(np.concatenate([x[old_rows], gone]), 30, metric="euclidean")
    today = np.concatenate([old_rows, -np.ones(7, np.int64)])  # previous row -> today's row (-1: gone)
    previous = today[before[: len(old_rows)]]
    assert (previous < 0).any(), "the test needs old lists that name removed items"
    idx, dist = updated_knn(x, previous, old_rows, 30)
    ref_idx, ref_dist = feature_knn(x, 30, metric="euclidean", return_distance=True)
    assert _same_sets(idx, ref_idx) == 1.0
    np.testing.assert_allclose(dist, ref_dist, atol=1e-4)
    assert np.all(np.diff(dist, axis=1) >= -1e-6)  # nearest first
    assert not (idx == np.arange(2000)[:, None]).any()


def _collection(root: str, features: np.ndarray) -> Storage:
    """A registered collection whose catalogue lists len(features) usable items and their features."""
    storage = open_storage(root)
    registry.register(storage, CollectionConfig(name="stable", images=f"{root}/none"))
    files = [{"file": f"{i}.jpg", "status": "usable", "sha256": f"{i:064x}"} for i in range(len(features))]
    storage.write_json(P.catalogue, {"files": files, "base": f"{root}/none", "counts": {}, "skipped": [], "notes": []})
    storage.write_npy(P.features, features)
    return storage


def _features(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (6, 64))
    return np.abs(centres[rng.integers(0, 6, n)] + rng.normal(0, 1, (n, 64))).astype(np.float32)


def test_place_new_keeps_old_pca_rows_and_projects_new_items_on_the_same_fit(tmp_path) -> None:
    f = _features(440)
    storage = _collection(str(tmp_path), f[:400])
    first = registry.stage_pca(storage, "stable", n_components=16)
    before = storage.read_npy(P.pca)
    assert first.values["update"] == "recompute" and first.values["kept_rows"] == 0

    storage = _collection(str(tmp_path), f)  # 40 images added (10%: the fit saw 400 of 440 > 90%)
    report = registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    after = storage.read_npy(P.pca)
    assert report.values["kept_rows"] == 400 and report.values["projected_new"] == 40
    assert report.values["fit_id"] == first.values["fit_id"]
    assert np.array_equal(after[:400], before), "old rows changed"
    fit = run_pca(unit_rows(f[:400]), 16)  # the fit, independently: new rows are its projection
    np.testing.assert_allclose(after[400:], project(unit_rows(f[400:]), fit.mean, fit.basis), atol=1e-5)

    refit = registry.stage_pca(storage, "stable", n_components=16)  # recompute: a new fit of all 440
    assert refit.values["fit_id"] != first.values["fit_id"] and refit.values["kept_rows"] == 0


def test_place_new_refits_when_the_fit_saw_too_few_items_or_other_features(tmp_path) -> None:
    f = _features(600)
    storage = _collection(str(tmp_path), f[:300])
    registry.stage_pca(storage, "stable", n_components=16)
    storage = _collection(str(tmp_path), f)  # doubled: the old fit saw half
    report = registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    assert report.values["kept_rows"] == 0 and "300 of today's 600" in report.values["note"]

    other = f.copy()
    other[:, :8] += 5  # the same items, other features (another model): refit, never stale rows
    storage = _collection(str(tmp_path), other)
    report = registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    assert report.values["kept_rows"] == 0 and "no longer give their stored PCA rows" in report.values["note"]


def test_tsne_place_new_updates_the_neighbour_lists_only_when_pca_kept_its_fit(tmp_path) -> None:
    f = _features(330, seed=4)
    storage = _collection(str(tmp_path), f[:300])
    registry.stage_pca(storage, "stable", n_components=16)
    registry.stage_tsne(storage, "stable")
    storage = _collection(str(tmp_path), f)
    registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    report = registry.stage_tsne(storage, "stable", update="place_new")
    assert "neighbour lists updated" in report.values["note"]
    knn = storage.read_npy(P.knn)
    assert _same_sets(knn, feature_knn(storage.read_npy(P.pca), knn.shape[1], metric="euclidean")) == 1.0

    registry.stage_pca(storage, "stable", n_components=16)  # refitted: the old lists are of other rows
    report = registry.stage_tsne(storage, "stable", update="place_new")
    assert "PCA was refitted" in report.values["note"]


def test_an_unknown_pca_update_is_refused(tmp_path) -> None:
    storage = _collection(str(tmp_path), _features(50))
    with pytest.raises(Exception, match="choose one of recompute, place_new"):
        registry.stage_pca(storage, "stable", update="sometimes")


def _updated_once(tmp_path) -> Storage:  # noqa: ANN001
    """A 300-item map (pca + tsne), then 30 images added: the state before a place_new update."""
    f = _features(330, seed=6)
    storage = _collection(str(tmp_path), f[:300])
    registry.stage_pca(storage, "stable", n_components=16)
    registry.stage_tsne(storage, "stable")
    return _collection(str(tmp_path), f)


def test_a_damaged_fit_is_refitted_and_said_so(tmp_path) -> None:
    storage = _updated_once(tmp_path)
    storage.write_bytes(P.pca_items, b'{"fit_id": "x", "items": [')  # cut short
    report = registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    assert report.values["kept_rows"] == 0 and "unreadable" in report.values["note"]
    assert P.pca_items in report.values["note"]
    assert len(storage.read_json(P.pca_items)["items"]) == 330  # a whole record again


def test_a_pca_run_cut_short_leaves_no_fit_to_keep(tmp_path, monkeypatch) -> None:
    storage = _updated_once(tmp_path)
    real = Storage.write_npy

    def full_disk(self, rel, array):  # noqa: ANN001, ANN202
        if rel == P.pca:
            raise OSError(28, "No space left on device")
        return real(self, rel, array)

    monkeypatch.setattr(type(storage), "write_npy", full_disk)
    with pytest.raises(OSError):
        registry.stage_pca(storage, "stable", n_components=16)
    monkeypatch.undo()
    assert not storage.exists(P.pca_items), "a fit record would name rows that were never written"
    report = registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    assert report.values["kept_rows"] == 0 and "no previous PCA fit" in report.values["note"]


def test_neighbour_lists_of_other_rows_are_never_passed_on(tmp_path) -> None:
    """Same fit id, right shape, wrong rows (a tsne run cut short between its writes): searched afresh."""
    storage = _updated_once(tmp_path)
    registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    knn = storage.read_npy(P.knn)
    storage.write_npy(P.knn, np.random.default_rng(1).permuted(knn, axis=0))
    report = registry.stage_tsne(storage, "stable", update="place_new")
    assert "do not fit the previous rows" in report.values["note"]
    got = storage.read_npy(P.knn)
    assert _same_sets(got, feature_knn(storage.read_npy(P.pca), got.shape[1], metric="euclidean")) == 1.0


def test_a_damaged_item_list_of_the_map_is_an_error_naming_it(tmp_path) -> None:
    """tsne_items.json says where every item sits: a damaged one is not silently replaced by a new map."""
    storage = _updated_once(tmp_path)
    registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    before = storage.read_npy(P.tsne)
    storage.write_bytes(P.tsne_items, b"[not json")
    with pytest.raises(Exception, match="tsne_items.json is unreadable.*update: recompute"):
        registry.stage_tsne(storage, "stable", update="place_new")
    assert np.array_equal(storage.read_npy(P.tsne), before)  # the previous map is untouched
