"""Grid methods: one item per cell for every method and N, exactness of lap, quality of flas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cviz.arrange import grid as grid_mod
from cviz.arrange.grid import assign_grid, assign_lap, assign_sorted, grid_shape
from cviz.measure.dpq import dpq

METHODS = ["sorted", "lap", "flas", "flas_tsne", "rasterfairy"]


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
    points, features = _clusters(600, seed=4)
    res = assign_grid(points, 128, 128, "flas", features=features)
    shuffled = np.random.default_rng(0).permutation(res.cols * res.rows)[:600]
    good = dpq(features, res.cells, res.cols, res.rows)[0]
    bad = dpq(features, shuffled, res.cols, res.rows)[0]
    assert good > bad + 0.2


def test_auto_is_lap_then_flas_on_the_tsne_points_then_refined(monkeypatch: pytest.MonkeyPatch) -> None:
    points, features = _clusters(50)
    assert assign_grid(points, 128, 128, "auto", features=features).method == "lap"
    monkeypatch.setattr(grid_mod, "LAP_AUTO", 40)
    res = assign_grid(points, 128, 128, "auto", features=features)
    assert res.method == "flas_tsne" and res.refine is not None
    assert assign_grid(points, 128, 128, "auto", features=features, refine=False).refine is None
    assert assign_grid(points, 128, 128, "auto").refine is None  # nothing to refine on without features
    tiny = assign_grid(points[:3], 128, 128, "flas", features=features[:3])
    assert tiny.method == "sorted" and "too small for flas" in tiny.note


def test_unknown_method_names_the_choices() -> None:
    with pytest.raises(ValueError, match="choose one of auto, flas_tsne, flas, lap, rasterfairy, sorted"):
        assign_grid(np.zeros((3, 2)), 128, 128, "hexagons")


def test_rasterfairy_shim_stays_local() -> None:
    """The old numpy aliases exist for rasterfairy's module only, never for numpy itself."""
    pytest.importorskip("rasterfairy")
    from cviz.arrange.rasterfairy_compat import rasterfairy_module, transform_point_cloud

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
    from cviz_assets.partitions import collection_partitions
    from tests.conftest import resources

    root = tmp_path / "root"
    shutil.copytree(met_sample_root, root)
    config_path = root / "collections/met-sample/collection.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "label_columns": ["department"]}))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(collection_partitions.name, ["met-sample"])
    meta = {}
    for method in ("sorted", "flas"):
        result = dg.materialize([grid], partition_key="met-sample", instance=instance, resources=resources(root),
                                run_config={"ops": {"grid": {"config": {"method": method}}}})
        meta[method] = result.asset_materializations_for_node("grid")[0].metadata
        assert meta[method]["method"].value == method
        assert 0 < meta[method]["dpq_16"].value <= 1 and meta[method]["mean_neighbour_distance"].value > 0
        # The neighbourhood measures, numeric (asset page, Overview → Metadata), and the one-line summary.
        for key in ("knn16_grid", "knn50_grid", "knn16_tsne", "label_department_grid", "label_department_grid_chance",
                    "label_department_tsne", "label_department_features"):
            assert 0 <= meta[method][key].value <= 1, key
        assert "kNN16 preserved: tsne" in meta[method]["quality_line"].value
        assert "department agreement: features" in meta[method]["quality_line"].value
        assert json.loads((root / "collections/met-sample/grid.json").read_text())["method"] == method


def test_keep_leaves_old_items_in_place_and_puts_new_ones_near_their_twins() -> None:
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


# -- refinement ----------------------------------------------------------------------------------
from cviz.arrange.refine import KnnGraph, objective, refine  # noqa: E402
from cviz.measure.quality import feature_neighbours, grid_neighbours, knn_preservation  # noqa: E402


def _lattice_features(cols: int, rows: int) -> np.ndarray:
    """Items whose nearest neighbours are their lattice neighbours (x, y and a large constant)."""
    y, x = np.divmod(np.arange(cols * rows), cols)
    return np.stack([x - cols / 2, y - rows / 2, np.full(cols * rows, 100.0)], axis=1)


def _local_scramble(cells: np.ndarray, cols: int, rows: int, swaps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    occ = np.full(cols * rows, -1)
    occ[cells] = np.arange(len(cells))
    for _ in range(swaps):
        c = rng.integers(cols * rows)
        dx, dy = rng.integers(-2, 3, 2)
        x, y = c % cols + dx, c // cols + dy
        if 0 <= x < cols and 0 <= y < rows:
            d = y * cols + x
            occ[c], occ[d] = occ[d], occ[c]
    out = np.empty(len(cells), np.int64)
    where = np.flatnonzero(occ >= 0)
    out[occ[where]] = where
    return out


def test_refine_repairs_a_locally_scrambled_grid() -> None:
    cols, rows = 24, 20
    features = _lattice_features(cols, rows)
    n = cols * rows - 7  # a few holes at the end, which items may move into
    features = features[:n]
    start = _local_scramble(np.arange(n), cols, rows, 150)
    graph = KnnGraph.from_features(features, 16, metric="cosine")
    fn = feature_neighbours(features)

    def preserved(cells: np.ndarray) -> float:
        return knn_preservation(grid_neighbours(cells, cols, rows), fn.knn[:, :16])

    res = refine(start, cols, rows, graph)
    assert len(np.unique(res.cells)) == n and res.cells.min() >= 0 and res.cells.max() < cols * rows
    assert objective(res.cells, cols, rows, graph) >= objective(start, cols, rows, graph)
    assert preserved(start) < 0.7 and preserved(res.cells) > 0.9  # local swaps: a local optimum, near 1
    assert res.swaps > 0 and res.gain > 0


def test_refine_keeps_frozen_items_in_their_cells() -> None:
    cols, rows = 12, 10
    features = _lattice_features(cols, rows)
    start = _local_scramble(np.arange(cols * rows), cols, rows, 60, seed=3)
    frozen = np.zeros(cols * rows, bool)
    frozen[::3] = True
    res = refine(start, cols, rows, KnnGraph.from_features(features, 16, metric="cosine"), frozen=frozen)
    assert np.array_equal(res.cells[frozen], start[frozen])
    assert not np.array_equal(res.cells, start)


def test_knn_graph_weights_are_symmetric_and_summed() -> None:
    knn = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    g = KnnGraph(knn, 4)
    a, b = np.array([0, 1, 3, 2, 0, -1]), np.array([1, 0, 0, 3, 3, 0])
    # 0-1 mutual (2), 3 -> 0 only (1), 2-3 never (0), -1 is an empty cell (0)
    assert g.weight(a, b).tolist() == [2, 2, 1, 0, 1, 0]
