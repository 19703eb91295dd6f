"""Layout quality: our chunked DPQ against vc-flas' reference, and figures known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from vc_flas import metrics

from cviz.measure import dpq as dpq_mod
from cviz.measure import quality
from cviz.measure.dpq import dpq, dpq_sampled, layout_quality, mean_neighbour_distance, sorted_grid


def _reference(features: np.ndarray, cells: np.ndarray, cols: int, rows: int) -> float:
    grid, valid = sorted_grid(features, cells, cols, rows)
    return float(metrics.distance_preservation_quality(grid.astype(np.float64), valid, p=16))


@pytest.mark.parametrize("arrangement", ["random", "by_first_feature"])
def test_all_rows_equals_vc_flas_reference(arrangement: str) -> None:
    rng = np.random.default_rng(3)
    n, cols, rows = 290, 17, 18  # 16 empty cells
    features = rng.normal(size=(n, 12)).astype(np.float32)
    if arrangement == "random":
        cells = rng.permutation(cols * rows)[:n]
    else:
        cells = np.empty(n, np.int64)
        cells[np.argsort(features[:, 0])] = np.arange(n)
    assert dpq_sampled(features, cells, cols) == pytest.approx(_reference(features, cells, cols, rows), abs=1e-9)


def test_sampled_estimate_is_close_to_exact() -> None:
    rng = np.random.default_rng(5)
    cols = rows = 40
    # Items whose features are a smooth function of a 2-D position, placed with local noise.
    xy = np.stack(np.divmod(np.arange(cols * rows), cols), axis=1).astype(np.float64)
    features = np.concatenate([xy, np.sin(xy / 7.0)], axis=1) + rng.normal(0, 0.3, (cols * rows, 4))
    cells = np.arange(cols * rows)
    swap = rng.choice(cols * rows, 200, replace=False)
    cells[swap] = cells[rng.permutation(swap)]
    exact = dpq_sampled(features, cells, cols)
    estimate = dpq_sampled(features, cells, cols, query=np.sort(rng.choice(cols * rows, 400, replace=False)))
    assert abs(estimate - exact) < 0.02


def test_good_arrangement_scores_higher_than_random() -> None:
    rng = np.random.default_rng(0)
    cols = rows = 20
    xy = np.stack(np.divmod(np.arange(cols * rows), cols), axis=1).astype(np.float32)
    ordered = dpq(xy, np.arange(cols * rows), cols, rows)[0]
    shuffled = dpq(xy, rng.permutation(cols * rows), cols, rows)[0]
    assert ordered > 0.9 > 0.5 > shuffled


def test_large_n_uses_the_sampled_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dpq_mod, "EXACT_MAX", 100)
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 5))
    q = layout_quality(features, rng.permutation(300), 20, 15, sample=50)
    assert (q.exact, q.rows_used) == (False, 50)
    assert q.to_values()["dpq_method"] == "estimate on 50 sampled items"


def test_mean_neighbour_distance_of_a_perfect_lattice_is_one() -> None:
    cols, rows, n = 9, 7, 60  # three holes at the end: they do not count as neighbours
    xy = np.stack(np.divmod(np.arange(n), cols), axis=1).astype(np.float32)
    assert mean_neighbour_distance(xy, np.arange(n), cols, rows) == pytest.approx(1.0)


@pytest.mark.parametrize("band_bytes", [1, 3 * 23 * 6 * 8, 32 << 20])  # one row, three rows, the whole grid
def test_mean_neighbour_distance_in_bands_equals_vc_flas(band_bytes: int) -> None:
    """Computed band by band of grid rows, with holes anywhere: vc-flas' value on the whole grid."""
    rng = np.random.default_rng(8)
    cols, rows, n = 23, 19, 400  # 37 holes
    features = rng.normal(size=(n, 6)).astype(np.float32)
    cells = rng.permutation(cols * rows)[:n]
    grid, valid = sorted_grid(features, cells, cols, rows)
    want = float(metrics.mean_neighbor_distance(grid, valid))
    assert mean_neighbour_distance(features, cells, cols, rows, band_bytes=band_bytes) == pytest.approx(want, rel=1e-12)


def test_dpq_in_small_feature_blocks_equals_one_block() -> None:
    rng = np.random.default_rng(9)
    features = rng.normal(size=(150, 7)).astype(np.float32)
    cells = rng.permutation(160)[:150]
    whole = dpq_sampled(features, cells, 16)
    assert dpq_sampled(features, cells, 16, chunk_bytes=8 * 7 * 3) == pytest.approx(whole, abs=1e-12)


def test_degenerate_collections_score_one_not_nan() -> None:
    """One or two items, or all items alike: nothing to preserve, and metadata must stay a number."""
    for n in (1, 2):
        assert dpq(np.random.default_rng(0).normal(size=(n, 3)), np.arange(n), n, 1)[0] == 1.0
    assert dpq(np.ones((6, 3)), np.arange(6), 3, 2)[0] == 1.0


# -- kNN preservation and label agreement -------------------------------------------------------
from cviz.measure.knn import feature_knn  # noqa: E402
from cviz.measure.quality import (  # noqa: E402
    LabelSets,
    feature_neighbours,
    grid_neighbours,
    knn_preservation,
    label_agreement,
    neighbourhood_quality,
    with_chance,
)


