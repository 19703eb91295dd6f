"""The whole-map view of a larger collection, in Debian chromium: what a click does far out, search
matches findable as specks, the selection in a shared address, category labels inside their block,
the hover preview, histogram years and the phone's search box, the navigator beside the panel.
Same server and browser setup as test_viewer_browser.py, over a 40x30 grid of 1,100 items whose
cells are about 25 px on screen at the whole-map view (too small to read: the case these cover).

Screenshots: test-artifacts/viewer-seams-whole.png (whole map), viewer-seams-search.png (a search
at the whole-map view).
"""

from __future__ import annotations

import pytest

from tests.test_viewer_browser import (  # noqa: F401  (fixtures are used by name)
    ARTIFACTS, base_url, browser, cell_center, open_map, page, settle,
)
from tests.viewer_fixture import build_published_collection, new_test_context, open_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fixture_collection(tmp_path_factory):
    return build_published_collection(tmp_path_factory.mktemp("viewer-seams"), name="seams", cols=40, rows=30,
                                      n_items=1080, cell=32, tile=256, image_size=(48, 64), layouts=True)


@pytest.fixture(scope="module")
def big_cells(fixture_collection):
    """The small default collection (128 px cells, 160 px on screen once an item opens), on the same server."""
    return build_published_collection(fixture_collection.storage_root, name="seams-big")


def zoom(page) -> float:
    return page.evaluate("window.cviz.viewer.viewport.getZoom()")


def cell_px(page) -> float:
    return page.evaluate("""(() => { const v = window.cviz.viewer; const t = v.world.getItemAt(0);
        const a = t.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
        const w = window.cviz.items.grid.cellWidth * t.getContentSize().x / window.cviz.items.grid.width;
        const b = t.imageToViewerElementCoordinates(new OpenSeadragon.Point(w, 0)); return b.x - a.x; })()""")


def brightest(page, x: float, y: float) -> tuple[int, int, int]:
    """The brightest pixel of the page within 2 px of (x, y) (a 1-2 px line falls between pixels)."""
    import io

    from PIL import Image

    png = page.screenshot(clip={"x": int(x) - 2, "y": int(y) - 2, "width": 5, "height": 5})
    img = Image.open(io.BytesIO(png)).convert("RGB")
    return max((img.getpixel((i, j)) for i in range(img.width) for j in range(img.height)), key=sum)


