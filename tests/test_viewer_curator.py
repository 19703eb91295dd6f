"""The viewer as a curator's tool, in Debian chromium: vocabulary filters, named
regions, "more like this", selections and export, the view in the address, phone and keyboard,
and the bugs found by trying it. Same server, fixture and browser setup as test_viewer_browser.py.

Screenshots: test-artifacts/viewer-regions.png (whole map with region names),
viewer-neighbours.png (panel with its neighbours), viewer-phone.png (390x844, panel open).
"""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote

import numpy as np
import pytest

from tests.test_viewer_browser import (  # noqa: F401  (fixtures are used by name)
    ARTIFACTS, VIEWPORT, base_url, browser, cell_center, dimmed_cells, fixture_collection, hover, open_map, page,
    settle,
)
from tests.viewer_fixture import FORMULAS, THEMES, item_features, new_test_context, open_page

pytestmark = pytest.mark.browser


def regions_doc(fc) -> dict:
    return json.loads((fc.published / fc.name / fc.version / "regions.json").read_text())


def labels(page) -> list[dict]:
    return page.evaluate("window.cviz.regionLabels()")


def vocab_section(page, column: str):
    return page.locator(f"#category-filters section[data-column='{column}']")


# ---------------------------------------------------------------- regions

def test_region_names_show_at_the_whole_map_and_a_click_filters_to_the_region(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)
    settle(page)
    shown = labels(page)
    names = {l["name"] for l in shown}
    # Named from the vocabulary (a title word tells apart two regions of one name), never "Cluster 7".
    assert names and {n.split(" · ")[0] for n in names} <= set(THEMES), names
    # Legible: real text on screen, inside the map area.
    box = page.locator("#map").bounding_box()
    for l in shown:
        assert box["x"] <= l["x"] <= box["x"] + box["width"] and box["y"] <= l["y"] <= box["y"] + box["height"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-regions.png"))

    # Click the first name: only that region's items stay bright.
    target = shown[0]
    page.mouse.click(target["x"], target["y"])
    page.wait_for_function("window.cviz.state.region !== null")
    region = page.evaluate("({scale: window.cviz.state.region.scale, id: window.cviz.state.region.id})")
    doc = regions_doc(fixture_collection)
    scale = next(s for s in doc["scales"] if s["name"] == region["scale"])
    members = {i for i, r in enumerate(scale["item_region"]) if r == region["id"]}
    assert page.evaluate("window.cviz.matchCount()") == len(members)
    assert set(dimmed_cells(page)) == {it["cell"] for it in fixture_collection.items if it["index"] not in members}
    assert page.locator("#region-summary").inner_text() == target["name"]
    assert "region=" in page.url
    # The items' own regions are listed in their panel.
    it = fixture_collection.items[min(members)]
    page.goto(f"{base_url}/?c={fixture_collection.name}#item={quote(it['id'], safe='')}")
    page.locator("#panel-regions .region-chip").first.wait_for()
    chips = page.locator("#panel-regions .region-chip").all_inner_texts()
    assert target["name"] in chips


def test_zooming_in_switches_to_finer_region_names(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)
    doc = regions_doc(fixture_collection)
    assert len(doc["scales"]) >= 2
    page.evaluate("window.cviz.viewer.viewport.zoomTo(0.45, null, true)")  # far out: the coarse scale
    page.wait_for_timeout(300)
    far = len(labels(page))
    page.evaluate("window.cviz.viewer.viewport.zoomTo(1.3, null, true)")
    page.wait_for_timeout(300)
    assert far == len(doc["scales"][0]["regions"])
    fine_names = {r["name"] for r in doc["scales"][-1]["regions"]}
    assert labels(page) and {l["name"] for l in labels(page)} <= fine_names
    page.evaluate("window.cviz.viewer.viewport.zoomTo(8, null, true)")  # photos large: no names
    page.wait_for_timeout(300)
    assert labels(page) == []


# ---------------------------------------------------------------- vocabulary filters

def test_a_many_valued_label_column_is_a_filter_with_type_to_find(page, base_url, fixture_collection):
    items = fixture_collection.items
    values = {v for it in items for v in it["subjects"].split("|")}
    assert len(values) > 60  # more than items.json's category limit: only vocabulary.json makes it a filter
    open_map(page, base_url, fixture_collection.name)
    section = vocab_section(page, "subjects")
    section.wait_for()
    assert section.locator("li").count() == 8  # collapsed
    # Sorted by count: the three themes first.
    first = section.locator("li .value").all_inner_texts()[:3]
    assert set(first) == set(THEMES)
    section.locator(".value-find").fill("tag 07")
    assert section.locator("li .value").all_inner_texts() == ["Tag 07"]
    section.locator("li label").first.click()
    expected = [it for it in items if "Tag 07" in it["subjects"].split("|")]
    assert page.evaluate("window.cviz.matchCount()") == len(expected)
    assert "f.subjects=Tag%2007" in page.url
    # Selected value and its clear sit at the top; clearing empties the filter.
    section.locator(".value-find").fill("")
    assert section.locator("li .value").first.inner_text() == "Tag 07"
    assert section.locator("li input").first.is_checked()
    section.locator("h2 button").click()
    assert page.evaluate("window.cviz.matchCount()") == len(items)


def test_counts_follow_search_and_date_brush_zero_last_and_readable(page, base_url, fixture_collection):
    items = fixture_collection.items
    open_map(page, base_url, fixture_collection.name)
    section = vocab_section(page, "subjects")
    section.wait_for()
    page.locator("#search").fill("seascape")
    page.wait_for_timeout(100)
    rows = section.locator("li")
    got = dict(zip(section.locator("li .value").all_inner_texts(), section.locator("li .count").all_inner_texts()))
    for theme in THEMES:
        n = sum(1 for it in items if "seascape" in it["title"].lower() and theme in it["subjects"])
        if theme in got:
            assert int(got[theme]) == n, (theme, got[theme], n)
    # Zero counts come last and are marked.
    counts = [int(c) for c in section.locator("li .count").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)
    section.locator(".more-values").click()
    classes = rows.evaluate_all("(ls) => ls.filter((l) => l.querySelector('.count')).map((l) => [l.className, +l.querySelector('.count').textContent])")
    zero_seen = False
    for cls, n in classes:
        assert ("zero" in cls) == (n == 0)
        zero_seen = zero_seen or n == 0
        assert not (zero_seen and n > 0), "a non-zero value after a zero one"
    # Contrast of a zero row against the panel: at least 4.5:1 (WCAG AA).
    ratio = page.evaluate("""() => {
      const lum = (c) => { const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      const row = document.querySelector('#category-filters li.zero .value');
      const fg = lum(getComputedStyle(row).color), bg = lum(getComputedStyle(document.getElementById('filters')).backgroundColor);
      const opacity = +getComputedStyle(row.closest('li')).opacity;
      return opacity < 1 ? 0 : (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    }""")
    assert ratio >= 4.5, ratio
    # The date brush narrows the counts too.
    page.locator("#search").fill("")
    page.locator("#year-from").fill("1700")
    page.locator("#year-to").fill("1750")
    page.locator("#year-to").dispatch_event("change")
    page.wait_for_timeout(100)
    got = dict(zip(section.locator("li .value").all_inner_texts(), section.locator("li .count").all_inner_texts()))
    for theme in THEMES:
        n = sum(1 for it in items if it["year"] and 1700 <= it["year"] <= 1750 and theme in it["subjects"])
        assert int(got.get(theme, 0)) == n


def test_javascript_object_keys_as_columns_and_values(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    for col in ("constructor", "__proto__"):
        assert vocab_section(page, col).count() == 1
    vocab_section(page, "constructor").locator("label", has_text="toString").locator("input").check()
    vocab_section(page, "__proto__").locator("label", has_text="valueOf").locator("input").check()
    expected = [it for it in fixture_collection.items if it["constructor"] == "toString" and it["__proto__"] == "valueOf"]
    assert page.evaluate("window.cviz.matchCount()") == len(expected) > 0
    page.locator("#clear-all").click()
    assert page.evaluate("window.cviz.matchCount()") == len(fixture_collection.items)
    vocab_section(page, "constructor").locator("label", has_text="hasOwnProperty").locator("input").check()
    assert page.evaluate("window.cviz.matchCount()") == sum(it["constructor"] == "hasOwnProperty" for it in fixture_collection.items)


def test_histogram_axis_uses_the_data_range_and_shows_a_bar_count(page, base_url, fixture_collection):
    years = [it["year"] for it in fixture_collection.items if it["year"]]
    open_map(page, base_url, fixture_collection.name)
    assert page.locator("#year-from").get_attribute("placeholder") == str(min(years))
    assert page.locator("#year-to").get_attribute("placeholder") == str(max(years))
    box = page.locator("#year-histogram").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
    text = page.locator("#year-hover").inner_text()
    start = (min(years) // 5) * 5  # 5-year bins for 1700..1999
    n = sum(1 for y in years if start <= y < start + 5)
    assert text == f"{start}–{start + 4}: {n} item{'s' if n != 1 else ''}", text


# ---------------------------------------------------------------- more like this

def test_more_like_this_shows_twelve_neighbours_and_a_click_moves_there(page, base_url, fixture_collection):
    items = fixture_collection.items
    x = item_features(items)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    it = items[30]
    # Nothing of neighbours.bin is fetched with the map, only when a panel opens.
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    assert not any("neighbours.bin" in f for f in fetched)
    page.mouse.click(*cell_center(page, it["cell"]))
    strip = page.locator("#similar-list .similar-item")
    strip.first.wait_for()
    assert strip.count() == 12
    got = [int(v) for v in strip.evaluate_all("(bs) => bs.map((b) => b.dataset.item)")]
    sims = u @ u[30]
    sims[30] = -np.inf
    expected = set(np.argsort(-sims)[:12].tolist())
    assert set(got) == expected
    page.wait_for_function("document.querySelectorAll('#similar-list img').length === 12 && "
                           "[...document.querySelectorAll('#similar-list img')].every((i) => i.complete && i.naturalWidth > 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-neighbours.png"))
    perf = page.evaluate("window.cvizPerf")
    print(f"\nmore like this: strip {perf['similarShownMs']:.0f} ms, thumbnails {perf.get('similarLoadedMs', float('nan')):.0f} ms after the click")
    strip.nth(3).click()
    target = items[got[3]]
    page.wait_for_function("(t) => document.getElementById('panel-title').textContent === t", arg=target["title"])
    assert page.url.endswith("#item=" + quote(target["id"], safe=""))


# ---------------------------------------------------------------- selections and export

def _grid_point(page, col: float, row: float) -> tuple[float, float]:
    """Page coordinates of a grid position in cells (fractional)."""
    a = page.evaluate("window.cviz.cellCenterOnPage(0)")
    b = page.evaluate(f"window.cviz.cellCenterOnPage({1 + fixture_cols(page)})")
    w, h = b["x"] - a["x"], b["y"] - a["y"]
    return a["x"] + (col - 0.5) * w, a["y"] + (row - 0.5) * h


def fixture_cols(page) -> int:
    return page.evaluate("window.cviz.items.grid.cols")


def test_rectangle_selection_exports_its_cells_as_escaped_csv(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    page.locator("#select-rect").click()
    assert "mode=rect" in page.url
    # From inside cell (1, 1) to inside cell (4, 3): cells whose centres are covered are cols 1..3, rows 1..2.
    x0, y0 = _grid_point(page, 1.3, 1.3)
    x1, y1 = _grid_point(page, 4.2, 3.2)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
    page.mouse.move(x1, y1, steps=3)
    page.mouse.up()
    chosen = [it for it in fixture_collection.items if 1 <= it["col"] <= 3 and 1 <= it["row"] <= 2]
    assert page.evaluate("window.cviz.matchCount()") == len(chosen) > 3
    with page.expect_download() as dl:
        page.locator("#export-csv").click()
    text = open(dl.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [it["id"] for it in sorted(chosen, key=lambda it: it["cell"])]
    assert {"id", "title", "url", "date", "subjects", "note"} <= set(rows[0])
    for r in rows:
        src = next(it for it in chosen if it["id"] == r["id"])
        assert r["title"] == src["title"]
        if src["note"][0] in "=+-@":
            assert r["note"] == "'" + src["note"], r["note"]  # formula injection made safe
        else:
            assert r["note"] == src["note"]
    assert any(r["note"].startswith("'=") for r in rows)
    # JSON export of the same selection.
    with page.expect_download() as dl:
        page.locator("#export-json").click()
    data = json.loads(open(dl.value.path(), encoding="utf-8").read())
    assert [d["id"] for d in data] == [r["id"] for r in rows]
    assert data[0]["note"] == next(it for it in chosen if it["id"] == data[0]["id"])["note"]  # JSON keeps the raw text


def test_lasso_selection(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    page.locator("#select-lasso").click()
    # A triangle with corners at grid positions (0,0), (6,0), (0,6): centres with col+row+1 < 6 inside.
    pts = [_grid_point(page, 0.05, 0.05), _grid_point(page, 6, 0.05), _grid_point(page, 0.05, 6)]
    page.mouse.move(*pts[0])
    page.mouse.down()
    for p in pts[1:] + [pts[0]]:
        page.mouse.move(*p, steps=6)
    page.mouse.up()
    # The far edge runs through (6, 0.05) and (0.05, 6): x + y = 6.05, so centres on x + y = 6 are in.
    inside = [it for it in fixture_collection.items if (it["col"] + 0.5) + (it["row"] + 0.5) < 6.05]
    assert page.evaluate("window.cviz.matchCount()") == len(inside)
    page.keyboard.press("Escape")
    assert page.locator("#select-layer").is_hidden()


def test_a_filtered_view_reopens_from_its_address_and_back_works(page, base_url, fixture_collection):
    items = fixture_collection.items
    open_map(page, base_url, fixture_collection.name)
    page.locator("#category-filters label", has_text="Asian Art").locator("input").check()
    after_one = page.url
    page.locator("#search").fill("landscape")
    page.wait_for_timeout(900)  # the end of a typing burst
    expected = [it for it in items if "Asian Art" in it["department"].split("|") and "landscape" in it["title"].lower()]
    assert page.evaluate("window.cviz.matchCount()") == len(expected)
    url = page.url
    assert "q=landscape" in url and "f.department=Asian%20Art" in url
    # A fresh page on that address shows the same view.
    other = page.context.new_page()
    other.goto(url)
    other.wait_for_function("window.cviz && window.cvizPerf.firstTilesDrawn !== undefined", timeout=15000)
    assert other.evaluate("window.cviz.matchCount()") == len(expected)
    assert other.locator("#search").input_value() == "landscape"
    assert other.locator("#category-filters label", has_text="Asian Art").locator("input").is_checked()
    other.close()
    # Back: the search goes, the category stays.
    page.go_back()
    page.wait_for_function("window.cviz.state.query === ''")
    assert page.url == after_one
    only_cat = [it for it in items if "Asian Art" in it["department"].split("|")]
    assert page.evaluate("window.cviz.matchCount()") == len(only_cat)
    assert page.locator("#search").input_value() == ""
    page.go_back()
    page.wait_for_function("window.cviz.matchCount() === 96")


# ---------------------------------------------------------------- phone and keyboard

def test_phone_layout_bottom_sheet_leaves_the_map_visible(browser, base_url, fixture_collection):
    ctx, pg, errors = open_page(browser, phone=True)
    try:
        it = fixture_collection.items[40]
        pg.goto(f"{base_url}/?c={fixture_collection.name}#item={quote(it['id'], safe='')}")
        pg.locator("#panel").wait_for(state="visible")
        pg.wait_for_timeout(1200)
        top = pg.locator(".topbar").bounding_box()
        panel = pg.locator("#panel").bounding_box()
        m = pg.locator("#map").bounding_box()
        visible = max(0.0, min(m["y"] + m["height"], panel["y"]) - max(m["y"], top["y"] + top["height"]))
        assert visible / m["height"] >= 0.5, (visible, m, panel)
        assert panel["width"] == 390 and panel["y"] + panel["height"] <= 844 + 1
        # The top bar fits: nothing of it sticks out or overlaps.
        assert pg.evaluate("document.querySelector('.topbar').scrollWidth <= 390")
        boxes = [b for b in (pg.locator(s).bounding_box() for s in
                             ["#home-link", "#search", "#match-count", "#prev-match", "#next-match", "#toggle-filters"]) if b]
        for k, a in enumerate(boxes):
            assert a["x"] >= 0 and a["x"] + a["width"] <= 390
            for b in boxes[k + 1:]:  # the bar has two rows on a phone: apart across or down
                assert (a["x"] + a["width"] <= b["x"] + 0.5 or b["x"] + b["width"] <= a["x"] + 0.5
                        or a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5), (a, b)
        for sel in ["#panel-close", "#zoom-in", "#toggle-filters", "#next-match"]:
            b = pg.locator(sel).bounding_box()
            assert b["width"] >= 44 and b["height"] >= 44, (sel, b)
        assert pg.locator(".keys-hint").is_hidden()
        # The item shown is in the free part of the map, above the sheet.
        c = pg.evaluate("(cell) => window.cviz.cellCenterOnPage(cell)", it["cell"])
        assert top["y"] + top["height"] < c["y"] < panel["y"] and 0 < c["x"] < 390, (c, panel)
        zin = pg.locator("#zoom-in").bounding_box()
        assert zin["y"] + zin["height"] <= panel["y"], "zoom buttons hidden under the sheet"
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "viewer-phone.png"))
        assert errors == []
    finally:
        ctx.close()


def test_keyboard_cursor_enter_opens_and_focus_returns(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    m = page.locator("#map")
    assert m.get_attribute("role") == "application" and "map" in m.get_attribute("aria-label").lower()
    m.focus()
    start = page.evaluate("window.cviz.cursorCell()")
    assert start != -1
    page.keyboard.press("ArrowRight")
    cell = page.evaluate("window.cviz.cursorCell()")
    assert cell != start
    page.keyboard.press("Enter")
    page.locator("#panel").wait_for(state="visible")
    it = next(i for i in fixture_collection.items if i["cell"] == cell)
    assert page.locator("#panel-title").inner_text() == it["title"]
    assert page.evaluate("document.getElementById('panel').contains(document.activeElement)")
    page.keyboard.press("Escape")
    page.locator("#panel").wait_for(state="hidden")
    assert page.evaluate("document.activeElement === document.getElementById('map')")


# ---------------------------------------------------------------- bugs found by trying it

def test_a_search_typed_while_items_load_is_applied(browser, base_url, fixture_collection):
    ctx = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    pg = ctx.new_page()
    # Hold items.json back until the test has typed (the page's own fetch, delayed in the page).
    pg.add_init_script("""(() => {
      const real = window.fetch.bind(window);
      window.fetch = (url, opts) => String(url).includes('items.json')
        ? new Promise((r) => { window.__releaseItems = () => r(real(url, opts)); })
        : real(url, opts);
    })()""")
    try:
        pg.goto(f"{base_url}/?c={fixture_collection.name}")
        pg.wait_for_function("typeof window.__releaseItems === 'function'", timeout=15000)
        pg.locator("#search").fill("seascape")
        assert pg.evaluate("window.cviz === undefined")  # typed before the items arrived
        pg.evaluate("window.__releaseItems()")
        pg.wait_for_function("window.cviz !== undefined", timeout=15000)
        n = sum("seascape" in it["title"].lower() for it in fixture_collection.items)
        assert pg.evaluate("window.cviz.matchCount()") == n
        assert pg.locator("#match-count").inner_text() == f"{n} matches"
    finally:
        ctx.close()


def test_small_bugs_tooltip_navigator_search_label_unknown_date(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    it = fixture_collection.items[30]
    hover(page, it["cell"])
    page.locator("#tooltip").wait_for(state="visible")
    page.mouse.click(*cell_center(page, it["cell"]))
    page.locator("#panel").wait_for(state="visible")
    assert page.locator("#tooltip").is_hidden()  # the tooltip does not stay over the panel
    page.wait_for_timeout(400)
    nav = page.locator("#map .navigator").bounding_box()
    panel = page.locator("#panel").bounding_box()
    assert nav["x"] + nav["width"] <= panel["x"] + 1, (nav, panel)  # the navigator is not hidden
    border = page.evaluate("getComputedStyle(document.querySelector('#map .navigator .displayregion')).borderTopColor")
    assert border == "rgb(245, 185, 66)", border  # the viewer's accent, not OpenSeadragon's dark red
    page.keyboard.press("Escape")
    page.locator("#search-all").check()
    assert page.locator("#search").get_attribute("aria-label") == "Search all fields"
    unknown = next(i for i in fixture_collection.items if i["date"] == "Unknown")
    page.goto(f"{base_url}/?c={fixture_collection.name}#item={quote(unknown['id'], safe='')}")
    page.locator("#panel").wait_for(state="visible")
    assert page.locator("#panel-date").inner_text() == "Unknown"
    assert "undated" in page.locator("#panel-date").get_attribute("class")


def test_a_hundred_thousand_columns_open_a_bounded_panel(browser, tmp_path):
    """The panel with a huge item: no call-stack overflow, at most 200 fields rendered."""
    from tests.test_viewer_browser import start_viewer_server, stop
    from tests.viewer_fixture import build_published_collection

    fc = build_published_collection(tmp_path, name="wide", cols=3, rows=3, n_items=6)
    path = fc.published / fc.name / fc.version / "items.json"
    doc = json.loads(path.read_text())
    wide = [f"c{k}" for k in range(100_000)]
    for c in wide:
        doc["values"][c] = [f"v{k}" for k in range(6)]
    doc["columns"] += wide
    path.write_text(json.dumps(doc))
    proc, base = start_viewer_server(tmp_path)
    ctx, pg, errors = open_page(browser, VIEWPORT)
    try:
        it = fc.items[2]
        pg.goto(f"{base}/?c=wide#item={quote(it['id'], safe='')}")
        pg.locator("#panel").wait_for(state="visible", timeout=60000)
        assert pg.locator("#panel-title").inner_text() == it["title"]
        assert pg.locator("#panel-fields dt").count() <= 203
        assert "more columns not shown" in pg.locator("#panel-fields").inner_text()
        assert errors == []
    finally:
        ctx.close()
        stop(proc)
