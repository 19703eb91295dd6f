"""Layouts in the viewer, in Debian chromium: the switcher, the layout in the address,
the open item (or the view's centre item) kept in view across a switch, search, filters and
selection kept and redrawn at the new cells, the timeline's axis and the category headings,
and the refusals (a collection without layouts, a layout from another item list). Same server,
browser and page fixtures as test_viewer_browser.py; the fixture collection is written with
``layouts=True`` (tests/viewer_fixture.py), so each item has a cell of its own colour in each
layout's pyramid and a pixel on screen tells which item is where.

Screenshots: test-artifacts/viewer-layout-timeline.png, viewer-layout-timeline-zoomed.png,
viewer-layout-category.png, viewer-layout-phone.png.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.test_viewer_browser import (  # noqa: F401  (fixtures are used by name)
    ARTIFACTS, browser, close_to, page, pixel, settle, start_viewer_server, stop,
)
from tests.viewer_fixture import BACKGROUND, build_published_collection, open_page

pytestmark = pytest.mark.browser

NAME = "fixture-layouts"
PLAIN = "fixture-plain"
MISMATCH = "fixture-mismatch"


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer-layouts")
    fc = build_published_collection(root, name=NAME, layouts=True)
    plain = build_published_collection(root, name=PLAIN)
    bad = build_published_collection(root, name=MISMATCH, layouts=True)
    # The category layout of this one was built from another item list.
    current = json.loads((bad.published / MISMATCH / "current.json").read_text())
    path = bad.published / MISMATCH / current["layouts"]["category"]["layout"]
    doc = json.loads(path.read_text())
    doc["items_sha256"] = "0" * 64
    path.write_text(json.dumps(doc))
    return {"fc": fc, "plain": plain, "bad": bad}


@pytest.fixture(scope="module")
def fc(collections):
    return collections["fc"]


@pytest.fixture(scope="module")
def url(collections):
    proc, base = start_viewer_server(collections["fc"].storage_root)
    yield base
    stop(proc)


# ---------------------------------------------------------------- helpers

def open_map(page, base: str, name: str = NAME, hash_: str = "") -> None:
    page.goto(f"{base}/?c={name}{hash_}")
    page.wait_for_function("window.cviz && window.cvizPerf && window.cvizPerf.firstTilesDrawn !== undefined",
                           timeout=15000)


def switch(page, layout: str) -> None:
    """Click the switcher's button and wait until the layout is drawn and still."""
    page.locator(f"#layout-switch button[data-layout='{layout}']").click()
    page.wait_for_function("(n) => window.cviz.layout().name === n", arg=layout, timeout=10000)
    settle(page)


def grid_of(fc, layout: str) -> dict:
    if layout == "similarity":
        return {"cols": fc.cols, "rows": fc.rows, "cell_width": fc.cell, "cell_height": fc.cell,
                "width": fc.cols * fc.cell}
    return fc.layouts[layout]["grid"]


def cell_of(it: dict, layout: str) -> int:
    return it["cell"] if layout == "similarity" else it[f"{layout}_cell"]


def cell_on_page(page, fc, it: dict, layout: str) -> tuple[float, float]:
    """Page position of the item's cell centre in `layout`, from OpenSeadragon's own viewport
    coordinates and the fixture's grid (not from the page's cell mapping under test)."""
    g = grid_of(fc, layout)
    c = cell_of(it, layout)
    col, row = c % g["cols"], c // g["cols"]
    p = page.evaluate("""([x, y]) => {
        const v = window.cviz.viewer;
        const p = v.viewport.viewportToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
        const box = v.element.getBoundingClientRect();
        return {x: box.left + p.x, y: box.top + p.y};
    }""", [(col + 0.5) * g["cell_width"] / g["width"], (row + 0.5) * g["cell_height"] / g["width"]])
    return p["x"], p["y"]


def free_area(page) -> dict:
    """The part of the map not under the panel: {x0, y0, x1, y1} in page px."""
    m = page.locator("#map").bounding_box()
    x1, y1 = m["x"] + m["width"], m["y"] + m["height"]
    if page.locator("#panel").is_visible():
        p = page.locator("#panel").bounding_box()
        if p["width"] >= m["width"] - 1:
            y1 = min(y1, p["y"])
        else:
            x1 = min(x1, p["x"])
    return {"x0": m["x"], "y0": m["y"], "x1": x1, "y1": y1}


