"""Names a curator can trust, and near-duplicates, in Debian chromium: no two visible region
labels with the same text, no label under the filters, the item panel or the zoom buttons; the
item panel's "n near-duplicates" with the group; the "has near-duplicates" filter (in the address).
Same server, fixture and browser setup as test_viewer_browser.py.

Screenshot: test-artifacts/viewer-names.png (whole map with region names).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.test_viewer_browser import (  # noqa: F401  (fixtures are used by name)
    ARTIFACTS, base_url, browser, dimmed_cells, fixture_collection, open_map, page, settle,
)
from tests.viewer_fixture import DUPLICATE_GROUPS

pytestmark = pytest.mark.browser


def labels(page) -> list[dict]:
    return page.evaluate("window.cviz.regionLabels()")


def label_boxes(page) -> list[dict]:
    return page.evaluate("""[...document.querySelectorAll('#region-labels .region-label')]
        .filter((n) => !n.hidden).map((n) => { const r = n.getBoundingClientRect();
          return {name: n.textContent, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; })""")


def rect(page, selector: str) -> dict | None:
    return page.evaluate(f"""(() => {{ const n = document.querySelector({json.dumps(selector)});
        if (!n || n.hidden) return null; const r = n.getBoundingClientRect();
        return r.width && r.height ? {{x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}} : null; }})()""")


def overlaps(a: dict, b: dict) -> bool:
    return a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and b["y0"] < a["y1"]


def test_visible_region_labels_never_repeat_a_text(page, base_url, fixture_collection):
    """Even from a regions.json (an older one) that names two regions of a scale alike."""
    doc = json.loads((fixture_collection.published / fixture_collection.name / fixture_collection.version
                      / "regions.json").read_text())
    for s in doc["scales"]:  # every region of every scale called the same
        for r in s["regions"]:
            r["name"] = "Harbour"
    page.route("**/regions.json", lambda route: route.fulfill(status=200, content_type="application/json",
                                                                body=json.dumps(doc)))
    open_map(page, base_url, fixture_collection.name)
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)
    for zoom in (0.45, 1.0, 1.3, 2.0):
        page.evaluate(f"window.cviz.viewer.viewport.zoomTo({zoom}, null, true)")
        page.wait_for_timeout(250)
        names = [l["name"] for l in labels(page)]
        assert len(names) == len(set(names)), (zoom, names)


def test_labels_stay_clear_of_the_controls_and_the_panel(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)
    settle(page)
    # Pan so that names would sit where the zoom buttons are (bottom left of the map).
    for pan in ((0.3, -0.25), (0.0, 0.0), (-0.3, 0.25)):
        page.evaluate(f"window.cviz.viewer.viewport.panBy(new OpenSeadragon.Point({pan[0]}, {pan[1]}), true)")
        page.wait_for_timeout(250)
        controls, filters = rect(page, ".map-controls"), rect(page, "#filters")
        for box in label_boxes(page):
            assert not overlaps(box, controls), box
            assert filters is None or not overlaps(box, filters), box
    it = fixture_collection.items[0]
    page.goto(f"{base_url}/?c={fixture_collection.name}#item={quote(it['id'], safe='')}")
    page.locator("#panel:not([hidden])").wait_for()
    page.evaluate("window.cviz.viewer.viewport.goHome(true)")
    page.wait_for_timeout(400)
    panel = rect(page, "#panel")
    assert panel and label_boxes(page)
    for box in label_boxes(page):
        assert not overlaps(box, panel), box


def test_whole_map_with_names_screenshot(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)
    settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-names.png"))
    names = [l["name"] for l in labels(page)]
    assert names and len(names) == len(set(names))


def test_the_panel_lists_an_items_near_duplicates(page, base_url, fixture_collection):
    group = DUPLICATE_GROUPS[1]
    it = fixture_collection.items[group[0]]
    page.goto(f"{base_url}/?c={fixture_collection.name}#item={quote(it['id'], safe='')}")
    page.locator("#panel-duplicates:not([hidden])").wait_for()
    assert page.locator("#duplicates-heading").text_content() == f"{len(group) - 1} near-duplicates"
    shown = [int(x) for x in page.locator("#duplicates-list button").evaluate_all("(bs) => bs.map((b) => b.dataset.item)")]
    assert shown == group[1:]
    page.locator("#duplicates-list button").first.click()
    page.wait_for_function(f"window.cviz.state && location.hash.includes({json.dumps(quote(fixture_collection.items[group[1]]['id'], safe=''))})")
    # An item without near-duplicates has no such section.
    alone = next(i for i in range(len(fixture_collection.items)) if all(i not in g for g in DUPLICATE_GROUPS))
    page.goto(f"{base_url}/?c={fixture_collection.name}#item={quote(fixture_collection.items[alone]['id'], safe='')}")
    page.locator("#panel:not([hidden])").wait_for()
    page.wait_for_timeout(200)
    assert page.locator("#panel-duplicates").is_hidden()


def test_the_has_near_duplicates_filter(page, base_url, fixture_collection):
    members = sorted(i for g in DUPLICATE_GROUPS for i in g)
    open_map(page, base_url, fixture_collection.name)
    box = page.locator("#duplicates-only")
    box.wait_for()
    assert page.locator("#duplicates-count").text_content().startswith(f"{len(members)} items in {len(DUPLICATE_GROUPS)} groups")
    box.check()
    page.wait_for_function(f"window.cviz.matchCount() === {len(members)}")
    assert set(dimmed_cells(page)) == {it["cell"] for it in fixture_collection.items if it["index"] not in members}
    assert "dups=1" in page.url
    # The address carries it: a fresh visit applies it.
    page.goto(page.url)
    page.wait_for_function(f"window.cviz && window.cviz.matchCount() === {len(members)}")
    assert page.locator("#duplicates-only").is_checked()
    page.locator("#duplicates-only").uncheck()
    page.wait_for_function(f"window.cviz.matchCount() === {len(fixture_collection.items)}")
    assert "dups=1" not in page.url


def test_an_unnamed_region_shows_its_count_only(page, base_url, fixture_collection):
    """A cluster no term names (regions.json ``unnamed``) shows "N items", muted, not a button, and
    is not a name (the page's names and a click ignore it)."""
    doc = json.loads((fixture_collection.published / fixture_collection.name / fixture_collection.version
                      / "regions.json").read_text())
    coarse = doc["scales"][0]
    coarse["unnamed"] = [{"count": 1234, "x": 2.0, "y": 7.0, "bbox": [0, 6, 4, 8]}]
    page.route("**/regions.json", lambda route: route.fulfill(status=200, content_type="application/json",
                                                                body=json.dumps(doc)))
    open_map(page, base_url, fixture_collection.name)
    page.wait_for_function("window.cviz.regionLabels().length > 0", timeout=5000)
    page.evaluate("window.cviz.viewer.viewport.zoomTo(0.45, null, true)")
    page.wait_for_timeout(300)
    count = page.locator("#region-labels .region-label.unnamed")
    assert count.count() == 1 and count.is_visible()
    assert count.text_content() == "1,234 items"
    assert count.evaluate("(n) => n.tagName") == "SPAN"
    assert "1,234 items" not in [l["name"] for l in labels(page)]


def test_plus_and_minus_keys_zoom_a_step(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name)
    settle(page)
    page.locator("#map").focus()
    zoom = lambda: page.evaluate("window.cviz.viewer.viewport.getZoom()")  # the target zoom  # noqa: E731
    z0 = zoom()
    page.keyboard.press("+")
    assert zoom() == pytest.approx(z0 * 1.6, rel=1e-3)
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert zoom() == pytest.approx(z0 / 1.6, rel=1e-3)
    page.keyboard.press("=")  # the same key unshifted
    assert zoom() == pytest.approx(z0, rel=1e-3)
    page.locator("#search").focus()
    page.keyboard.press("+")  # typed, not a zoom
    assert page.locator("#search").input_value() == "+"
    assert zoom() == pytest.approx(z0, rel=1e-3)


def test_a_copied_address_with_years_fills_the_from_and_to_boxes(page, base_url, fixture_collection):
    open_map(page, base_url, fixture_collection.name, "#y=1800~1900")
    page.wait_for_function("window.cviz && window.cviz.state.yearRange !== null")
    assert page.locator("#year-from").input_value() == "1800"
    assert page.locator("#year-to").input_value() == "1900"
    in_range = sum(1 for it in fixture_collection.items if it.get("year") is not None and 1800 <= it["year"] <= 1900)
    assert page.evaluate("window.cviz.matchCount()") == in_range
