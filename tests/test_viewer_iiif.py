"""IIIF in the viewer, in Debian chromium: a selection exported as a IIIF Presentation 3 manifest
(checked by the iiif-prezi3 models and the specification's MUSTs, tests/iiif_validate.py), whose
canvases' image services open in OpenSeadragon's IIIF tile source with their tiles loading.

The collection is the viewer fixture (tests/viewer_fixture.py) with its items.json given the IIIF
columns cviz writes for collections that came from IIIF (iiif_service, iiif_service_type,
iiif_service_profile, iiif_width, iiif_height), pointing at level-0 static images on the loopback
IIIF server of tests/iiif_server.py (one Image API 3.0 service, one 2.1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.iiif_server import IIIFServer, add_level0_image
from tests.iiif_validate import prezi3_round_trip, spec_problems
from tests.test_viewer_browser import ARTIFACTS, browser, open_map, settle, start_viewer_server, stop  # noqa: F401
from tests.viewer_fixture import build_published_collection, new_test_context

pytestmark = pytest.mark.browser

IIIF_COLUMNS = ("iiif_service", "iiif_service_type", "iiif_service_profile", "iiif_width", "iiif_height")


def _source_image(w: int, h: int, rgb: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (w, h), rgb)
    ImageDraw.Draw(img).rectangle([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(250, 250, 250))
    return img


@pytest.fixture(scope="module")
def iiif_host(tmp_path_factory):
    root = tmp_path_factory.mktemp("iiif-static")
    with IIIFServer(root) as server:
        server.services = {
            "v3": add_level0_image(root, "paint3", _source_image(900, 600, (200, 40, 40)), server.url, version=3),
            "v2": add_level0_image(root, "paint2", _source_image(400, 700, (40, 40, 200)), server.url, version=2),
        }
        yield server


def add_iiif_columns(items_json: Path, services: dict[str, str]) -> list[dict]:
    """Give every other item a IIIF image service (alternately 3.0 and 2.1); the others none."""
    doc = json.loads(items_json.read_text(encoding="utf-8"))
    n = doc["count"]
    values: dict[str, list] = {c: [""] * n for c in IIIF_COLUMNS}
    given = []
    for i in range(0, n, 2):
        v3 = i % 4 == 0
        row = {"iiif_service": services["v3" if v3 else "v2"], "iiif_service_type": "ImageService3" if v3 else "ImageService2",
               "iiif_service_profile": "level0", "iiif_width": "900" if v3 else "400", "iiif_height": "600" if v3 else "700"}
        for c in IIIF_COLUMNS:
            values[c][i] = row[c]
        given.append({"index": i, **row})
    doc["fields"]["image"][n - 1] = ""  # the last item: no published image and no service, nothing to paint
    doc["columns"] = [*doc["columns"], *IIIF_COLUMNS]
    doc["values"].update(values)
    items_json.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return given


@pytest.fixture(scope="module")
def iiif_collection(tmp_path_factory, iiif_host):
    fc = build_published_collection(tmp_path_factory.mktemp("viewer-iiif-storage"))
    fc.iiif = add_iiif_columns(fc.published / fc.name / fc.version / "items.json", iiif_host.services)
    return fc


@pytest.fixture(scope="module")
def viewer_url(iiif_collection):
    proc, url = start_viewer_server(iiif_collection.storage_root)
    yield url
    stop(proc)


@pytest.fixture
def page(browser):  # noqa: F811
    # bypass_csp: the page's own CSP keeps other origins out; this test opens a museum's image
    # service from the page on purpose, the way a IIIF viewer given the exported manifest would.
    context = new_test_context(browser, viewport={"width": 1280, "height": 800}, bypass_csp=True)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()
    assert pg.errors == [], pg.errors


def _grid_point(page, col: float, row: float) -> tuple[float, float]:
    a = page.evaluate("window.cviz.cellCenterOnPage(0)")
    b = page.evaluate(f"window.cviz.cellCenterOnPage({1 + page.evaluate('window.cviz.items.grid.cols')})")
    w, h = b["x"] - a["x"], b["y"] - a["y"]
    return a["x"] + (col - 0.5) * w, a["y"] + (row - 0.5) * h


def _select_rectangle(page, c0: float, r0: float, c1: float, r1: float) -> None:
    page.locator("#select-rect").click()
    x0, y0 = _grid_point(page, c0, r0)
    x1, y1 = _grid_point(page, c1, r1)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()


# OpenSeadragon opened on a IIIF info.json in a fresh element on the page; resolves with the URLs
# of the first tiles it loaded (the canvas drawer: it needs the images CORS-clean, as WebGL does).
OPEN_IN_OSD = """async (info) => {
  const el = document.createElement('div');
  el.style.cssText = 'position:fixed;left:0;top:0;width:320px;height:240px;z-index:99';
  document.body.append(el);
  const v = window.OpenSeadragon({ element: el, tileSources: info, crossOriginPolicy: 'Anonymous',
    drawer: 'canvas', showNavigator: false, showNavigationControl: false });
  try {
    return await new Promise((resolve, reject) => {
      const urls = [];
      v.addHandler('tile-loaded', (e) => { urls.push(e.tile.getUrl()); if (urls.length >= 1) resolve(urls); });
      v.addHandler('tile-load-failed', (e) => reject(new Error('tile failed: ' + e.message)));
      v.addHandler('open-failed', (e) => reject(new Error('open failed: ' + e.message)));
      setTimeout(() => reject(new Error('no tile within 10 s')), 10000);
    });
  } finally { v.destroy(); el.remove(); }
}"""


def test_a_selection_exports_as_a_iiif_manifest_whose_image_services_open_in_deep_zoom(page, viewer_url, iiif_collection,
                                                                                        iiif_host):
    fc = iiif_collection
    open_map(page, viewer_url, fc.name)
    settle(page)
    _select_rectangle(page, 1.3, 1.3, 4.2, 3.2)
    chosen = sorted((it for it in fc.items if 1 <= it["col"] <= 3 and 1 <= it["row"] <= 2), key=lambda it: it["cell"])
    assert page.evaluate("window.cviz.matchCount()") == len(chosen) > 3
    with page.expect_download() as dl:
        page.locator("#export-iiif").click()
    assert dl.value.suggested_filename == f"{fc.name}-selection.iiif.json"
    manifest = json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))

    assert spec_problems(manifest) == []
    assert prezi3_round_trip(manifest) == manifest, "iiif-prezi3 read every property as it was written"
    items_url = f"{viewer_url}/data/{fc.name}/{fc.version}/items.json"
    assert manifest["id"].endswith(f"/{fc.version}/{fc.name}-selection.iiif.json")
    canvases = manifest["items"]
    assert [c["label"]["none"][0] for c in canvases] == [it["title"] for it in chosen]
    by_index = {g["index"]: g for g in fc.iiif}
    services = []
    for c, it in zip(canvases, chosen):
        body = c["items"][0]["items"][0]["body"]
        assert body["id"].endswith(".jpg") and body["id"].startswith(viewer_url), body["id"]
        given = by_index.get(it["index"])
        if given is None:
            assert "service" not in body and (c["width"], c["height"]) == (fc.cell, fc.cell)
            continue
        assert (c["width"], c["height"]) == (int(given["iiif_width"]), int(given["iiif_height"]))
        (service,) = body["service"]
        services.append(service)
        assert service.get("id", service.get("@id")) == given["iiif_service"]
    assert {s.get("type", s.get("@type")) for s in services} == {"ImageService3", "ImageService2"}, items_url

    # Each kind of service a canvas names opens in OpenSeadragon's IIIF tile source, tiles loading.
    for service in {s.get("id", s.get("@id")): s for s in services}.values():
        sid = service.get("id", service.get("@id"))
        iiif_host.take_log()
        urls = page.evaluate(OPEN_IN_OSD, f"{sid}/info.json")
        assert urls and all(u.startswith(sid + "/full/") and u.endswith("/0/default.jpg") for u in urls), urls
        served = [(p, status) for p, _, status in iiif_host.take_log()]
        assert (sid.removeprefix(iiif_host.url) + "/info.json", 200) in served
        assert any(p.startswith(sid.removeprefix(iiif_host.url) + "/full/") and status == 200 for p, status in served), served


def _open_item(page, fc, index: int) -> None:
    settle(page)  # opening an item may move the map to keep it beside the panel
    p = page.evaluate("(c) => window.cviz.cellCenterOnPage(c)", fc.items[index]["cell"])
    page.mouse.click(p["x"], p["y"])
    page.wait_for_function("(t) => document.getElementById('panel-title').textContent === t", arg=fc.items[index]["title"])


def test_the_panel_opens_an_items_iiif_image_service_in_deep_zoom(page, viewer_url, iiif_collection, iiif_host):
    fc = iiif_collection
    open_map(page, viewer_url, fc.name)
    settle(page)
    v3, v2 = iiif_host.services["v3"], iiif_host.services["v2"]
    zoom = page.locator("#panel-zoom")

    # A service that cannot be opened: the 512 px copy stays, nothing covers it.
    iiif_host.answer["/iiif/paint2"] = 404
    _open_item(page, fc, 2)
    page.wait_for_function("document.getElementById('panel-image').naturalWidth > 0")
    page.wait_for_function("!document.getElementById('panel-zoom')", timeout=10000)
    assert ("/iiif/paint2/info.json", False, 404) in iiif_host.take_log()
    del iiif_host.answer["/iiif/paint2"]

    # Item 4 has a 3.0 service: deep zoom over the copy, tiles from the museum's server.
    _open_item(page, fc, 4)
    page.wait_for_function("(() => { const z = document.getElementById('panel-zoom');"
                           " return z && z.dataset.state === 'open' && Number(z.dataset.tiles) > 0; })()", timeout=10000)
    assert zoom.get_attribute("data-service") == v3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-iiif-zoom.png"))
    box, img = zoom.bounding_box(), page.locator("#panel-image").bounding_box()
    assert box["width"] >= img["width"] - 1 and box["height"] >= img["height"] - 1, (box, img)
    served = iiif_host.take_log()
    assert ("/iiif/paint3/info.json", False, 200) in served
    assert any(p.startswith("/iiif/paint3/full/") and s == 200 for p, _, s in served), served

    # An item without a service shows its copy only; one with a 2.1 service, now answering, zooms.
    _open_item(page, fc, 1)
    assert zoom.count() == 0 and page.locator("#panel-image").is_visible()
    _open_item(page, fc, 2)
    page.wait_for_function("document.getElementById('panel-zoom')?.dataset.state === 'open'", timeout=10000)
    assert zoom.get_attribute("data-service") == v2

    # Closing the panel destroys the zoom view.
    page.keyboard.press("Escape")
    page.locator("#panel").wait_for(state="hidden")
    assert zoom.count() == 0


def test_an_item_with_nothing_to_paint_fails_the_iiif_export_with_a_message(page, viewer_url, iiif_collection):
    fc = iiif_collection
    last = fc.items[-1]
    assert last["index"] % 2 == 1, "the fixture's last item has no IIIF service"
    open_map(page, viewer_url, fc.name)
    page.locator("#search").fill(last["title"])
    page.wait_for_function("window.cviz.matchCount() === 1")
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    page.locator("#export-iiif").click()
    status = page.locator("#status")
    status.wait_for(state="visible")
    assert status.inner_text() == f"Export failed: item {last['id']} has no image URL to paint"
    page.wait_for_timeout(300)
    assert downloads == []
