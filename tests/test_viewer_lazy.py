"""The viewer on a collection published as lazy item tables (items-index.json, cviz.publish.items_lazy),
in Debian chromium: hover, search, category, vocabulary and year filters, a region, more like this,
a deep link and a selection's export all work, and no items.json is ever fetched. The fixture is test_viewer_browser's
96-item collection with its items.json replaced by the lazy tables (text shards of 4x4 cells, so a
page needs several), as the metadata_json stage writes them above CVIZ_VIEWER_LAZY_ABOVE items.
"""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote

import pytest

from cviz.publish.items_lazy import write_lazy
from cviz.publish.search_index import words_of
from cviz.storage import open_storage
from tests.test_viewer_browser import (  # noqa: F401  (fixtures are used by name)
    base_url, browser, cell_center, dimmed_cells, hover, open_map, page, settle,
)
from tests.test_viewer_curator import _grid_point, labels, regions_doc, vocab_section
from tests.viewer_fixture import ODD_ID, build_published_collection

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fixture_collection(tmp_path_factory):
    coll = build_published_collection(tmp_path_factory.mktemp("viewer-lazy"), name="lazy", layouts=True)
    folder = coll.published / coll.name / coll.version
    doc = json.loads((folder / "items.json").read_text(encoding="utf-8"))
    write_lazy(open_storage(str(coll.storage_root)), f"published/{coll.name}/{coll.version}", doc, block=4)
    (folder / "items.json").unlink()
    pointer = coll.published / coll.name / "current.json"
    current = json.loads(pointer.read_text())
    current["items"] = f"{coll.version}/items-index.json"
    pointer.write_text(json.dumps(current))
    return coll


def requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    return seen


def matching(items, query: str) -> list[dict]:
    """Items whose title has a word beginning with each query word (the lazy search's rule)."""
    words = words_of(query)
    return [it for it in items if all(any(t.startswith(w) for t in words_of(it["title"])) for w in words)]


def test_hover_and_search_fetch_pieces_never_items_json(page, base_url, fixture_collection):
    seen = requests(page)
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    assert any(u.endswith("/items-index.json") for u in seen) and any(u.endswith("/lazy/cells.bin") for u in seen)
    assert not any("/lazy/items/" in u for u in seen), "text shards fetched before anything asked for them"
    # The first tile before cells.bin and the extras: the map's first picture waits for nothing big.
    first_tile = next(k for k, u in enumerate(seen) if "/map_files/" in u)
    assert all(k > first_tile for k, u in enumerate(seen) if u.endswith(("/lazy/cells.bin", "/regions.json")))
    it = fixture_collection.items[23]
    hover(page, it["cell"])
    page.wait_for_function("(t) => document.getElementById('tooltip-title').textContent === t", arg=it["title"])
    assert page.locator("#tooltip-date").inner_text() == it["date"]
    assert len([u for u in seen if "/lazy/items/" in u]) == 1  # the one block of cells holding it
    assert page.evaluate("window.cvizPerf.hoverTitleMs.length") >= 1

    count = page.locator("#match-count")
    assert page.locator("#search-all").is_hidden()  # titles only on the lazy path
    page.locator("#search").fill("seascape")
    expected = matching(fixture_collection.items, "seascape")
    page.wait_for_function("(n) => window.cviz.matchCount() === n", arg=len(expected))
    assert count.inner_text() == f"{len(expected)} matches" and len(expected) > 10
    assert set(dimmed_cells(page)) == {o["cell"] for o in fixture_collection.items if o not in expected}
    page.locator("#search").fill("seascape no. 13")
    page.wait_for_function("() => document.getElementById('match-count').textContent === '1 match'")
    page.locator("#search").fill("land")  # a word's beginning finds it
    expected = matching(fixture_collection.items, "land")
    page.wait_for_function("(n) => window.cviz.matchCount() === n", arg=len(expected))
    assert {o["title"].split()[0] for o in expected} == {"Landscape"}
    assert any("/lazy/search/" in u for u in seen)
    assert not any(u.split("?")[0].endswith("items.json") for u in seen)


