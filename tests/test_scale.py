"""What lets the stages after `features` run at 1,000,000 items: PCA of normalised features
without a normalised copy, and t-SNE on a sample with the rest placed into it."""

from __future__ import annotations

import numpy as np
import pytest

from cviz.arrange.tsne import run_tsne, run_tsne_sampled
from cviz.embed.pca import UnitRows, run_pca
from cviz.measure.knn import feature_knn, unit_rows
from cviz.measure.quality import knn_preservation, layout_neighbours


def _clusters(n: int, d: int = 24, k: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (k, d))
    return (centres[rng.integers(0, k, n)] + rng.normal(0, 1, (n, d))).astype(np.float32)


def test_pca_of_unit_rows_view_equals_pca_of_a_normalised_copy() -> None:
    f = np.abs(_clusters(3000, 40)) * np.linspace(0.5, 3, 3000)[:, None]  # rows of very different lengths
    view, copy = run_pca(UnitRows(f), 16), run_pca(unit_rows(f), 16)
    assert view.components.shape == (3000, 16)
    np.testing.assert_allclose(view.components, copy.components, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(view.explained_variance_ratio, copy.explained_variance_ratio, rtol=1e-5)
    assert np.allclose(np.linalg.norm(UnitRows(f)[[0, 5, 2999]], axis=1), 1, atol=1e-6)


def test_sampled_tsne_places_every_item_and_keeps_neighbourhoods() -> None:
    x = _clusters(1500)
    full = run_tsne(x, n_jobs=1)
    knn, dist = feature_knn(x, 50, metric="euclidean", return_distance=True)
    sampled = run_tsne_sampled(x, sample_size=500, n_jobs=1, transform_iter=50, batch=500, neighbours=(knn, dist))
    assert sampled.embedding.shape == (1500, 2) and np.isfinite(sampled.embedding).all()
    assert sampled.placed == 1000 and "sample of 500" in sampled.note
    kept = {name: knn_preservation(layout_neighbours(r.embedding, 8), knn[:, :16]) for name, r in
            (("full", full), ("sampled", sampled))}
    # with the full iterations after the placement, as many neighbours kept as the full map keeps
    assert kept["sampled"] > kept["full"] - 0.03, kept


def test_sampled_tsne_with_a_sample_covering_everything_is_plain_tsne() -> None:
    x = _clusters(300)
    got = run_tsne_sampled(x, sample_size=300, n_jobs=1)
    assert got.placed == 0 and got.method.startswith("openTSNE")


def test_merged_knn_adds_new_items_to_approximate_lists_without_searching_everything() -> None:
    from cviz.measure.knn import merged_knn

    x = _clusters(3000, 16, k=30)
    old = np.arange(2940)  # 2% new items at the end
    before = feature_knn(x[old], 20, metric="euclidean")  # the previous search (here exact) of the old rows
    before[5, -1] = -1  # an item gone from row 5's list: that row is searched afresh
    idx, dist = merged_knn(x, before, old, 20)
    exact, exact_d = feature_knn(x, 20, metric="euclidean", return_distance=True)
    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(idx, exact)])
    assert recall > 0.97, recall
    assert np.array_equal(idx[2940:], exact[2940:]) and np.array_equal(idx[5], exact[5])  # searched rows: exact
    assert (np.diff(dist, axis=1) >= -1e-5).all() and not (idx == np.arange(3000)[:, None]).any()
    gained = np.isin(idx[old], np.arange(2940, 3000)).any(axis=1).sum()
    assert gained > 20  # old rows took new items into their lists


def test_stage_tsne_above_the_exact_limit_merges_new_items_into_the_lists_and_samples(tmp_path, monkeypatch) -> None:
    """The stages as the assets run them, with the limits lowered: a place_new update above
    KNN_EXACT_MAX merges the new items into the approximate lists (no new search of every row);
    a recompute above ``sample_above`` lays out a sample and places the rest."""
    from cviz.measure import quality
    from cviz.paths import CollectionPaths
    from cviz.stages import registry, stable_update
    from tests.test_stable_update import _collection

    monkeypatch.setattr(quality, "KNN_EXACT_MAX", 100)
    monkeypatch.setattr(quality, "KNN_SAMPLE", 60)
    monkeypatch.setattr(stable_update, "KNN_EXACT_MAX", 100)
    f = np.abs(_clusters(330, 32, k=6, seed=4))
    storage = _collection(str(tmp_path), f[:300])
    registry.stage_pca(storage, "stable", n_components=16)
    first = registry.stage_tsne(storage, "stable", sample_above=250, sample_size=120)
    assert first.values["method"].startswith("openTSNE sample + transform") and first.values["placed_new"] == 180
    storage = _collection(str(tmp_path), f)
    registry.stage_pca(storage, "stable", n_components=16, update="place_new")
    report = registry.stage_tsne(storage, "stable", update="place_new")
    assert "approximate neighbour lists merged with the new items" in report.values["note"], report.values["note"]
    assert report.values["placed_new"] == 30
    knn = storage.read_npy(CollectionPaths("stable").knn)
    x = storage.read_npy(CollectionPaths("stable").pca)
    exact = feature_knn(x, knn.shape[1], metric="euclidean")
    assert knn.shape == (330, 50) and np.array_equal(knn[300:], exact[300:])  # new rows: searched exactly
    assert np.mean([len(set(a) & set(b)) / 50 for a, b in zip(knn, exact)]) > 0.9


def test_the_tsne_asset_takes_its_sampling_thresholds_from_its_config(tmp_path) -> None:
    """The Launchpad's tsne config sets where sampling starts and the sample's size; a changed
    threshold is a changed setting, so the stage runs again instead of being skipped."""
    import dagster as dg

    from cviz_assets.assets import pca, tsne
    from cviz_resources import StorageResource
    from tests.test_stable_update import _collection

    _collection(str(tmp_path), np.abs(_clusters(300, 32, k=6, seed=5)))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", ["stable"])
    res = {"storage": StorageResource(root=str(tmp_path))}

    def run(**tsne_config) -> dict:
        result = dg.materialize([pca, tsne], partition_key="stable", instance=instance, resources=res,
                                run_config={"ops": {"tsne": {"config": tsne_config}}})
        return result.asset_materializations_for_node("tsne")[0].metadata

    sampled = run(sample_above=250, sample_size=120)  # the default (150,000) would lay out all 300
    assert sampled["method"].value.startswith("openTSNE sample + transform") and sampled["placed_new"].value == 180
    with pytest.raises(Exception, match="sample_above must be at least 1"):
        run(sample_above=0)
