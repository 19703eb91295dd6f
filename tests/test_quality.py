"""Layout quality: our chunked DPQ against vc-flas' reference, and figures known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from vc_flas import metrics

from cviz import quality
from cviz.quality import dpq, dpq_sampled, layout_quality, mean_neighbour_distance, sorted_grid


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
    monkeypatch.setattr(quality, "EXACT_MAX", 100)
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 5))
    q = layout_quality(features, rng.permutation(300), 20, 15, sample=50)
    assert (q.exact, q.rows_used) == (False, 50)
    assert q.to_values()["dpq_method"] == "estimate on 50 sampled items"


def test_mean_neighbour_distance_of_a_perfect_lattice_is_one() -> None:
    cols, rows, n = 9, 7, 60  # three holes at the end: they do not count as neighbours
    xy = np.stack(np.divmod(np.arange(n), cols), axis=1).astype(np.float32)
    assert mean_neighbour_distance(xy, np.arange(n), cols, rows) == pytest.approx(1.0)


def test_degenerate_collections_score_one_not_nan() -> None:
    """One or two items, or all items alike: nothing to preserve, and metadata must stay a number."""
    for n in (1, 2):
        assert dpq(np.random.default_rng(0).normal(size=(n, 3)), np.arange(n), n, 1)[0] == 1.0
    assert dpq(np.ones((6, 3)), np.arange(6), 3, 2)[0] == 1.0
