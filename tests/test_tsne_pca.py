"""PCA against scikit-learn, t-SNE determinism, and stable maps (new points placed, old ones kept)."""

from __future__ import annotations

import numpy as np
import pytest

from cviz.arrange.refine import REFINE_K
from cviz.arrange.tsne import place_new, run_tsne
from cviz.embed.pca import run_pca
from cviz.ingest.collection import CollectionConfig
from cviz.measure.knn import knn_fits
from cviz.paths import CollectionPaths
from cviz.stages import grid as stage_grid_mod
from cviz.stages import registry
from cviz.storage import Storage, open_storage


def _blobs(n: int, d: int = 40, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 8, (k, d))
    label = rng.integers(0, k, n)
    return (centres[label] + rng.normal(0, 1, (n, d))).astype(np.float32), label


def test_pca_matches_scikit_learn_full_svd() -> None:
    from sklearn.decomposition import PCA

    x = np.abs(np.random.default_rng(0).normal(size=(500, 64))).astype(np.float32) * np.linspace(3, 0.1, 64, dtype=np.float32)
    ours = run_pca(x, 20)
    ref = PCA(20, svd_solver="full").fit(x)
    ref_x = ref.transform(x)
    # Same subspace and variances; each component equal up to its sign.
    np.testing.assert_allclose(ours.explained_variance_ratio, ref.explained_variance_ratio_, rtol=1e-4)
    signs = np.sign((ours.components * ref_x).sum(axis=0))
    np.testing.assert_allclose(ours.components, ref_x * signs, atol=2e-3 * np.abs(ref_x).max())


def test_pca_is_deterministic_and_says_when_it_gives_fewer_components() -> None:
    x, _ = _blobs(30, d=8)
    a, b = run_pca(x, 256), run_pca(x, 256)
    assert np.array_equal(a.components, b.components)
    assert a.components.shape == (30, 8) and "feature dimension 8" in a.note
    few = run_pca(x[:5], 256)
    assert few.components.shape == (5, 4) and "5 items" in few.note


def test_tsne_is_deterministic_for_a_seed() -> None:
    x, _ = _blobs(250)
    a = run_tsne(x, seed=3, n_iter=50).embedding
    b = run_tsne(x, seed=3, n_iter=50).embedding
    assert np.array_equal(a, b)


def test_place_new_keeps_old_points_and_puts_new_ones_by_their_neighbours() -> None:
    x, label = _blobs(330, seed=1)
    old = np.arange(300)
    base = run_tsne(x[old], seed=0, n_iter=100).embedding
    res = place_new(x, old, base, seed=0)
    assert np.array_equal(res.embedding[old], base), "old points moved"
    assert res.placed == 30
    # Each new point lands among the old points of its own cluster.
    for i in range(300, 330):
        nearest_old = np.argsort(((base - res.embedding[i]) ** 2).sum(axis=1))[:10]
        assert np.mean(label[nearest_old] == label[i]) >= 0.8


def _fake_collection(root: str, n: int, x: np.ndarray) -> Storage:
    """A registered collection with a catalogue of n usable items and its pca.npy (no images needed)."""
    storage = open_storage(root)
    paths = CollectionPaths("stable")
    registry.register(storage, CollectionConfig(name="stable", images=f"{root}/none"))
    files = [{"file": f"{i}.jpg", "status": "usable", "sha256": f"{i:064x}"} for i in range(n)]
    storage.write_json(paths.catalogue, {"files": files, "base": f"{root}/none", "counts": {}, "skipped": [], "notes": []})
    storage.write_npy(paths.pca, x[:n])
    return storage


def test_stage_tsne_place_new_after_images_are_added(tmp_path) -> None:
    x, _ = _blobs(230, seed=2)
    storage = _fake_collection(str(tmp_path), 200, x)
    first = registry.stage_tsne(storage, "stable")
    before = storage.read_npy(CollectionPaths("stable").tsne)
    assert first.values["update"] == "recompute"

    # Thirty images added (and pca re-run: here the same rows plus thirty).
    storage = _fake_collection(str(tmp_path), 230, x)
    report = registry.stage_tsne(storage, "stable", update="place_new")
    after = storage.read_npy(CollectionPaths("stable").tsne)
    assert report.values["placed_new"] == 30 and "30 new item(s) placed" in report.values["note"]
    assert np.array_equal(after[:200], before)

    again = registry.stage_tsne(storage, "stable", update="place_new")
    assert again.values["placed_new"] == 0
    assert np.array_equal(storage.read_npy(CollectionPaths("stable").tsne), after)

    with pytest.raises(Exception, match="choose one of recompute, place_new"):
        registry.stage_tsne(storage, "stable", update="sometimes")