def assert_in_view(page, fc, it: dict, layout: str) -> tuple[float, float]:
    x, y = cell_on_page(page, fc, it, layout)
    a = free_area(page)
    assert a["x0"] < x < a["x1"] and a["y0"] < y < a["y1"], (layout, it["index"], (x, y), a)
    return x, y


def layout_dimmed_cells(page) -> set[int]:
    return set(page.evaluate(
        "[...window.cviz.layout().cellToItem.keys()].filter((c) => window.cviz.isDimmed(c))"))


def axis_labels(page) -> list[dict]:
    return page.evaluate("window.cviz.layoutLabels()")


def no_overlap(boxes: list[dict]) -> bool:
    return all(a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
               for k, a in enumerate(boxes) for b in boxes[k + 1:])


# ---------------------------------------------------------------- switching with an item open

def test_switching_keeps_the_open_item_open_and_its_cell_in_view(page, url, fc):
    it = fc.items[37]
    assert len({it["cell"], it["timeline_cell"], it["category_cell"]}) > 1  # it really moves
    open_map(page, url, hash_=f"#item={quote(it['id'], safe='')}")
    page.locator("#panel").wait_for(state="visible")
    settle(page)
    assert page.locator("#layout-switch").is_visible()
    assert page.locator("#layout-switch button[data-layout='similarity']").get_attribute("aria-pressed") == "true"
    for layout in ["timeline", "category", "similarity"]:
        switch(page, layout)
        assert page.locator("#panel").is_visible()
        assert page.locator("#panel-title").inner_text() == it["title"]
        assert page.locator(f"#layout-switch button[data-layout='{layout}']").get_attribute("aria-pressed") == "true"
        x, y = assert_in_view(page, fc, it, layout)
        # The pixel there is the item's own colour in that layout's pyramid.
        got = pixel(page, x + 8, y + 8)
        assert close_to(got, it["rgb"]), (layout, got, it["rgb"])
        # The page's own mapping agrees: the selected cell is the item's cell of this layout.
        assert page.evaluate("window.cviz.layout().itemToCell[%d]" % it["index"]) == cell_of(it, layout)
        if layout == "similarity":
            assert "layout=" not in page.url
        else:
            assert f"layout={layout}" in page.url and f"item={quote(it['id'], safe='')}" in page.url
    # Back returns to the previous layout, with the item still open.
    page.go_back()
    page.wait_for_function("window.cviz.layout().name === 'category'", timeout=10000)
    settle(page)
    assert page.locator("#panel-title").inner_text() == it["title"]
    assert_in_view(page, fc, it, "category")


def test_without_an_open_item_the_centre_item_stays_in_view(page, url, fc):
    it = fc.items[50]
    open_map(page, url)
    settle(page)
    # Zoom in on the item in the similarity map (no panel).
    g = grid_of(fc, "similarity")
    cx = ((it["col"] + 0.5) * fc.cell) / g["width"]
    cy = ((it["row"] + 0.5) * fc.cell) / g["width"]
    page.evaluate("([x, y]) => { const vp = window.cviz.viewer.viewport; vp.zoomTo(4, null, true); vp.panTo(new OpenSeadragon.Point(x, y), true); }", [cx, cy])
    settle(page)
    assert page.locator("#panel").is_hidden()
    for layout in ["timeline", "category"]:
        switch(page, layout)
        x, y = assert_in_view(page, fc, it, layout)
        m = page.locator("#map").bounding_box()
        # Centred again (within a cell), not merely somewhere on screen.
        cell_px = page.evaluate("window.cviz.cellCenterOnPage(1).x - window.cviz.cellCenterOnPage(0).x")
        assert abs(x - (m["x"] + m["width"] / 2)) < cell_px and abs(y - (m["y"] + m["height"] / 2)) < cell_px
        assert close_to(pixel(page, x + 8, y + 8), it["rgb"])
        assert page.locator("#panel").is_hidden()
    # From the whole map, the whole map.
    page.locator("#zoom-home").click()
    settle(page)
    switch(page, "timeline")
    g = grid_of(fc, "timeline")
    for corner in (fc.items[0], max(fc.items, key=lambda i: i["timeline_cell"])):
        assert_in_view(page, fc, corner, "timeline")