def test_category_and_year_filters(page, base_url, fixture_collection):
    items = fixture_collection.items
    seen = requests(page)
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    assert not any("/lazy/years.bin" in u or "/lazy/cat-" in u for u in seen)  # fetched on the first filter
    assert page.locator("#year-filter").is_visible()
    page.locator("#category-filters label", has_text="Asian Art").locator("input").check()
    asian = [it for it in items if "Asian Art" in it["department"].split("|")]
    page.wait_for_function("(n) => window.cviz.matchCount() === n", arg=len(asian))
    assert set(dimmed_cells(page)) == {it["cell"] for it in items if it not in asian}
    page.locator("#year-from").fill("1800")
    page.locator("#year-to").fill("1900")
    page.locator("#year-to").dispatch_event("change")
    both = [it for it in asian if it["year"] and 1800 <= it["year"] <= 1900]
    page.wait_for_function("(n) => window.cviz.matchCount() === n", arg=len(both))
    assert 0 < len(both) < len(asian)
    assert page.locator("#year-summary").inner_text() != "all years"
    # Facet counts under the year range: Asian Art's own count is the items it leaves.
    row = page.locator("#category-filters label", has_text="Asian Art")
    assert row.locator(".count").inner_text() == str(len(both))
    page.locator("#clear-all").click()
    page.wait_for_function("() => window.cviz.matchCount() === 96")
    assert any("/lazy/years.bin" in u for u in seen) and any("/lazy/cat-" in u for u in seen)

    # vocabulary.json's label column (73 values, no category column) is a filter here too.
    vocab_section(page, "subjects").locator("label", has_text="Harbour").locator("input").check()
    harbour = [it for it in items if "Harbour" in it["subjects"].split("|")]
    page.wait_for_function("(n) => window.cviz.matchCount() === n", arg=len(harbour))
    page.locator("#clear-all").click()
    # A region's name filters to its items, as on items.json.
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)
    target = labels(page)[0]
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function("window.cviz.state.region !== null")
    region = page.evaluate("({scale: window.cviz.state.region.scale, id: window.cviz.state.region.id})")
    scale = next(s for s in regions_doc(fixture_collection)["scales"] if s["name"] == region["scale"])
    members = [i for i, r in enumerate(scale["item_region"]) if r == region["id"]]
    page.wait_for_function("(n) => window.cviz.matchCount() === n", arg=len(members))


def test_deep_link_opens_the_item_and_more_like_this_moves_on(page, base_url, fixture_collection):
    it = next(o for o in fixture_collection.items if o["id"] == ODD_ID)
    open_map(page, base_url, fixture_collection.name, "#item=" + quote(ODD_ID, safe=""))
    page.wait_for_function("(t) => document.getElementById('panel-title').textContent === t", arg=it["title"])
    assert ODD_ID in page.locator("#panel-fields").inner_text()
    strip = page.locator("#similar-list .similar-item")
    strip.first.wait_for()
    assert strip.count() == 12
    picks = [int(v) for v in strip.evaluate_all("(bs) => bs.map((b) => b.dataset.item)")]
    titles = strip.evaluate_all("(bs) => bs.map((b) => b.title)")
    assert titles == [fixture_collection.items[j]["title"] for j in picks]  # their shards were fetched too
    strip.nth(2).click()
    target = fixture_collection.items[picks[2]]
    page.wait_for_function("(t) => document.getElementById('panel-title').textContent === t", arg=target["title"])
    page.wait_for_function("(id) => location.hash.endsWith('#item=' + id)", arg=quote(target["id"], safe=""))
    # The timeline pairs with the lazy map by items_sha256 (the index carries it) and keeps the item.
    assert page.evaluate("window.cviz.switchLayout('timeline')") is True
    assert page.evaluate("window.cviz.layout().name") == "timeline"
    assert page.locator("#panel-title").inner_text() == target["title"]


def test_a_selection_exports_every_chosen_items_text(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    page.locator("#select-rect").click()
    x0, y0 = _grid_point(page, 1.3, 1.3)
    x1, y1 = _grid_point(page, 9.2, 6.2)  # across several 4x4 text shards
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    chosen = sorted((it for it in fixture_collection.items if 1 <= it["col"] <= 8 and 1 <= it["row"] <= 5),
                    key=lambda it: it["cell"])
    page.wait_for_function("(n) => window.cviz.matchCount() === n", arg=len(chosen))
    with page.expect_download() as dl:
        page.locator("#export-csv").click()
    rows = list(csv.DictReader(io.StringIO(open(dl.value.path(), encoding="utf-8-sig").read())))
    assert [r["id"] for r in rows] == [it["id"] for it in chosen]
    assert [r["title"] for r in rows] == [it["title"] for it in chosen]
    assert [r["artist"] for r in rows] == [it["artist"] for it in chosen]