def _lattice(cols: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Items at every cell of a cols x rows grid; features whose cosine order is the grid's
    Euclidean order ((x, y, C) with C large: cos = 1 - d^2 / 2C^2 + o(C^-2))."""
    y, x = np.divmod(np.arange(cols * rows), cols)
    xy = np.stack([x, y], axis=1).astype(np.float64)
    return xy, np.concatenate([xy - xy.mean(axis=0), np.full((len(xy), 1), 100.0)], axis=1)


def test_perfectly_sorted_grid_preserves_every_neighbour() -> None:
    cols, rows = 20, 15
    xy, features = _lattice(cols, rows)
    fn = feature_neighbours(features)
    values = neighbourhood_quality(fn, points=xy, grid=(np.arange(cols * rows), cols, rows),
                                   labels={"band": [f"b{int(v) // 5}" for v in xy[:, 1]]})
    assert values["knn16_grid"] == 1.0 and values["knn50_grid"] == 1.0
    assert values["knn16_tsne"] == 1.0
    assert values["knn_method"] == "exact, cosine" and values["knn_queries"] == cols * rows
    assert values["label_band_grid"] > 0.85 > 0.5 > values["label_band_grid_chance"]
    assert "kNN16 preserved: tsne 1.000 -> grid 1.000" in values["quality_line"]


def test_shuffled_grid_scores_near_chance() -> None:
    cols, rows = 30, 30
    xy, features = _lattice(cols, rows)
    n = cols * rows
    cells = np.random.default_rng(4).permutation(n)
    labels = {"band": [f"b{int(v) // 6}" for v in xy[:, 1]]}
    values = neighbourhood_quality(feature_neighbours(features), grid=(cells, cols, rows), labels=labels)
    assert values["knn16_grid"] < 3 * 16 / (n - 1)  # chance: 16 of the other n-1 items
    assert abs(values["label_band_grid"] - values["label_band_grid_chance"]) < 0.03
    assert values["label_band_features"] > 0.8  # the features themselves know the bands (edges aside)


def test_knn_preservation_hand_computed() -> None:
    # 3 x 2 grid:  0 1 2 / 3 4 5 ; each item's two feature neighbours given by hand.
    nb = grid_neighbours(np.arange(6), 3, 2)
    assert sorted(set(nb[0]) - {-1}) == [1, 3, 4] and sorted(set(nb[4]) - {-1}) == [0, 1, 2, 3, 5]
    knn = np.array([[1, 5], [2, 3], [0, 3], [4, 0], [5, 2], [3, 0]])
    # shares: 1/3, 2/5, 0, 2/3, 2/5, 0
    assert knn_preservation(nb, knn) == pytest.approx((1 / 3 + 2 / 5 + 0 + 2 / 3 + 2 / 5 + 0) / 6)


def test_label_agreement_hand_computed_4x4() -> None:
    # rows of the 4 x 4 grid; "" unlabelled, None an empty cell; A|B carries two labels.
    layout = [["A", "A", "B", "A|B"],
              ["A", "A", "B", "B"],
              ["C", "C", "", "B"],
              ["C", "C", "C", None]]
    values = [v for row in layout for v in row if v is not None]
    cells = np.arange(15)
    sets = LabelSets(values)
    # Per labelled item: labelled neighbours sharing a label / labelled neighbours, worked by hand.
    by_hand = [3 / 3, 3 / 5, 3 / 5, 3 / 3,
               3 / 5, 3 / 7, 4 / 7, 4 / 4,
               3 / 5, 4 / 7, 2 / 3,
               3 / 3, 4 / 4, 2 / 3]
    got = label_agreement(grid_neighbours(cells, 4, 4), np.arange(15), sets)
    assert got == pytest.approx(sum(by_hand) / len(by_hand))


def test_chance_is_the_shuffled_label_level() -> None:
    # Two labels, half each, on a random arrangement: agreement and chance both near 1/2.
    rng = np.random.default_rng(2)
    n, cols = 2500, 50
    sets = LabelSets([("x" if i % 2 else "y") for i in range(n)])
    score, chance = with_chance(grid_neighbours(rng.permutation(n), cols, n // cols), np.arange(n), sets)
    assert chance == pytest.approx(0.5, abs=0.02) and score == pytest.approx(0.5, abs=0.03)


def test_unlabelled_items_and_neighbours_are_skipped() -> None:
    sets = LabelSets(["a", "", "a|b", "b", " | "])
    assert sets.labelled.tolist() == [True, False, True, True, False]
    assert sets.share(np.array([0, 0, 2, 1, -1]), np.array([2, 3, 3, 0, 0])).tolist() == [True, False, True, False, False]


def test_feature_knn_matches_brute_force_cosine() -> None:
    from sklearn.neighbors import NearestNeighbors

    x = np.random.default_rng(6).normal(size=(700, 20)).astype(np.float32)
    ours = feature_knn(x, 10, block=128)
    _, ref = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute").fit(x).kneighbors(x)
    assert (ours == ref[:, 1:]).mean() > 0.99  # ties in float rounding aside


def test_large_collections_measure_a_fixed_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality, "KNN_EXACT_MAX", 500)
    monkeypatch.setattr(quality, "KNN_SAMPLE", 200)
    cols, rows = 40, 30
    xy, features = _lattice(cols, rows)
    a = feature_neighbours(features)
    b = feature_neighbours(features)
    assert len(a.queries) == 200 and not a.exact and (a.queries == b.queries).all()
    values = neighbourhood_quality(a, grid=(np.arange(cols * rows), cols, rows))
    assert values["knn_method"] == "sampled: 200 items, seed 0, cosine" and values["knn16_grid"] == 1.0