# ---------------------------------------------------------------- search, filters, selection

def test_search_filters_and_selection_are_kept_and_drawn_at_the_new_cells(page, url, fc):
    items = fc.items
    open_map(page, url)
    settle(page)
    page.locator("#search").fill("landscape")
    page.locator("#category-filters section[data-column='department'] label", has_text="Paintings").locator("input").check()
    match = [it for it in items if "landscape" in it["title"].lower() and "Paintings" in it["department"].split("|")]
    assert page.evaluate("window.cviz.matchCount()") == len(match) > 2
    for layout in ["timeline", "category"]:
        switch(page, layout)
        assert page.locator("#search").input_value() == "landscape"
        assert page.evaluate("window.cviz.matchCount()") == len(match)
        assert "q=landscape" in page.url and "f.department=Paintings" in page.url and f"layout={layout}" in page.url
        keep = {cell_of(it, layout) for it in match}
        assert layout_dimmed_cells(page) == {cell_of(it, layout) for it in items} - keep
        # On screen: a match shows its colour, a non-match is dimmed to near-black.
        bright = match[0]
        assert close_to(pixel(page, *cell_on_page(page, fc, bright, layout)), bright["rgb"])
        dim = next(it for it in items if it not in match)
        got = pixel(page, *cell_on_page(page, fc, dim, layout))
        assert sum(got) < sum(dim["rgb"]) / 3, (got, dim["rgb"])
        # Stepping through matches follows this layout's reading order.
        page.locator("#next-match").click()
        first = min(match, key=lambda it: cell_of(it, layout))
        page.wait_for_function("(t) => document.querySelector('#panel-title').textContent === t", arg=first["title"])
        page.locator("#panel-close").click()
        page.locator("#zoom-home").click()
        settle(page)

    # A rectangle selection made on the timeline is kept in the category layout and back.
    page.locator("#clear-all").click()
    switch(page, "timeline")
    g = grid_of(fc, "timeline")
    band = [it for it in items if it["timeline_cell"] % g["cols"] in (0, 1, 2)]  # the first three columns
    a = cell_on_page(page, fc, min(band, key=lambda i: i["timeline_cell"]), "timeline")
    cell_px = page.evaluate("window.cviz.cellCenterOnPage(1).x - window.cviz.cellCenterOnPage(0).x")
    x0, y0 = a[0] - 0.4 * cell_px, a[1] - 0.4 * cell_px
    x1, y1 = x0 + 2.9 * cell_px, y0 + g["rows"] * cell_px
    page.locator("#select-rect").click()
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.locator("#select-rect").click()
    chosen = {it["index"] for it in band}
    assert page.evaluate("window.cviz.matchCount()") == len(chosen) > 5
    for layout in ["category", "similarity"]:
        switch(page, layout)
        assert page.evaluate("window.cviz.state.selection && window.cviz.state.selection.size") == len(chosen)
        assert layout_dimmed_cells(page) == {cell_of(it, layout) for it in items if it["index"] not in chosen}
    assert page.locator("#selection-row").is_visible()


# ---------------------------------------------------------------- the address