def test_stable_update_keeps_grid_cells_too(tmp_path) -> None:
    """tsne place_new then grid keep_previous: the mosaic positions of old items do not change."""
    x, _ = _blobs(230, seed=3)
    storage = _fake_collection(str(tmp_path), 200, x)
    registry.stage_tsne(storage, "stable")
    registry.stage_grid(storage, "stable")
    before = storage.read_json(CollectionPaths("stable").grid)
    storage = _fake_collection(str(tmp_path), 230, x)
    registry.stage_tsne(storage, "stable", update="place_new")
    report = registry.stage_grid(storage, "stable", keep_previous=True)
    after = storage.read_json(CollectionPaths("stable").grid)
    xy = lambda g, c: (c % g["cols"], c // g["cols"])  # noqa: E731
    assert [xy(after, c) for c in after["cells"][:200]] == [xy(before, c) for c in before["cells"]]
    assert len(set(after["cells"])) == 230
    assert "30 new item(s) placed" in report.values["note"]


# -- quality levers: L2-normalised PCA, exact neighbours, MulticoreTSNE ----------------------------
import os  # noqa: E402

from cviz.measure.quality import feature_neighbours, neighbourhood_quality  # noqa: E402


def _layout_quality(emb: np.ndarray, x: np.ndarray, label: np.ndarray) -> dict:
    return neighbourhood_quality(feature_neighbours(x, metric="euclidean"), points=emb,
                                 labels={"blob": [str(v) for v in label]})


def test_tsne_on_precomputed_exact_neighbours_keeps_clusters_and_is_deterministic() -> None:
    x, label = _blobs(400, seed=5)
    fn = feature_neighbours(x, metric="euclidean")
    a = run_tsne(x, seed=1, n_iter=100, neighbours=(fn.knn, fn.distances))
    b = run_tsne(x, seed=1, n_iter=100, neighbours=(fn.knn, fn.distances))
    assert a.method == "openTSNE (given kNN)" and np.array_equal(a.embedding, b.embedding)
    assert _layout_quality(a.embedding, x, label)["label_blob_tsne"] > 0.95
    # Too few neighbours for the perplexity: openTSNE searches itself instead.
    assert run_tsne(x, perplexity=30, n_iter=50, neighbours=(fn.knn[:, :20], fn.distances[:, :20])).method == "openTSNE"


def test_stage_pca_normalises_features_first(tmp_path) -> None:
    x, _ = _blobs(60, seed=4)
    scaled = x * np.random.default_rng(0).uniform(0.1, 10, (60, 1)).astype(np.float32)  # lengths vary, directions not
    storage = _fake_collection(str(tmp_path), 60, x)
    storage.write_npy(CollectionPaths("stable").features, scaled)
    report = registry.stage_pca(storage, "stable")
    assert report.values["normalised"] is True
    from cviz.measure.knn import unit_rows

    expected = run_pca(unit_rows(scaled), 256).components
    np.testing.assert_allclose(storage.read_npy(CollectionPaths("stable").pca), expected, atol=1e-5)


def test_stage_tsne_reports_how_many_neighbours_the_layout_keeps(tmp_path) -> None:
    x, _ = _blobs(200, seed=6)
    storage = _fake_collection(str(tmp_path), 200, x)
    values = registry.stage_tsne(storage, "stable").values
    assert 0.2 < values["knn16_tsne"] <= 1 and 0.2 < values["knn50_tsne"] <= 1
    assert values["knn_method"] == "exact, euclidean" and "kNN16 preserved: tsne" in values["quality_line"]


def _multicore_or_skip() -> None:
    """Honest skip outside CI only: `make test` builds MulticoreTSNE, so under CI=true its absence fails."""
    from tests.conftest import missing_prerequisite

    try:
        import MulticoreTSNE  # noqa: F401
    except ImportError:
        missing_prerequisite("MulticoreTSNE is not importable: `make multicore-tsne` builds it (make test runs it)")


def test_multicore_backend_runs_and_keeps_neighbours(tmp_path) -> None:
    _multicore_or_skip()
    x, label = _blobs(300, seed=7)
    res = run_tsne(x, backend="multicore", n_iter=300, seed=0)
    assert res.method == "MulticoreTSNE" and res.embedding.shape == (300, 2)
    values = _layout_quality(res.embedding, x, label)
    assert values["knn16_tsne"] > 0.3 and values["label_blob_tsne"] > 0.9
    # Through the stage (the tsne asset's `backend: multicore`): method and quality reported.
    storage = _fake_collection(str(tmp_path), 300, x)
    report = registry.stage_tsne(storage, "stable", backend="multicore")
    assert report.values["method"] == "MulticoreTSNE" and report.values["knn16_tsne"] > 0.3


def test_multicore_missing_falls_back_to_opentsne_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "MulticoreTSNE", None)  # import fails as on a machine without the build
    res = run_tsne(_blobs(60)[0], backend="multicore", n_iter=50)
    assert res.method.startswith("openTSNE") and "MulticoreTSNE is not importable" in res.note
    with pytest.raises(ValueError, match="choose one of opentsne, multicore"):
        run_tsne(_blobs(60)[0], backend="sklearn")


