"""The viewer in a real browser: Debian chromium driven by Python Playwright.

Runs ``node viewer/server.js`` on a free loopback port against a temporary storage
root holding the deterministic fixture of tests/viewer_fixture.py, then clicks
through the page like a curator. Needs ``npm ci --prefix viewer`` (skips, saying so,
when viewer/node_modules is missing) and ``/usr/bin/chromium`` (``apt-get install
chromium``; never ``playwright install``).

The map screenshot lands in test-artifacts/viewer-map.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import missing_prerequisite

from tests.viewer_fixture import HOSTILE_TITLE, JAVASCRIPT_URL, ODD_ID, build_published_collection, new_test_context

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
VIEWER = REPO / "viewer"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("CVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 800}


# ---------------------------------------------------------------- fixtures

def start_viewer_server(storage_root: Path) -> tuple[subprocess.Popen, str]:
    """Start viewer/server.js on a free port (CVIZ_VIEWER_PORT=0); return the process and base URL."""
    node = shutil.which("node")
    if node is None:
        missing_prerequisite("node is not installed")
    if not (VIEWER / "node_modules" / "openseadragon").is_dir():
        missing_prerequisite("viewer/node_modules missing: run `npm ci --prefix viewer` first")
    # Absolute: the server runs in viewer/, where a relative root would mean something else.
    env = {**os.environ, "CVIZ_VIEWER_PORT": "0", "CVIZ_STORAGE_ROOT": str(Path(storage_root).resolve())}
    proc = subprocess.Popen([node, "server.js"], cwd=VIEWER, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()  # "cviz viewer: http://127.0.0.1:PORT/  (data: ...)"
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"viewer server did not start: {line!r} {proc.stdout.read()!r}")
    return proc, f"http://127.0.0.1:{m.group(1)}"


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def fixture_collection(tmp_path_factory):
    return build_published_collection(tmp_path_factory.mktemp("viewer-storage"))


@pytest.fixture(scope="module")
def base_url(fixture_collection):
    proc, url = start_viewer_server(fixture_collection.storage_root)
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        missing_prerequisite(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records tile responses, dialogs and script errors; fails on the latter two."""
    # bypass_csp: Playwright evaluates string expressions, which the page's CSP forbids. It also
    # makes the XSS checks stricter: they prove text rendering, not just the CSP, stops a payload.
    context = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    pg = context.new_page()
    pg.tile_statuses = []
    pg.dialogs = []
    pg.errors = []
    pg.on("response", lambda r: "/map_files/" in r.url and pg.tile_statuses.append(r.status))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    # Console errors too (failed loads, OpenSeadragon complaints); 404s are expected where a
    # test asks for something missing, so those tests clear the list themselves.
    pg.on("console", lambda m: m.type == "error" and pg.errors.append(m.text))
    yield pg
    context.close()
    assert pg.dialogs == [], f"a dialog fired (script ran from data?): {pg.dialogs}"
    assert pg.errors == [], f"page errors: {pg.errors}"


# ---------------------------------------------------------------- helpers

def open_map(page, base_url: str, name: str, hash_: str = "") -> None:
    page.goto(f"{base_url}/?c={name}{hash_}")
    page.wait_for_function("window.cviz && window.cvizPerf && window.cvizPerf.firstTilesDrawn !== undefined",
                           timeout=15000)


def cell_center(page, cell: int) -> tuple[float, float]:
    p = page.evaluate("(c) => window.cviz.cellCenterOnPage(c)", cell)
    return p["x"], p["y"]


def settle(page) -> None:
    """Wait until OpenSeadragon's animation stops (positions read before that are stale)."""
    page.wait_for_function("() => !window.cviz.viewer.isAnimating || !window.cviz.viewer.world.needsDraw()",
                           timeout=5000)
    page.wait_for_timeout(900)