def test_an_address_with_a_layout_opens_there(page, url, fc):
    it = fc.items[21]
    tiles = []
    page.on("request", lambda r: "/map_files/" in r.url and tiles.append(r.url))
    open_map(page, url, hash_=f"#layout=category&item={quote(it['id'], safe='')}")
    page.locator("#panel").wait_for(state="visible")
    settle(page)
    assert page.evaluate("window.cviz.layout().name") == "category"
    assert page.locator("#layout-switch button[data-layout='category']").get_attribute("aria-pressed") == "true"
    assert page.locator("#panel-title").inner_text() == it["title"]
    x, y = assert_in_view(page, fc, it, "category")
    assert close_to(pixel(page, x + 8, y + 8), it["rgb"])
    # Straight to that layout's pyramid: no similarity tiles were fetched.
    assert tiles and all("/layouts/category/" in t for t in tiles), tiles[:5]
    assert "layout=category" in page.url
    # Clicking another item's cell there opens that item (point -> item through the layout).
    a = free_area(page)
    on_screen = [o for o in fc.items if o is not it
                 and a["x0"] + 30 < cell_on_page(page, fc, o, "category")[0] < a["x1"] - 30
                 and a["y0"] + 30 < cell_on_page(page, fc, o, "category")[1] < a["y1"] - 30]
    other = on_screen[len(on_screen) // 2]
    page.mouse.click(*cell_on_page(page, fc, other, "category"))
    page.wait_for_function("(t) => document.querySelector('#panel-title').textContent === t", arg=other["title"])
    assert f"item={quote(other['id'], safe='')}" in page.url and "layout=category" in page.url


def test_an_unknown_layout_in_the_address_falls_back_to_similarity(page, url, fc):
    it = fc.items[12]
    open_map(page, url, hash_=f"#layout=mosaic&item={quote(it['id'], safe='')}")
    page.locator("#panel").wait_for(state="visible")
    settle(page)
    assert page.evaluate("window.cviz.layout().name") == "similarity"
    assert page.locator("#status").is_hidden()
    assert_in_view(page, fc, it, "similarity")


def test_a_collection_without_layouts_shows_no_switcher(page, url, fc):
    open_map(page, url, PLAIN, hash_="#layout=timeline")
    settle(page)
    assert page.locator("#layout-switch").is_hidden()
    assert page.evaluate("window.cviz.layout().name") == "similarity"
    assert page.evaluate("window.cviz.layoutLabels()") == []
    # The region names of the similarity map are there as before.
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)


def test_a_layout_from_another_item_list_is_refused(page, url, collections):
    open_map(page, url, MISMATCH)
    settle(page)
    page.locator("#layout-switch button[data-layout='category']").click()
    page.wait_for_function("document.querySelector('#status').textContent.includes('another item list')", timeout=10000)
    assert page.evaluate("window.cviz.layout().name") == "similarity"
    assert page.locator("#layout-switch button[data-layout='similarity']").get_attribute("aria-pressed") == "true"
    assert "layout=" not in page.url
    # The timeline of the same collection is fine.
    switch(page, "timeline")
    # And an address naming the refused layout opens the similarity map, saying why.
    page.goto("about:blank")  # a new page load, not a hash change
    open_map(page, url, MISMATCH, hash_="#layout=category")
    assert page.evaluate("window.cviz.layout().name") == "similarity"
    assert "another item list" in page.locator("#status").inner_text()


# ---------------------------------------------------------------- axis, headings, regions

def test_timeline_axis_labels_at_the_widest_zoom_and_zoomed_in(page, url, fc):
    doc = fc.layouts["timeline"]
    g = doc["grid"]
    bins = [l for l in doc["labels"] if l["kind"] == "bin"]
    open_map(page, url)
    settle(page)
    switch(page, "timeline")
    m = page.locator("#map").bounding_box()
    shown = axis_labels(page)
    years = [l["yearFrom"] for l in shown if l["kind"] == "bin"]
    assert len(years) >= len(bins) // 2, shown
    assert years == sorted(years), "in year order, left to right"
    assert any(l["text"].startswith("undated") for l in shown)
    assert no_overlap(shown)
    for l in shown:
        assert m["x"] <= l["left"] and l["right"] <= m["x"] + m["width"] and m["y"] <= l["top"] and l["bottom"] <= m["y"] + m["height"]
        if l["kind"] == "bin":
            b = next(b for b in bins if b["year_from"] == l["yearFrom"])
            assert l["text"] in (b["text"], str(b["year_from"]))
            # Centred over its own band (OpenSeadragon's coordinates of the band's middle).
            mid = page.evaluate("(x) => window.cviz.viewer.viewport.viewportToViewerElementCoordinates(new OpenSeadragon.Point(x, 0)).x",
                                (b["x"] + b["w"] / 2) * g["cell_width"] / g["width"]) + m["x"]
            assert abs(l["x"] - mid) < 2, (l, mid)
    # The texts are real, readable text on screen (the elements exist and are not clipped away).
    assert page.locator("#layout-labels .layout-label.axis:not([hidden])").count() == len(shown)
    assert page.evaluate("window.cviz.regionLabels()") == [], "region names belong to the similarity map"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-layout-timeline.png"))

    # Deep zoom into the middle of the map: the bands' tops are far above, the axis stays on screen.
    page.evaluate("() => { const vp = window.cviz.viewer.viewport; vp.zoomTo(vp.getHomeZoom() * 6, null, true); vp.panTo(new OpenSeadragon.Point(0.5, %f), true); }"
                  % (g["height"] / g["width"] / 2))
    settle(page)
    deep = axis_labels(page)
    assert deep, "no axis label when zoomed in"
    assert no_overlap(deep)
    nav = page.locator("#map .navigator").bounding_box()
    for l in deep:
        under_nav = nav and l["right"] > nav["x"] and l["left"] < nav["x"] + nav["width"]
        # Pinned to the top edge, or just below the navigator where it covers the edge.
        limit = (nav["y"] + nav["height"] + 12) if under_nav else m["y"] + 40
        assert m["y"] <= l["top"] < limit, (l, nav)
        if l["kind"] == "bin":
            assert l["text"] == next(b["text"] for b in bins if b["year_from"] == l["yearFrom"]), "full bin text when there is room"
    page.screenshot(path=str(ARTIFACTS / "viewer-layout-timeline-zoomed.png"))
    # Back on the similarity map the region names return and the axis goes.
    switch(page, "similarity")
    assert axis_labels(page) == []
    page.locator("#zoom-home").click()  # region names show at the wider zooms
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)


