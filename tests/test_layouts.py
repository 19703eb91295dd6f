"""The arrangements of cviz/arrange/layouts.py, checked against the inputs, not the code's output:
every dated item inside the bin of its own year, bins left to right in year order, every category
item in the block of its first value, and collection.json's ``layouts`` validated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cviz.arrange import layouts as L
from cviz.errors import CvizError
from cviz.ingest.collection import CollectionConfig

CELL = (128, 128)


def _xy(a: L.Arrangement) -> list[tuple[int, int]]:
    return [(int(c) % a.cols, int(c) // a.cols) for c in a.cells]


def _label_at(a: L.Arrangement, x: int, y: int) -> list[dict]:
    return [lab for lab in a.labels if lab["x"] <= x < lab["x"] + lab["w"] and lab["y"] <= y < lab["y"] + lab["h"]]


def _one_cell_each(a: L.Arrangement, n: int) -> None:
    assert len(a.cells) == n
    assert len(set(a.cells.tolist())) == n
    assert all(0 <= c < a.cols * a.rows for c in a.cells.tolist())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_timeline_items_sit_in_the_bin_of_their_year_in_year_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 700
    years = [None if rng.random() < 0.1 else int(y) for y in rng.normal(1880, 60, n).clip(1000, 2099)]
    points = rng.normal(size=(n, 2))
    a = L.timeline(years, points, CELL, "date")
    _one_cell_each(a, n)
    bins = [lab for lab in a.labels if lab["kind"] == "bin"]
    # Left to right in year order, bins not overlapping, each as wide as its stated bin width.
    assert [b["year_from"] for b in bins] == sorted(b["year_from"] for b in bins)
    assert all(b1["x"] + b1["w"] <= b2["x"] for b1, b2 in zip(bins, bins[1:]))
    assert all(b["year_to"] - b["year_from"] + 1 == a.extra["bin_years"] for b in bins)
    for i, (x, y) in enumerate(_xy(a)):
        [lab] = _label_at(a, x, y)
        if years[i] is None:
            assert lab["kind"] == "block" and lab["text"] == L.UNDATED
        else:
            assert lab["kind"] == "bin" and lab["year_from"] <= years[i] <= lab["year_to"], (i, years[i], lab)
    for lab in a.labels:
        inside = sum(1 for x, y in _xy(a) if lab in _label_at(a, x, y))
        assert inside == lab["count"]
    undated = [lab for lab in a.labels if lab["text"] == L.UNDATED]
    assert undated == [a.labels[-1]] and undated[0]["count"] == sum(y is None for y in years)


def test_timeline_bin_width_follows_the_date_range() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(600, 2))
    one_decade = [1881 + i % 10 for i in range(600)]
    assert L.timeline(one_decade, points, CELL, "date").extra["bin_years"] <= 5
    five_centuries = [1400 + (i * 7) % 500 for i in range(600)]
    wide = L.timeline(five_centuries, points, CELL, "date")
    assert wide.extra["bin_years"] >= 25
    assert 0.5 <= wide.cols / wide.rows <= 2.0  # near square


def test_timeline_picks_the_squarest_fullest_width_narrowest_on_ties() -> None:
    years = np.array([1600 + (i * 37) % 400 for i in range(13_000)])  # 400 years, evenly filled
    candidates = L.choose_bins(years, 0, CELL)
    chosen = L.pick_bins(candidates)
    assert all(chosen.cost <= c.cost + L.TIE for c in candidates)
    assert chosen.cols * chosen.rows <= 1.15 * len(years)  # nearly full on evenly spread dates
    assert chosen.years < max(c.years for c in candidates)  # not one single bin
    # Independently of the choice: a map that is not as wide as 2 heights.
    assert 0.5 <= chosen.cols / chosen.rows <= 2.0


def test_timeline_gap_marks_empty_years_and_labels_stay_honest() -> None:
    years = [1800] * 20 + [1900] * 20  # a century between them
    a = L.timeline(years, np.random.default_rng(0).normal(size=(40, 2)), CELL, "date")
    first, second = a.labels
    assert first["year_to"] < 1900 <= second["year_from"]
    assert second["x"] > first["x"] + first["w"]  # an empty column between: the jump is visible


def test_timeline_without_any_year_is_absent_with_the_reason() -> None:
    absent = L.timeline([None, None], np.zeros((2, 2)), CELL, "date")
    assert isinstance(absent, L.Absent) and "no item has a parseable year" in absent.reason


def test_timeline_orders_a_bin_by_similarity() -> None:
    # Two t-SNE clusters in one year: each cluster's items stay contiguous in the band.
    pts = np.array([[0.0, float(i)] for i in range(10)] + [[0.0, 100.0 + i] for i in range(10)])
    a = L.timeline([1900] * 20, pts, CELL, "date")
    rows = [int(c) // a.cols for c in a.cells]
    assert max(rows[:10]) <= min(rows[10:])


def test_category_blocks_hold_exactly_their_items_multi_valued_in_the_first() -> None:
    rng = np.random.default_rng(3)
    choices = ["Paintings", "Prints|Paintings", "Prints", "Arms| Prints", "", "Sculpture", "Paintings"]
    values = [choices[int(k)] for k in rng.integers(0, len(choices), 500)]
    a = L.category(values, rng.normal(size=(500, 2)), CELL, "department")
    _one_cell_each(a, 500)
    first = [v.split("|")[0].strip() or "(no value)" for v in values]
    for i, (x, y) in enumerate(_xy(a)):
        [lab] = _label_at(a, x, y)
        assert lab["text"] == first[i]
    counts = {lab["text"]: lab["count"] for lab in a.labels}
    assert counts == {v: first.count(v) for v in set(first)}
    named = [lab for lab in a.labels if lab["text"] != "(no value)"]
    assert [(-lab["count"], lab["text"]) for lab in named] == sorted((-lab["count"], lab["text"]) for lab in named)
    assert a.labels[-1]["text"] == "(no value)"
    # Blocks do not touch: a free row above each (its heading) and a free column between neighbours.
    occupied = set(_xy(a))
    for lab in a.labels:
        assert not any((x, lab["y"] - 1) in occupied for x in range(lab["x"], lab["x"] + lab["w"]))
    assert 0.5 <= a.cols / a.rows <= 2.0


def test_items_sha256_is_json_dumps_of_the_ids() -> None:
    import hashlib

    ids = ["a.jpg", "b.jpg", "é.jpg"]
    assert L.items_sha256(ids) == hashlib.sha256(b'["a.jpg", "b.jpg", "\\u00e9.jpg"]').hexdigest()


def test_collection_layouts_default_off_and_column() -> None:
    base = {"name": "c1", "images": "/x"}
    assert CollectionConfig.from_dict(base).layouts == {"timeline": {"column": None}, "category": {"column": None}}
    config = CollectionConfig.from_dict({**base, "layouts": {"timeline": False, "category": {"column": "department"}}})
    assert config.layouts == {"timeline": False, "category": {"column": "department"}}
    assert CollectionConfig.from_dict(json.loads(json.dumps(config.to_dict()))).layouts == config.layouts
    for bad, words in (({"map": False}, "unknown layout"), ({"timeline": {"col": "x"}}, "layouts.timeline takes only"),
                       ({"category": 3}, "layouts.category must be"), ("timeline", "'layouts' must be an object")):
        with pytest.raises(CvizError, match=words):
            CollectionConfig.from_dict({**base, "layouts": bad})


def test_cli_layouts_option() -> None:
    from cviz_assets.cli import _spec, build_parser

    def spec(*extra: str) -> dict:
        return _spec(build_parser().parse_args(["run", "-id", "c1", "-imagedir", "/x", *extra]))

    assert "layouts" not in spec()  # the default: both, with their default columns
    assert spec("--layouts", "timeline")["layouts"] == {"timeline": {"column": None}, "category": False}
    assert spec("--layouts", "none")["layouts"] == {"timeline": False, "category": False}
    with pytest.raises(CvizError, match="unknown layout"):
        spec("--layouts", "timeline,map")


def test_layout_versions_retire_like_similarity_versions(tmp_path) -> None:
    from cviz.publish.versions import KEEP_VERSIONS, switch_pointer
    from cviz.storage import open_storage

    storage = open_storage(str(tmp_path))
    sims = [f"2026010{i}T000000000000-abc" for i in range(1, 4)]
    for v in sims:
        storage.write_bytes(f"published/c1/{v}/map.dzi", b"x")
    lays = [f"2026020{i}T000000000000-def" for i in range(1, 6)]
    for v in lays:
        storage.write_bytes(f"published/c1/layouts/timeline/{v}/map.dzi", b"x")
    live_layout = lays[0]  # the oldest is live: never removed
    switch_pointer(storage, "c1", dzi=f"{sims[-1]}/map.dzi", items=f"{sims[-1]}/items.json",
                   layouts={"timeline": {"dzi": f"layouts/timeline/{live_layout}/map.dzi",
                                         "layout": f"layouts/timeline/{live_layout}/layout.json"}})
    # `layouts/` is not a similarity version: the newest two real versions stay.
    assert [v for v in storage.list("published/c1") if v[0].isdigit()] == sims[-KEEP_VERSIONS:]
    assert "layouts" in storage.list("published/c1")
    kept = [v for v in storage.list("published/c1/layouts/timeline") if not v.startswith(".")]
    assert kept == sorted([live_layout, *lays[-KEEP_VERSIONS:]])