def test_a_click_far_out_zooms_a_step_toward_it_and_opens_only_from_close(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-seams-whole.png"))
    assert cell_px(page) < 48
    it = fixture_collection.items[500]
    z0 = zoom(page)
    for _ in range(6):
        if cell_px(page) >= 48:
            break
        x, y = cell_center(page, it["cell"])
        before = zoom(page)
        page.mouse.click(x, y)
        settle(page)
        assert page.locator("#panel").is_hidden(), "an item opened from a view where cells are specks"
        assert before < zoom(page) <= before * 3, (before, zoom(page))
        # Toward the clicked point: the clicked cell is still under the pointer.
        x2, y2 = cell_center(page, it["cell"])
        assert abs(x2 - x) < 20 and abs(y2 - y) < 20
    assert cell_px(page) >= 48 and zoom(page) > z0
    x, y = cell_center(page, it["cell"])
    page.mouse.click(x, y)
    page.locator("#panel:not([hidden])").wait_for()
    assert page.evaluate("window.cviz.state.item") is not None or page.url.find("item=") > 0


def test_search_matches_at_the_whole_map_view_wear_a_bright_ring(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    page.locator("#search").fill("no. 777")
    assert page.evaluate("window.cviz.matchCount()") == 1
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-seams-search.png"))
    it = fixture_collection.items[777]
    x, y = cell_center(page, it["cell"])
    px = cell_px(page)
    assert px < 32
    # Just outside the cell, over its dimmed neighbours: the ring's bright yellow, not the dimming.
    ring = (max(px, 12) + 4) / 2
    for dx, dy in ((0, -ring), (0, ring), (-ring, 0), (ring, 0)):
        r, g, b = brightest(page, x + dx, y + dy)
        assert r > 200 and g > 170 and b < 140, ((dx, dy), (r, g, b))


def test_a_shared_address_restores_the_selection(page, browser, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    page.locator("#select-rect").click()
    # Grid px -> page px through two cell centres (cells are 32 grid px).
    (ax, ay), (bx, by) = cell_center(page, 0), cell_center(page, 1)
    scale = (bx - ax) / 32
    x0, y0 = ax + (5.3 - 0.5) * 32 * scale, ay + (4.3 - 0.5) * 32 * scale
    x1, y1 = ax + (17.2 - 0.5) * 32 * scale, ay + (11.2 - 0.5) * 32 * scale
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    chosen = sorted(it["index"] for it in fixture_collection.items if 5 <= it["col"] <= 16 and 4 <= it["row"] <= 10)
    assert page.evaluate("window.cviz.matchCount()") == len(chosen) > 50
    page.wait_for_function("location.hash.includes('sel=')", timeout=5000)
    address = page.url
    assert len(address) < 200, address
    other = new_test_context(browser, viewport={"width": 1280, "height": 800}, bypass_csp=True)
    try:
        pg = other.new_page()
        pg.goto(address)
        pg.wait_for_function("window.cviz && window.cviz.state.selection", timeout=15000)
        assert pg.evaluate("window.cviz.matchCount()") == len(chosen)
        picked = pg.evaluate("[...window.cviz.state.selection.items.entries()].filter(([, v]) => v).map(([i]) => i)")
        assert picked == chosen
        assert pg.locator("#selection-row").is_visible()
    finally:
        other.close()


LONG_NAME = "Indians of South America -- Peru"


def test_category_headings_stay_inside_their_block_and_hover_names_the_block(page, base_url, fixture_collection):
    import json

    doc = json.loads(json.dumps(fixture_collection.layouts["category"]))
    # A narrow block with a long name, as a curator found (266 px of heading over a 65 px block):
    # the middle block's label shrunk to 3 columns, the next block's heading far to its right.
    last = sorted(doc["labels"], key=lambda l: l["x"])[1]
    last["text"], last["w"] = LONG_NAME, 3
    page.route("**/layouts/category/**/layout.json", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(doc)))
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    page.locator("#layout-switch button[data-layout='category']").click()
    page.wait_for_function("window.cviz.layout().name === 'category'", timeout=10000)
    settle(page)
    cols = doc["grid"]["cols"]
    shown = page.evaluate("window.cviz.layoutLabels()")
    assert shown
    for label in doc["labels"]:
        text = f"{label['text']} · {label['count']}"
        boxes = [s for s in shown if s["text"] == text]
        if not boxes:
            continue
        left = page.evaluate("(c) => window.cviz.cellCenterOnPage(c)", label["y"] * cols + label["x"])
        right = page.evaluate("(c) => window.cviz.cellCenterOnPage(c)", label["y"] * cols + label["x"] + label["w"] - 1)
        half = (right["x"] - left["x"]) / max(1, label["w"] - 1) / 2
        assert boxes[0]["left"] >= left["x"] - half - 1 and boxes[0]["right"] <= right["x"] + half + 1, (text, boxes[0])
    # Hover a cell of the renamed block: the tooltip names the block in full.
    cell = (last["y"] + 1) * cols + last["x"] + 1
    c = page.evaluate("(c) => window.cviz.cellCenterOnPage(c)", cell)
    page.mouse.move(c["x"] - 2, c["y"] - 2)
    page.mouse.move(c["x"], c["y"])
    page.wait_for_function("(t) => !document.querySelector('#tooltip').hidden"
                           " && document.querySelector('#tooltip-group').textContent.startsWith(t)",
                           arg=LONG_NAME, timeout=5000)


def test_resting_on_an_item_shows_its_larger_image_beside_the_pointer(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    it = fixture_collection.items[321]
    x, y = cell_center(page, it["cell"])
    page.mouse.move(x - 2, y - 2)
    page.mouse.move(x, y)
    page.wait_for_function("!document.querySelector('#tooltip').hidden", timeout=3000)
    assert page.locator("#tooltip-image").is_hidden(), "the preview waits for the pointer to rest"
    page.wait_for_function("(() => { const im = document.querySelector('#tooltip-image');"
                           " return im && !im.hidden && im.complete && im.naturalWidth > 0; })()", timeout=3000)
    # The item's own image: the fixture's are flat in the item's colour.
    rgb = page.evaluate("""(() => { const im = document.querySelector('#tooltip-image');
        const c = document.createElement('canvas'); c.width = im.naturalWidth; c.height = im.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(im, 0, 0);
        return [...g.getImageData(c.width - 4, c.height - 4, 1, 1).data.slice(0, 3)]; })()""")
    assert all(abs(a - b) <= 12 for a, b in zip(rgb, it["rgb"])), (rgb, it["rgb"])
    box = page.locator("#tooltip-image").bounding_box()
    assert box["width"] >= 200 and box["height"] >= 200, box
    # Beside the pointer, not under it and not far away.
    assert not (box["x"] <= x <= box["x"] + box["width"] and box["y"] <= y <= box["y"] + box["height"])
    assert min(abs(box["x"] - x), abs(box["x"] + box["width"] - x)) < 60
    # Moving to another item drops the preview until the pointer rests again.
    x2, y2 = cell_center(page, fixture_collection.items[322]["cell"])
    page.mouse.move(x2, y2)
    assert page.locator("#tooltip-image").is_hidden()


def test_histogram_labels_round_years_and_the_phone_search_box_is_usable(page, browser, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    axis = page.locator("#year-histogram").get_attribute("data-axis").split()
    assert axis[0] == "1700" and axis[-1] == "1999" and len(axis) >= 3, axis
    assert all(int(y) % 50 == 0 for y in axis[1:-1]), axis
    ctx, pg, errors = open_page(browser, phone=True)
    try:
        open_map(pg, base_url, fixture_collection.name)
        pg.wait_for_timeout(500)
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "viewer-seams-phone.png"))
        search = pg.locator("#search").bounding_box()
        assert search["width"] >= 150, search
        assert pg.locator("#search-all").is_visible(), "the 'all fields' switch is hidden on a phone"
        box = pg.locator(".search-all").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 24, box
        assert pg.evaluate("document.querySelector('.topbar').scrollWidth <= 390")
        assert errors == []
    finally:
        ctx.close()


def test_with_the_panel_open_the_navigator_shrinks_and_arrowed_cells_stay_clear_of_the_panel(page, base_url, big_cells):
    from urllib.parse import quote

    open_map(page, base_url, big_cells.name)
    settle(page)
    closed = page.locator("#map .navigator").bounding_box()
    it = big_cells.items[13]
    page.goto(f"{base_url}/?c={big_cells.name}#item={quote(it['id'], safe='')}")
    page.locator("#panel:not([hidden])").wait_for()
    settle(page)
    panel = page.locator("#panel").bounding_box()
    nav = page.locator("#map .navigator").bounding_box()
    assert nav["x"] + nav["width"] <= panel["x"] + 1, (nav, panel)
    assert nav["width"] * nav["height"] <= 0.5 * closed["width"] * closed["height"], (nav, closed)
    # Put the open cell where its right-hand neighbour's centre is 60 px left of the panel (that
    # neighbour then half under the panel), then step right along the row: each open cell ends
    # wholly left of the panel.
    c = page.evaluate("(c) => window.cviz.cellCenterOnPage(c)", it["cell"])
    dx = c["x"] - (panel["x"] - 60 - cell_px(page))
    page.evaluate("(dx) => { const vp = window.cviz.viewer.viewport;"
                  " vp.panBy(vp.deltaPointsFromPixels(new OpenSeadragon.Point(dx, 0)), true); }", dx)
    settle(page)
    for k in range(1, 7):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(50)
        settle(page)
        cell = page.evaluate("window.cviz.state && window.cviz.cursorCell()")
        c = page.evaluate("(c) => window.cviz.cellCenterOnPage(c)", cell)
        half = cell_px(page) / 2
        assert c["x"] + half <= panel["x"] + 1, (k, c, half, panel)
    page.locator("#panel-close").click()
    settle(page)
    back = page.locator("#map .navigator").bounding_box()
    assert abs(back["width"] - closed["width"]) <= 2 and abs(back["height"] - closed["height"]) <= 2, (back, closed)
