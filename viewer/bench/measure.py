"""Measure the viewer in headless chromium: load to first tiles drawn, hover to tooltip,
search/filter recompute, frame times while panning, "more like this" latency after a click,
the cost of placing region labels per frame, and the gzipped size of the extra data
(regions.json, vocabulary.json, neighbours.bin). With --layouts (issue 16): the time a layout
switch takes (layout.json fetched and checked, pyramid opened, view placed), hover on the
timeline, and the cost of placing the timeline's axis labels per frame while zooming.

    .venv/bin/python viewer/bench/measure.py                  # 13,000-item synthetic collection
    .venv/bin/python viewer/bench/measure.py --items 96       # the small test fixture
    .venv/bin/python viewer/bench/measure.py --storage cviz_data --name met-sample   # real data
    .venv/bin/python viewer/bench/measure.py --layouts        # also the timeline and category layouts

Needs `npm ci --prefix viewer` and /usr/bin/chromium. Timings come from the page itself
(performance.now(), ms since navigation start; hover latency = pointer event timestamp to
the next animation frame after the tooltip and outline were updated). Each run uses a fresh
browser context (cold HTTP cache). Results: printed, and test-artifacts/viewer-bench.json; a
screenshot of the whole map (with its region names): test-artifacts/viewer-bench.png.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.test_viewer_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, start_viewer_server, stop  # noqa: E402
from tests.viewer_fixture import build_published_collection, new_test_context  # noqa: E402


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))] if v else float("nan")


FRAME_TIMES = """() => new Promise((resolve) => {
  const ts = [];
  function f(t) { ts.push(t); if (ts.length < 61) requestAnimationFrame(f); else resolve(ts.slice(1).map((x, i) => x - ts[i])); }
  requestAnimationFrame(f);
})"""


def layout_run(page) -> dict:
    """Switch to the timeline, hover and zoom there, then the category layout and back (ms from the page)."""
    out = {"switch": {}, "hover": [], "labels": []}
    page.keyboard.press("Escape")
    page.evaluate("window.cviz.viewer.viewport.goHome(true)")
    for name in ("timeline", "category", "similarity", "timeline"):
        page.evaluate("window.cvizPerf.layoutSwitchMs = undefined")
        page.locator(f"#layout-switch button[data-layout='{name}']").click()
        page.wait_for_function("(n) => window.cviz.layout().name === n && window.cvizPerf.layoutSwitchMs !== undefined",
                               arg=name, timeout=60000)
        out["switch"].setdefault(name, []).append(page.evaluate("window.cvizPerf.layoutSwitchMs"))
        page.wait_for_timeout(400)
    box = page.locator("#map").bounding_box()
    page.evaluate("window.cvizPerf.hoverLatencies.length = 0")
    for k in range(40):
        page.mouse.move(box["x"] + box["width"] * (0.1 + 0.8 * ((k * 37) % 40) / 40),
                        box["y"] + box["height"] * (0.1 + 0.8 * ((k * 13) % 40) / 40))
        page.wait_for_timeout(30)
    out["hover"] = page.evaluate("window.cvizPerf.hoverLatencies.slice()")
    page.evaluate("window.cvizPerf.layoutLabelFrameMs = []")
    for z in (1.0, 1.5, 2.2, 3.3, 5.0, 8.0, 5.0, 3.3, 2.2, 1.5, 1.0):
        page.evaluate(f"window.cviz.viewer.viewport.zoomTo({z})")
        page.wait_for_timeout(120)
    out["labels"] = page.evaluate("(window.cvizPerf.layoutLabelFrameMs || []).slice()")
    return out


def one_run(browser, url: str, drawer: str | None, shot: Path | None = None, layouts: bool = False) -> dict:
    ctx = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    page = ctx.new_page()
    page.goto(url + (f"&drawer={drawer}" if drawer else ""))
    page.wait_for_function("(window.cvizPerf && window.cvizPerf.firstTilesDrawn !== undefined)"
                           " || document.querySelector('#status.error:not([hidden])')", timeout=60000)
    if page.locator("#status.error").is_visible():
        raise SystemExit(f"the viewer could not load {url}: {page.locator('#status').inner_text()}")
    try:
        page.wait_for_function("window.cvizPerf.fullyLoaded !== undefined", timeout=15000)
    except Exception:
        pass
    perf = page.evaluate("({...window.cvizPerf})")
    page.wait_for_timeout(500)

    # Hover: walk the pointer over 60 different cells of the map area.
    box = page.locator("#map").bounding_box()
    page.evaluate("window.cvizPerf.hoverLatencies.length = 0")
    for k in range(60):
        x = box["x"] + box["width"] * (0.1 + 0.8 * ((k * 37) % 60) / 60)
        y = box["y"] + box["height"] * (0.1 + 0.8 * ((k * 13) % 60) / 60)
        page.mouse.move(x, y)
        page.wait_for_timeout(30)
    page.wait_for_timeout(100)
    hover = page.evaluate("window.cvizPerf.hoverLatencies.slice()")

    # Search: one keystroke's recompute (mask, counts, histogram, overlay).
    refilter = []
    for q in ["l", "la", "lan", "land", "landscape", ""]:
        page.locator("#search").fill(q)
        refilter.append(page.evaluate("window.cvizPerf.refilterMs"))

    # Frames while panning with a filter active (dimming drawn every frame).
    page.locator("#search").fill("portrait")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    frames_promise = page.evaluate_handle(FRAME_TIMES)
    for k in range(30):
        page.mouse.move(box["x"] + box["width"] / 2 + 8 * math.sin(k / 3) * 10, box["y"] + box["height"] / 2 + k * 3)
        page.wait_for_timeout(16)
    page.mouse.up()
    frames = frames_promise.json_value()

    # Region labels: what placing them costs per frame (measured inside update()), while zooming.
    page.locator("#search").fill("")
    page.evaluate("window.cvizPerf.labelFrameMs = []")
    for z in (1.0, 1.5, 2.2, 3.3, 5.0, 3.3, 2.2, 1.5, 1.0):
        page.evaluate(f"window.cviz.viewer.viewport.zoomTo({z})")
        page.wait_for_timeout(120)
    labels = page.evaluate("(window.cvizPerf.labelFrameMs || []).slice()")

    # More like this: click a cell, time until the strip of 12 is in the page (and its images decoded).
    similar = []
    page.evaluate("window.cviz.viewer.viewport.goHome(true)")
    page.wait_for_timeout(300)
    for k in range(5):
        cell = page.evaluate(f"window.cviz.items.itemToCell[Math.floor(window.cviz.items.count * {0.15 + 0.17 * k})]")
        page.evaluate(f"window.cviz.viewer.viewport.goHome(true)")
        page.wait_for_timeout(200)
        p = page.evaluate(f"window.cviz.cellCenterOnPage({cell})")
        page.evaluate("window.cvizPerf.similarShownMs = undefined; window.cvizPerf.similarLoadedMs = undefined")
        page.mouse.click(p["x"], p["y"])
        try:
            page.wait_for_function("window.cvizPerf.similarLoadedMs !== undefined", timeout=10000)
        except Exception:
            pass
        similar.append(page.evaluate("({shown: window.cvizPerf.similarShownMs, loaded: window.cvizPerf.similarLoadedMs})"))
        page.keyboard.press("Escape")
        if page.locator("#clear-all").is_visible():  # the click landed on a region name: it filtered
            page.locator("#clear-all").click()
    if shot:
        page.locator("#zoom-home").click()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shot))
    lay = layout_run(page) if layouts else None
    ctx.close()
    return {"perf": perf, "hover": hover, "refilter": refilter, "frames": frames, "labels": labels, "similar": similar,
            "layouts": lay}


def extras_size(root: Path, name: str) -> dict:
    """Bytes and gzipped bytes of the viewer's extra files in the published version."""
    import gzip

    pub = Path(root) / "published" / name
    pointer = json.loads((pub / "current.json").read_text())
    ver = pub / pointer["items"].rsplit("/", 1)[0]
    out = {}
    for f in ("regions.json", "vocabulary.json", "neighbours.bin", "items.json"):
        p = ver / f
        if p.exists():
            data = p.read_bytes()
            out[f] = {"bytes": len(data), "gzip": len(gzip.compress(data, 6))}
    out["extras_gzip_total"] = sum(v["gzip"] for k, v in out.items() if k != "items.json")
    return out


