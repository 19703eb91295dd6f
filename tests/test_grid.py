"""Grid methods: one item per cell for every method and N, exactness of lap, quality of flas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cviz import grid as grid_mod
from cviz.grid import assign_grid, assign_lap, assign_sorted, grid_shape
from cviz.quality import dpq

METHODS = ["sorted", "lap", "flas", "rasterfairy"]


def _clusters(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(2-D points, 16-d features) of n items in 6 clusters; the points are a noisy view of the features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (6, 16))
    label = rng.integers(0, 6, n)
    features = (centres[label] + rng.normal(0, 1, (n, 16))).astype(np.float32)
    points = features[:, :2] + rng.normal(0, 0.2, (n, 2))
    return points, features


def _needs(method: str) -> None:
    if method == "rasterfairy":
        pytest.importorskip("rasterfairy", reason="grid method rasterfairy: pip install --no-deps rasterfairy==1.0.6")
    if method == "flas":
        pytest.importorskip("vc_flas")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [1, 2, 5, 37, 300])
def test_every_item_gets_its_own_cell(method: str, n: int) -> None:
    _needs(method)
    points, features = _clusters(n)
    res = assign_grid(points, 128, 96, method, features=features)
    cols, rows = grid_shape(n, 128, 96)
    assert (res.cols, res.rows) == (cols, rows)
    assert len(res.cells) == n and len(np.unique(res.cells)) == n
    assert res.cells.min() >= 0 and res.cells.max() < cols * rows


def test_lap_is_optimal_among_methods() -> None:
    pytest.importorskip("rasterfairy")
    points, features = _clusters(400, seed=2)
    cols, rows = grid_shape(400, 128, 128)
    norm = grid_mod._normalise(points, cols, rows)

    def cost(cells: np.ndarray) -> float:
        cy, cx = np.divmod(cells, cols)
        return float(((norm - np.stack([cx, cy], axis=1)) ** 2).sum())

    lap = cost(assign_lap(points, cols, rows))
    for method in ("sorted", "rasterfairy"):
        assert lap <= cost(assign_grid(points, 128, 128, method).cells) + 1e-6


def test_lap_refuses_beyond_its_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid_mod, "LAP_MAX", 50)
    points, _ = _clusters(60)
    with pytest.raises(ValueError, match="limited to 50 items, this collection has 60"):
        assign_grid(points, 128, 128, "lap")


def test_flas_keeps_similar_items_together() -> None:
    pytest.importorskip("vc_flas")
    points, features = _clusters(600, seed=4)
    res = assign_grid(points, 128, 128, "flas", features=features)
    shuffled = np.random.default_rng(0).permutation(res.cols * res.rows)[:600]
    good = dpq(features, res.cells, res.cols, res.rows)[0]
    bad = dpq(features, shuffled, res.cols, res.rows)[0]
    assert good > bad + 0.2


def test_auto_is_lap_for_small_collections_then_flas(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("vc_flas")
    points, features = _clusters(50)
    assert assign_grid(points, 128, 128, "auto", features=features).method == "lap"
    monkeypatch.setattr(grid_mod, "LAP_AUTO", 40)
    assert assign_grid(points, 128, 128, "auto", features=features).method == "flas"
    assert assign_grid(points, 128, 128, "auto").method == "sorted"
    tiny = assign_grid(points[:3], 128, 128, "flas", features=features[:3])
    assert tiny.method == "sorted" and "too small for flas" in tiny.note


def test_unknown_method_names_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of auto, flas, lap, rasterfairy, sorted"):
        assign_grid(np.zeros((3, 2)), 128, 128, "hexagons")


def test_rasterfairy_shim_stays_local() -> None:
    """The old numpy aliases exist for rasterfairy's module only, never for numpy itself."""
    pytest.importorskip("rasterfairy")
    from cviz.rasterfairy_compat import rasterfairy_module, transform_point_cloud

    xy = transform_point_cloud(np.random.default_rng(0).normal(size=(30, 2)), 6, 5)
    assert len({tuple(p) for p in xy}) == 30
    assert rasterfairy_module().np.float is float
    assert not hasattr(np, "float")


def test_sorted_centres_a_short_last_row() -> None:
    points = np.stack([np.tile(np.arange(4.0), 3)[:10], np.repeat(np.arange(3.0), 4)[:10]], axis=1)
    cells = assign_sorted(points, 4, 3)
    assert sorted(cells[8:]) == [9, 10]


def test_grid_asset_takes_a_method_and_reports_quality(tmp_path, met_sample_root) -> None:
    """Through Dagster: the method is run config; DPQ_16 and mean neighbour distance are metadata."""
    import shutil

    import dagster as dg

    from cviz_assets.assets import grid
    from cviz_assets.partitions import collections
    from tests.conftest import resources

    root = tmp_path / "root"
    shutil.copytree(met_sample_root, root)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(collections.name, ["met-sample"])
    meta = {}
    for method in ("sorted", "flas"):
        result = dg.materialize([grid], partition_key="met-sample", instance=instance, resources=resources(root),
                                run_config={"ops": {"grid": {"config": {"method": method}}}})
        meta[method] = result.asset_materializations_for_node("grid")[0].metadata
        assert meta[method]["method"].value == method
        assert 0 < meta[method]["dpq_16"].value <= 1 and meta[method]["mean_neighbour_distance"].value > 0
        assert json.loads((root / "collections/met-sample/grid.json").read_text())["method"] == method


def test_keep_leaves_old_items_in_place_and_puts_new_ones_near_their_twins() -> None:
    pytest.importorskip("vc_flas")
    points, features = _clusters(400, seed=6)
    first = assign_grid(points[:360], 128, 128, "flas", features=features[:360])
    keep = {i: (int(c) % first.cols, int(c) // first.cols) for i, c in enumerate(first.cells)}
    # Forty new items, each a near-copy of an old one.
    twins = np.arange(0, 360, 9)
    pts = np.concatenate([points[:360], points[twins] + 0.01])
    feats = np.concatenate([features[:360], features[twins] + 0.01])
    res = assign_grid(pts, 128, 128, "flas", features=feats, keep=keep)
    assert len(np.unique(res.cells)) == 400
    old_xy = np.stack([res.cells[:360] % res.cols, res.cells[:360] // res.cols], axis=1)
    assert np.array_equal(old_xy, np.array([keep[i] for i in range(360)])), "an old item moved"
    # New items can only take free cells (here the grid's new border): among those, they sit
    # nearer their twins than a random use of the same free cells would.
    new_xy = np.stack([res.cells[360:] % res.cols, res.cells[360:] // res.cols], axis=1)
    twin_xy = old_xy[twins]
    placed = np.abs(new_xy - twin_xy).sum(axis=1).mean()
    rng = np.random.default_rng(0)
    shuffled = np.mean([np.abs(new_xy[rng.permutation(40)] - twin_xy).sum(axis=1).mean() for _ in range(50)])
    assert placed < 0.85 * shuffled
    assert "40 new item(s) placed" in res.note
