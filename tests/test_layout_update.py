"""Timeline and category layouts that update like the similarity map (pure functions).

Fresh layouts size every bin's band and every block with slack; an update keeps every item that
is still in its group in its cell and puts new items into their group's free cells, near their
nearest t-SNE neighbour; a new group or a full one is refused with the reason (the stage reflows).
"""

from __future__ import annotations

import numpy as np

from cviz.arrange import layouts as arrange
from cviz.arrange.layout_update import PreviousLayout, group_keys, kept_share, update_layout

CELL = (128, 128)


def _collection(n: int, seed: int = 0) -> tuple[list[int | None], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    years = [None if i % 11 == 0 else int(1850 + rng.integers(0, 120)) for i in range(n)]
    values = [["Paintings", "Prints|Drawings", "Sculpture", "", "Arms"][int(rng.integers(0, 5))] for _ in range(n)]
    return years, values, rng.normal(size=(n, 2))


def _previous(found: arrange.Arrangement, ids: list[str]) -> PreviousLayout:
    extra = dict(found.extra)
    return PreviousLayout(found.layout, found.cols, found.rows, found.labels, extra,
                          dict(zip(ids, (int(c) for c in found.cells))))


def _rect_of(found: arrange.Arrangement, cell: int) -> dict:
    x, y = cell % found.cols, cell // found.cols
    [lab] = [b for b in found.labels if b["x"] <= x < b["x"] + b["w"] and b["y"] <= y < b["y"] + b["h"]]
    return lab


def test_fresh_layouts_leave_slack_in_every_band_and_block() -> None:
    years, values, points = _collection(400)
    for found in (arrange.timeline(years, points, CELL, "date"), arrange.category(values, points, CELL, "dept")):
        assert len(set(found.cells.tolist())) == 400
        for lab in found.labels:
            free = lab["w"] * lab["h"] - lab["count"]
            assert free >= arrange.slack(lab["count"]), (found.layout, lab)
    packed = arrange.category(values, points, CELL, "dept", share=0.0)
    assert all(lab["w"] * lab["h"] - lab["count"] < lab["w"] for lab in packed.labels)  # no spare row when packed


def test_an_update_keeps_every_cell_and_places_new_items_in_their_own_bin() -> None:
    years, values, points = _collection(430, seed=1)
    old_ids = [f"f{i}" for i in range(400)]
    fresh = arrange.timeline(years[:400], points[:400], CELL, "date")
    prev = _previous(fresh, old_ids)
    ids = old_ids + [f"f{i}" for i in range(400, 410)]
    # New items only in years the previous layout has bins for (a new bin would reflow): old items' years.
    new_years = [years[k] for k in range(0, 400, 40)]
    got = update_layout(prev, ids, group_keys("timeline", prev, years[:400] + new_years), points[:410])
    assert isinstance(got, arrange.Arrangement), got
    np.testing.assert_array_equal(got.cells[:400], fresh.cells)
    assert len(set(got.cells.tolist())) == 410 and (got.cols, got.rows) == (fresh.cols, fresh.rows)
    width = prev.extra["bin_years"]
    for j in range(400, 410):
        lab = _rect_of(got, int(got.cells[j]))
        if new_years[j - 400] is None:
            assert lab["text"] == arrange.UNDATED
        else:
            assert lab["year_from"] == (new_years[j - 400] // width) * width
    assert sum(lab["count"] for lab in got.labels) == 410
    assert kept_share(prev, ids, got.cells) == (400, 400)


def test_a_new_item_sits_next_to_its_nearest_neighbour() -> None:
    values = ["A"] * 200
    points = np.random.default_rng(2).normal(size=(201, 2))
    fresh = arrange.category(values, points[:200], CELL, "c")
    prev = _previous(fresh, [f"f{i}" for i in range(200)])
    points[200] = points[17] + 1e-3  # the new item is a twin of item 17
    got = update_layout(prev, [f"f{i}" for i in range(201)], ["A"] * 201, points)
    assert isinstance(got, arrange.Arrangement)
    cols = got.cols
    free = {c for c in range(got.cols * got.rows)} - set(int(c) for c in fresh.cells)
    block = _rect_of(fresh, int(fresh.cells[0]))
    in_block = [c for c in free if block["x"] <= c % cols < block["x"] + block["w"]
                and block["y"] <= c // cols < block["y"] + block["h"]]

    def dist(c: int) -> int:
        return (c % cols - int(fresh.cells[17]) % cols) ** 2 + (c // cols - int(fresh.cells[17]) // cols) ** 2

    assert dist(int(got.cells[200])) == min(dist(c) for c in in_block)


def test_a_changed_category_moves_the_item_and_removed_items_free_their_cells() -> None:
    _, values, points = _collection(300, seed=3)
    ids = [f"f{i}" for i in range(300)]
    fresh = arrange.category(values, points, CELL, "dept")
    prev = _previous(fresh, ids)
    moved = next(i for i, v in enumerate(values) if arrange.first_value(v) == "Sculpture")
    values2 = list(values)
    values2[moved] = "Arms"
    keep = [i for i in range(300) if i != 5]  # item 5 removed from the collection
    got = update_layout(prev, [ids[i] for i in keep], group_keys("category", prev, values=[values2[i] for i in keep]),
                        points[keep])
    assert isinstance(got, arrange.Arrangement), got
    pos = keep.index(moved)
    assert _rect_of(got, int(got.cells[pos]))["text"] == "Arms"
    same, was = kept_share(prev, [ids[i] for i in keep], got.cells)
    assert (same, was) == (298, 299)


def test_a_new_group_or_a_full_one_is_refused_with_the_reason() -> None:
    years, values, points = _collection(200, seed=4)
    ids = [f"f{i}" for i in range(200)]
    fresh = arrange.category(values, points, CELL, "dept")
    prev = _previous(fresh, ids)
    reason = update_layout(prev, ids + ["new"], group_keys("category", prev, values=values + ["Textiles"]),
                           np.vstack([points, [[0, 0]]]))
    assert isinstance(reason, str) and "Textiles" in reason
    block = next(lab for lab in fresh.labels if lab["text"] == "Paintings")
    spare = block["w"] * block["h"] - block["count"]
    extra = [f"n{k}" for k in range(spare + 1)]
    reason = update_layout(prev, ids + extra, group_keys("category", prev, values=values + ["Paintings"] * len(extra)),
                           np.vstack([points, np.zeros((len(extra), 2))]))
    assert isinstance(reason, str) and reason.startswith("Paintings:") and "free cells" in reason
    timeline = arrange.timeline(years, points, CELL, "date")
    tprev = _previous(timeline, ids)
    far = 2090 if tprev.extra["bin_years"] < 250 else 1000
    reason = update_layout(tprev, ids + ["late"], group_keys("timeline", tprev, years + [far]), np.vstack([points, [[0, 0]]]))
    assert isinstance(reason, str) and "no band or block" in reason