def test_cli_passes_the_tsne_backend_to_the_asset_config() -> None:
    from cviz_assets.cli import build_parser

    args = build_parser().parse_args(["run", "-id", "c", "-imagedir", "d", "--tsne", "multicore", "--grid-method", "flas_tsne"])
    assert (args.tsne_backend, args.grid_method) == ("multicore", "flas_tsne")
    assert build_parser().parse_args(["run", "-id", "c", "-imagedir", "d"]).tsne_backend == "opentsne"
    from cviz_assets.assets import GridConfig, TsneConfig

    assert TsneConfig().backend == "opentsne" and GridConfig().refine is True


def test_large_collections_use_approximate_neighbours_and_sampled_measures(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above KNN_EXACT_MAX: Annoy neighbours for t-SNE and the refinement, measures on a fixed sample."""
    from cviz.measure import quality
    monkeypatch.setattr(quality, "KNN_EXACT_MAX", 100)
    monkeypatch.setattr(quality, "KNN_SAMPLE", 60)
    monkeypatch.setattr(stage_grid_mod, "KNN_EXACT_MAX", 100)
    x, _ = _blobs(240, seed=8)
    storage = _fake_collection(str(tmp_path), 240, x)
    tsne_values = registry.stage_tsne(storage, "stable").values
    knn = storage.read_npy(f"{CollectionPaths('stable').base}/knn.npy")
    assert knn.shape == (240, 50) and tsne_values["method"] == "openTSNE (given kNN)"  # Annoy's, given to openTSNE
    assert tsne_values["knn_method"] == "sampled: 60 items, seed 0, euclidean"
    values = registry.stage_grid(storage, "stable").values
    assert values["knn_method"] == "sampled: 60 items, seed 0, euclidean" and values["refined"] is True
    cells = storage.read_json(CollectionPaths("stable").grid)["cells"]
    assert len(set(cells)) == 240


def test_grid_ignores_a_stale_neighbour_file(tmp_path) -> None:
    """knn.npy left from other rows (a killed run, pca re-run since): grid searches again."""
    x, _ = _blobs(200, seed=9)
    storage = _fake_collection(str(tmp_path), 200, x)
    registry.stage_tsne(storage, "stable")
    knn_path = f"{CollectionPaths('stable').base}/knn.npy"
    good = storage.read_npy(knn_path)
    assert knn_fits(good.astype(np.int64), x[:200], REFINE_K)
    stale = np.random.default_rng(0).permuted(good, axis=0)  # right shape, wrong rows
    assert not knn_fits(stale.astype(np.int64), x[:200], REFINE_K)
    storage.write_npy(knn_path, stale)
    fresh = registry.stage_grid(storage, "stable").values
    storage.write_npy(knn_path, good)
    assert registry.stage_grid(storage, "stable").values["knn16_grid"] == fresh["knn16_grid"]


def test_place_new_affinities_equal_opentsne_exact_ones_without_an_index_over_the_kept_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """The new points' affinities (all transform reads) equal, to 1e-3 on rows summing to 1, those of openTSNE's own
    ``PerplexityBasedNN(method="exact").to_new``, and ``place_new`` builds no neighbour index or
    affinity matrix over the kept points (5-6 s at 13,000 of them before)."""
    import openTSNE.affinity as aff

    from cviz.arrange import tsne
    x, _ = _blobs(700, d=20)
    kept, new = x[:660], x[660:]
    ours = tsne._affinities_to_kept(kept, 15.0, 1).to_new(new, perplexity=5.0)
    ref = aff.PerplexityBasedNN(kept, perplexity=15.0, method="exact", n_jobs=1, verbose=False).to_new(new, perplexity=5.0)
    assert ours.shape == ref.shape == (40, 660)
    assert ((ours.toarray() > 0) == (ref.toarray() > 0)).all()  # the same neighbours
    # Float32 distances here against float64 there, through the perplexity search: 2e-4 at most seen.
    np.testing.assert_allclose(ours.toarray(), ref.toarray(), rtol=0, atol=1e-3)

    def refuse(*args, **kwargs):
        raise AssertionError("place_new built affinities over the kept points")

    monkeypatch.setattr(aff.PerplexityBasedNN, "__init__", refuse)
    emb = run_tsne(kept, n_iter=50, early_iter=50).embedding
    out = place_new(x, np.arange(660), emb)
    np.testing.assert_array_equal(out.embedding[:660], emb)
    assert out.placed == 40 and np.isfinite(out.embedding).all()