def layout_summary(lays: list[dict]) -> dict | None:
    if not lays:
        return None
    hover = [h for r in lays for h in r["hover"]]
    labels = [x for r in lays for x in r["labels"]]
    switch = {}
    for r in lays:
        for name, ms in r["switch"].items():
            switch.setdefault(name, []).extend(ms)
    return {
        # timeline: first switch (layout.json fetched) and the later one (cached); category: first; similarity: cached.
        "switch_ms": {name: [round(v, 1) for v in ms] for name, ms in switch.items()},
        "timeline_hover_ms": {"median": statistics.median(hover), "p95": pct(hover, 0.95), "n": len(hover)} if hover else None,
        "axis_labels_frame_ms": {"median": statistics.median(labels), "p95": pct(labels, 0.95), "max": max(labels),
                                 "n": len(labels)} if labels else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=13000, help="synthetic collection size (default 13000)")
    ap.add_argument("--storage", type=Path, help="use this storage root instead of a synthetic one")
    ap.add_argument("--name", help="collection name (with --storage)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--drawer", choices=["webgl", "canvas"], help="force an OpenSeadragon drawer")
    ap.add_argument("--layouts", action="store_true",
                    help="synthetic collection with timeline and category layouts; time switching (issue 16)")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    tmp = None
    if args.storage:
        root, name = args.storage, args.name or "met-sample"
        label = f"{name} from {root}"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="cviz-bench-")
        side = math.ceil(math.sqrt(args.items * 1.1))
        small = args.items > 1000
        t0 = time.perf_counter()
        info = build_published_collection(tmp.name, name="bench", cols=side, rows=side, n_items=args.items,
                                          cell=48 if small else 128, tile=256 if small else None,
                                          image_size=(96, 128) if small else (384, 512), layouts=args.layouts)
        root, name = Path(tmp.name), info.name
        label = f"synthetic {args.items} items, {side}x{side} grid, cell {info.cell}px"
        print(f"built {label} in {time.perf_counter() - t0:.1f}s")

    sizes = extras_size(root, name)
    proc, base = start_viewer_server(root)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            shot = REPO / "test-artifacts" / "viewer-bench.png"
            shot.parent.mkdir(exist_ok=True)
            runs = [one_run(browser, f"{base}/?c={name}", args.drawer, shot if k == 0 else None, args.layouts)
                    for k in range(args.runs)]
            browser.close()
    finally:
        stop(proc)
        if tmp:
            tmp.cleanup()

    hover = [h for r in runs for h in r["hover"]]
    frames = [f for r in runs for f in r["frames"]]
    refilter = [f for r in runs for f in r["refilter"] if f is not None]
    summary = {
        "collection": label,
        "drawer": runs[0]["perf"].get("drawer"),
        "items_json_loaded_ms": statistics.median(r["perf"]["itemsLoaded"] for r in runs),
        "first_tile_loaded_ms": statistics.median(r["perf"]["firstTileLoaded"] for r in runs),
        "first_tiles_drawn_ms": statistics.median(r["perf"]["firstTilesDrawn"] for r in runs),
        "fully_loaded_ms": statistics.median(r["perf"].get("fullyLoaded", float("nan")) for r in runs),
        "hover_latency_ms": {"median": statistics.median(hover), "p95": pct(hover, 0.95), "max": max(hover), "n": len(hover)},
        "search_recompute_ms": {"median": statistics.median(refilter), "max": max(refilter)},
        "pan_frame_ms": {"median": statistics.median(frames), "p95": pct(frames, 0.95)},
        "region_labels_frame_ms": ({"median": statistics.median(labels), "p95": pct(labels, 0.95), "max": max(labels), "n": len(labels)}
                                   if (labels := [x for r in runs for x in r["labels"]]) else None),
        "more_like_this_ms": ({"strip_median": statistics.median(s["shown"] for s in sim),
                               "strip_max": max(s["shown"] for s in sim),
                               "thumbnails_median": statistics.median(s["loaded"] for s in sim if s["loaded"] is not None)
                               if any(s["loaded"] is not None for s in sim) else None, "n": len(sim)}
                              if (sim := [s for r in runs for s in r["similar"] if s["shown"] is not None]) else None),
        "extra_data": sizes,
        "layouts": layout_summary([r["layouts"] for r in runs if r["layouts"]]),
        "load": open("/proc/loadavg").read().split()[:3],
        "runs": args.runs,
    }
    out = REPO / "test-artifacts" / "viewer-bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
