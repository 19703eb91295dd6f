"""Screenshots of a published collection's layouts (issue 16), to look at: for each collection
and each layout its current.json lists, the whole map and a zoomed-in view, plus the checks a
person would make by eye (the layout opened, how many axis labels / headings are on screen, any
page error).

    .venv/bin/python viewer/bench/layout_shots.py --storage /tmp/layouts-demo met-sample imageplot

Writes test-artifacts/layout-<collection>-<layout>[-zoomed].png. Needs `npm ci --prefix viewer`
and /usr/bin/chromium (same server and browser flags as the browser tests).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.test_viewer_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, start_viewer_server, stop  # noqa: E402
from tests.viewer_fixture import new_test_context  # noqa: E402


def shoot(browser, base: str, name: str, layout: str, out: Path) -> dict:
    ctx = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type in ("error", "warning") and errors.append(m.text))
    hash_ = "" if layout == "similarity" else f"#layout={layout}"
    page.goto(f"{base}/?c={name}{hash_}")
    page.wait_for_function("window.cviz && window.cvizPerf.firstTilesDrawn !== undefined", timeout=60000)
    try:
        page.wait_for_function("window.cvizPerf.fullyLoaded !== undefined", timeout=20000)
    except Exception:
        pass
    page.wait_for_timeout(1200)
    got = page.evaluate("window.cviz.layout().name")
    wide = page.evaluate("window.cviz.layoutLabels()")
    page.screenshot(path=str(out / f"layout-{name}-{layout}.png"))
    # Zoomed in at a third of the way across the map, near its top.
    page.evaluate("""() => { const vp = window.cviz.viewer.viewport; const b = vp.getHomeBounds();
        vp.zoomTo(vp.getHomeZoom() * 5, null, true);
        vp.panTo(new OpenSeadragon.Point(b.x + b.width / 3, b.y + b.height / 3), true); }""")
    page.wait_for_timeout(2500)
    deep = page.evaluate("window.cviz.layoutLabels()")
    page.screenshot(path=str(out / f"layout-{name}-{layout}-zoomed.png"))
    ctx.close()
    return {"collection": name, "layout": layout, "opened": got, "labels_whole_map": len(wide),
            "labels_zoomed": len(deep), "label_texts": [l["text"] for l in wide][:12], "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--storage", type=Path, required=True, help="storage root holding published/")
    ap.add_argument("collections", nargs="+")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    proc, base = start_viewer_server(args.storage)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name in args.collections:
                current = json.loads((args.storage / "published" / name / "current.json").read_text())
                for layout in ["similarity", *sorted((current.get("layouts") or {}).keys())]:
                    print(json.dumps(shoot(browser, base, name, layout, out), ensure_ascii=False))
            browser.close()
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