def test_category_headings_show_value_and_count(page, url, fc):
    doc = fc.layouts["category"]
    open_map(page, url)
    settle(page)
    switch(page, "category")
    shown = axis_labels(page)
    expected = {f"{b['text']} · {b['count']}" for b in doc["labels"]}
    assert {l["text"] for l in shown} == expected
    assert no_overlap(shown)
    page.screenshot(path=str(ARTIFACTS / "viewer-layout-category.png"))
    # Hover over an item's cell: the tooltip names that item (point -> item through the layout).
    it = fc.items[64]
    x, y = cell_on_page(page, fc, it, "category")
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y)
    page.wait_for_function("(t) => !document.querySelector('#tooltip').hidden && document.querySelector('#tooltip-title').textContent === t",
                           arg=it["title"])


# ---------------------------------------------------------------- phone and keyboard

def test_switcher_on_a_phone_and_from_the_keyboard(browser, url, fc):
    ctx, pg, errors = open_page(browser, phone=True)
    try:
        it = fc.items[60]
        pg.goto(f"{url}/?c={NAME}#item={quote(it['id'], safe='')}")
        pg.locator("#panel").wait_for(state="visible")
        pg.wait_for_function("window.cvizPerf.firstTilesDrawn !== undefined", timeout=15000)
        sw = pg.locator("#layout-switch")
        box = sw.bounding_box()
        top = pg.locator(".topbar").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["y"] >= top["y"] + top["height"], "below the top bar, over the map"
        for b in pg.locator("#layout-switch button:not([hidden])").all():
            bb = b.bounding_box()
            assert bb["height"] >= 44 and bb["width"] >= 44, bb
        nav = pg.locator("#map .navigator").bounding_box()
        if nav:
            assert box["x"] + box["width"] <= nav["x"] or nav["y"] + nav["height"] <= box["y"], (box, nav)
        assert pg.evaluate("document.querySelector('.topbar').scrollWidth <= 390")
        # Keyboard: the buttons take focus and Enter switches.
        pg.locator("#layout-switch button[data-layout='timeline']").focus()
        pg.keyboard.press("Enter")
        pg.wait_for_function("window.cviz.layout().name === 'timeline'", timeout=10000)
        pg.wait_for_timeout(1200)
        x, y = cell_on_page(pg, fc, it, "timeline")
        panel = pg.locator("#panel").bounding_box()
        assert top["y"] + top["height"] < y < panel["y"] and 0 < x < 390, (x, y, panel)
        # No axis label under the switcher.
        for l in pg.evaluate("window.cviz.layoutLabels()"):
            assert l["right"] <= box["x"] or l["left"] >= box["x"] + box["width"] or l["top"] >= box["y"] + box["height"] or l["bottom"] <= box["y"]
        pg.keyboard.press("Tab")
        assert pg.evaluate("document.activeElement.dataset.layout") == "category"
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "viewer-layout-phone.png"))
        assert errors == []
    finally:
        ctx.close()