def pixel(page, x: float, y: float) -> tuple[int, int, int]:
    """RGB of the page at (x, y), from a real screenshot (works for any OSD drawer)."""
    import io

    from PIL import Image

    png = page.screenshot(clip={"x": int(x), "y": int(y), "width": 1, "height": 1})
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0))


def close_to(a, b, tol=40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def dimmed_cells(page) -> list[int]:
    return page.evaluate("[...window.cviz.items.cellToItem.keys()].filter((c) => window.cviz.isDimmed(c))")


def hover(page, cell: int) -> None:
    x, y = cell_center(page, cell)
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y)


# ---------------------------------------------------------------- tests

def test_index_lists_published_collections(page, base_url, fixture_collection):
    page.goto(base_url + "/")
    card = page.locator("#collection-list a.card")
    card.first.wait_for()
    assert card.count() == 1
    assert card.locator(".card-name").inner_text() == fixture_collection.name
    assert "96 items" in card.locator(".card-meta").inner_text()
    page.wait_for_function("document.querySelector('.card-preview img').naturalWidth > 0")
    card.click()
    page.wait_for_function("window.cviz !== undefined", timeout=15000)
    assert page.url.endswith(f"?c={fixture_collection.name}")


def test_map_loads_tiles_and_draws_them(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    assert page.tile_statuses and set(page.tile_statuses) == {200}, page.tile_statuses
    # The canvas is not blank: sampled cell centres show their items' colours.
    # (Away from the top-right corner, where OpenSeadragon's navigator sits.)
    sample = [it for it in fixture_collection.items if it["col"] <= 8 and it["row"] >= 2][::7]
    assert len(sample) >= 6
    for it in sample:
        got = pixel(page, *cell_center(page, it["cell"]))
        assert close_to(got, it["rgb"]), (it["index"], got, it["rgb"])
    # No element per cell: the map holds OpenSeadragon's few nodes and one overlay canvas.
    assert page.evaluate("document.querySelectorAll('#map *').length") < 60
    assert page.evaluate("document.querySelectorAll('#map canvas.cell-overlay').length") == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-map.png"))
    perf = page.evaluate("window.cvizPerf")
    print(f"\nviewer load (fixture, ms since navigation): items {perf['itemsLoaded']:.0f}, "
          f"first tile {perf['firstTileLoaded']:.0f}, first tiles drawn {perf['firstTilesDrawn']:.0f}, "
          f"drawer {perf['drawer']}")


def test_the_test_handle_exists_only_under_test_and_is_read_only(browser, page, base_url, fixture_collection):
    # An ordinary visit (no test switch): the map works, and there is no window.cviz or cvizPerf.
    context = browser.new_context(viewport=VIEWPORT, bypass_csp=True)
    pg = context.new_page()
    try:
        pg.goto(f"{base_url}/?c={fixture_collection.name}#q=Portrait")
        pg.wait_for_function("/matches$/.test(document.getElementById('match-count').textContent)", timeout=15000)
        assert pg.evaluate("[typeof window.cviz, typeof window.cvizPerf]") == ["undefined", "undefined"]
    finally:
        context.close()
    # Under test: a frozen handle whose answers are copies, so a test cannot change the page.
    open_map(page, base_url, fixture_collection.name, "#q=Portrait")
    n = page.evaluate("window.cviz.matchCount()")
    assert 0 < n < len(fixture_collection.items)
    assert page.evaluate("""() => {
        'use strict';
        const h = window.cviz, failed = [];
        const attempt = (f) => { try { f(); failed.push(false); } catch (e) { failed.push(e instanceof TypeError); } };
        attempt(() => { h.matchCount = () => 0; });
        attempt(() => { window.cviz = {}; });
        attempt(() => { h.state.query = ''; });
        h.items.cellToItem.fill(-1);
        h.layout().itemToCell.fill(0);
        return [Object.isFrozen(h), ...failed];
    }""") == [True, True, True, True]
    assert page.evaluate("window.cviz.state.query") == "Portrait"
    assert page.evaluate("window.cviz.matchCount()") == n
    assert page.evaluate("window.cviz.items.cellToItem.some((i) => i !== -1)")
    assert page.evaluate("window.cviz.layout().itemToCell[1]") == fixture_collection.items[1]["cell"]


def test_pretty_collection_path_serves_the_same_page(page, base_url, fixture_collection):
    page.goto(f"{base_url}/c/{fixture_collection.name}/")
    page.wait_for_function("window.cviz && window.cvizPerf.firstTilesDrawn !== undefined", timeout=15000)
    assert page.locator("#collection-title").inner_text() == fixture_collection.name


def test_hover_shows_title_and_date(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    it = fixture_collection.items[23]
    hover(page, it["cell"])
    tip = page.locator("#tooltip")
    tip.wait_for(state="visible")
    assert page.locator("#tooltip-title").inner_text() == it["title"]
    assert page.locator("#tooltip-date").inner_text() == it["date"]
    # Another cell: the tooltip follows.
    other = fixture_collection.items[24]
    hover(page, other["cell"])
    assert page.locator("#tooltip-title").inner_text() == other["title"]
    lat = page.evaluate("window.cvizPerf.hoverLatencies")
    assert lat and max(lat) < 250, lat  # generous: headless software rendering


def test_click_opens_panel_with_title_and_link(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    it = fixture_collection.items[30]
    x, y = cell_center(page, it["cell"])
    page.mouse.click(x, y)
    page.locator("#panel").wait_for(state="visible")
    assert page.locator("#panel-title").inner_text() == it["title"]
    assert page.locator("#panel-date").inner_text() == it["date"]
    fields = page.locator("#panel-fields").inner_text()
    assert it["artist"] in fields
    link = page.locator("#panel-link-row a")
    assert link.get_attribute("href") == it["url"]
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel").split()
    page.wait_for_function("document.getElementById('panel-image').naturalWidth > 0")
    assert page.url.endswith("#item=" + quote(it["id"], safe=""))

    # Arrow keys walk to the neighbouring item; Escape closes.
    page.keyboard.press("ArrowRight")
    nxt = next(o for o in fixture_collection.items if o["cell"] > it["cell"])
    assert page.locator("#panel-title").inner_text() == nxt["title"]
    page.keyboard.press("ArrowLeft")
    assert page.locator("#panel-title").inner_text() == it["title"]
    page.keyboard.press("Escape")
    page.locator("#panel").wait_for(state="hidden")
    assert "#item=" not in page.url


def test_search_narrows_matches_and_steps_through_them(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    count = page.locator("#match-count")
    assert count.inner_text() == "96 items"
    page.locator("#search").fill("seascape")
    expected = [it for it in fixture_collection.items if "seascape" in it["title"].lower()]
    assert count.inner_text() == f"{len(expected)} matches"
    assert page.evaluate("window.cviz.matchCount()") == len(expected)
    page.locator("#search").fill("seascape no. 13")
    assert count.inner_text() == "1 match"
    page.locator("#search").fill("seascape")
    page.locator("#search").press("Enter")
    assert count.inner_text() == f"1 / {len(expected)} matches"
    first = min(expected, key=lambda it: it["cell"])
    assert page.locator("#panel-title").inner_text() == first["title"]
    page.locator("#next-match").click()
    assert count.inner_text() == f"2 / {len(expected)} matches"
    # Non-matching cells are dimmed, matching ones are not.
    dimmed = dimmed_cells(page)
    assert set(dimmed) == {it["cell"] for it in fixture_collection.items if it not in expected}


def test_date_range_brush_dims_cells_outside(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    inside = next(it for it in fixture_collection.items if it["year"] and 1800 <= it["year"] <= 1850)
    outside = next(it for it in fixture_collection.items if it["year"] and it["year"] > 1950)
    before = pixel(page, *cell_center(page, outside["cell"]))

    box = page.locator("#year-histogram").bounding_box()
    frac = lambda year: (year - 1700) / 300  # the fixture's years span 1700..1999 in 5-year bins
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * frac(1800) + 1, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * frac(1900) - 1, y, steps=5)
    page.mouse.up()
    lo, hi = page.evaluate("window.cviz.state.yearRange")
    assert 1795 <= lo <= 1805 and 1895 <= hi <= 1905, (lo, hi)
    assert page.locator("#year-summary").inner_text() != "all years"

    dimmed = set(dimmed_cells(page))
    expected = {it["cell"] for it in fixture_collection.items if not (it["year"] and lo <= it["year"] <= hi)}
    assert dimmed == expected
    assert inside["cell"] not in dimmed and outside["cell"] in dimmed
    page.wait_for_timeout(100)
    after = pixel(page, *cell_center(page, outside["cell"]))
    assert sum(after) < sum(before) * 0.5, (before, after)  # visibly darker
    assert close_to(pixel(page, *cell_center(page, inside["cell"])), inside["rgb"])

    # Category filter combines with it (AND), and the clear button resets both.
    page.locator("#category-filters label", has_text="Asian Art").locator("input").check()
    both = {it["cell"] for it in fixture_collection.items
            if it["year"] and lo <= it["year"] <= hi and "Asian Art" in it["department"].split("|")}
    assert page.evaluate("window.cviz.matchCount()") == len(both)
    page.locator("#clear-all").click()
    assert page.evaluate("window.cviz.matchCount()") == 96
    assert page.locator("#match-count").inner_text() == "96 items"


def test_item_deep_link_opens_its_panel(page, base_url, fixture_collection):
    it = next(o for o in fixture_collection.items if o["id"] == ODD_ID)
    open_map(page, base_url, fixture_collection.name, "#item=" + quote(ODD_ID, safe=""))
    page.locator("#panel").wait_for(state="visible")
    assert page.locator("#panel-title").inner_text() == it["title"]
    assert ODD_ID in page.locator("#panel-fields").inner_text()
    # Zoomed in on it: the cell is big on screen and under the selection outline.
    settle(page)
    scale = page.evaluate("() => { const a = window.cviz.cellCenterOnPage(0), b = window.cviz.cellCenterOnPage(1); return b.x - a.x; }")
    assert scale > 60, scale


def test_hostile_title_renders_as_text(page, base_url, fixture_collection):
    it = fixture_collection.item_by_title(HOSTILE_TITLE)
    open_map(page, base_url, fixture_collection.name, "#item=" + quote(it["id"], safe=""))
    page.locator("#panel").wait_for(state="visible")
    assert page.locator("#panel-title").inner_text() == HOSTILE_TITLE
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0
    settle(page)
    hover(page, it["cell"])
    page.locator("#tooltip").wait_for(state="visible")
    assert page.locator("#tooltip-title").inner_text() == HOSTILE_TITLE
    page.locator("#search").fill("onerror")
    assert page.locator("#match-count").inner_text() == "1 match"
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_javascript_url_is_not_a_link(page, base_url, fixture_collection):
    it = next(o for o in fixture_collection.items if o["url"] == JAVASCRIPT_URL)
    open_map(page, base_url, fixture_collection.name, "#item=" + quote(it["id"], safe=""))
    page.locator("#panel").wait_for(state="visible")
    row = page.locator("#panel-link-row")
    assert row.locator("a").count() == 0
    assert JAVASCRIPT_URL in row.inner_text()
    assert page.evaluate("document.querySelectorAll('a[href^=\"javascript\" i]').length") == 0


def test_unknown_collection_says_so(page, base_url):
    page.goto(f"{base_url}/?c=no-such-collection")
    page.locator("#status.error").wait_for()
    assert "404" in page.locator("#status").inner_text()
    assert "no-such-collection" in page.locator("#status").inner_text()
    page.errors[:] = [e for e in page.errors if "404" not in e]


def test_empty_storage_root_says_nothing_is_published(browser, tmp_path):
    proc, base = start_viewer_server(tmp_path)  # no published/ at all: a fresh machine
    context = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    pg = context.new_page()
    try:
        pg.goto(base + "/")
        pg.locator("#collection-list .empty").wait_for()
        assert "No published collections yet" in pg.locator("#collection-list").inner_text()
        assert pg.locator("#status").is_hidden()
    finally:
        context.close()
        stop(proc)


def test_works_from_plain_static_hosting(browser, fixture_collection, tmp_path):
    """`npm run build` output in a sub-folder of a dumb static server (Python's), data beside it."""
    import functools
    import http.server
    import threading

    node = shutil.which("node")
    if node is None or not (VIEWER / "node_modules" / "openseadragon").is_dir():
        missing_prerequisite("node or viewer/node_modules missing: run `npm ci --prefix viewer` first")
    site = tmp_path / "site"
    subprocess.run([node, "scripts/build.js", str(site / "maps")], cwd=VIEWER, check=True, capture_output=True)
    shutil.copytree(fixture_collection.published, site / "maps" / "data")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    context = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    pg = context.new_page()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/maps/"
        pg.goto(base)
        pg.locator("#collection-list a.card").first.click()
        pg.wait_for_function("window.cviz && window.cvizPerf.firstTilesDrawn !== undefined", timeout=15000)
        assert pg.url == f"{base}?c={fixture_collection.name}"
        it = fixture_collection.items[40]
        pg.goto(f"{base}?c={fixture_collection.name}#item={quote(it['id'], safe='')}")
        pg.locator("#panel").wait_for(state="visible")
        assert pg.locator("#panel-title").inner_text() == it["title"]
        pg.wait_for_function("document.getElementById('panel-image').naturalWidth > 0")
    finally:
        context.close()
        httpd.shutdown()


# ---------------------------------------------------------------- the real pipeline's output

@pytest.mark.slow
def test_real_met_sample_map(browser, met_sample_root):
    """The viewer on what `cviz` really publishes for the built-in met-sample collection."""
    pub = met_sample_root / "published"
    pointer = json.loads((pub / "met-sample" / "current.json").read_text())
    items = json.loads((pub / "met-sample" / pointer["items"]).read_text())
    f = items["fields"]
    proc, base = start_viewer_server(met_sample_root)
    context = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    pg = context.new_page()
    tiles, errors = [], []
    pg.on("response", lambda r: "/map_files/" in r.url and tiles.append(r.status))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(base + "/")
        card = pg.locator("#collection-list a.card", has_text="met-sample")
        card.wait_for()
        assert f"{items['count']} items" in card.inner_text()
        card.click()
        pg.wait_for_function("window.cviz && window.cvizPerf.firstTilesDrawn !== undefined", timeout=20000)
        settle(pg)
        assert tiles and set(tiles) == {200}
        assert pg.locator("#match-count").inner_text() == f"{items['count']} items"

        # Hover and click the item in the middle of the list: its own title and record.
        i = items["count"] // 2
        title = f["title"][i] or f["id"][i]
        x, y = cell_center(pg, f["cell"][i])
        r, g, b = pixel(pg, x, y)
        assert max(r, g, b) - min(r, g, b) > 3 or r + g + b > 60, "blank map where an item should be"
        pg.mouse.move(x - 2, y - 2)
        pg.mouse.move(x, y)
        pg.locator("#tooltip").wait_for(state="visible")
        assert pg.locator("#tooltip-title").inner_text() == title.strip()
        pg.mouse.click(x, y)
        pg.locator("#panel").wait_for(state="visible")
        assert pg.locator("#panel-title").inner_text() == title.strip()
        if f.get("url", [""])[i].startswith(("http://", "https://")):
            assert pg.locator("#panel-link-row a").get_attribute("href") == f["url"][i].strip()
        pg.wait_for_function("document.getElementById('panel-image').naturalWidth > 0", timeout=10000)
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "viewer-met-sample.png"))
        assert errors == []
    finally:
        context.close()
        stop(proc)
