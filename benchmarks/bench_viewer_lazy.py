"""The viewer at 13,000 and 1,000,000 items: items.json against the lazy item tables.

Writes a synthetic published collection straight from synthetic item data (no pipeline): titles of
2-8 words drawn from a Zipf-distributed vocabulary of 20,000 words plus stop words and sometimes a
year, dates 1400-2020 (one in ten undated), a 50-valued ``school`` category column (one in eight a
``|`` pair), two more text columns; a dummy Deep Zoom pyramid of flat tiles with the map's size for
the levels a whole-map view needs. Then ``node viewer/server.js`` (gzips JSON and .bin) and headless
chromium measure, per collection, in a fresh browser context each run:

- bytes before the first tile: the encoded body sizes (Resource Timing) of every response that ended
  before the first tile arrived (app code, current.json, the index or items.json, cells.bin...);
- first tiles drawn (ms from navigation start), and when the items were ready (``itemsLoaded``);
- hover title: pointer event to the tooltip's title filled (a lazy store fetches the block's shard);
- a filter toggle: a category value checked, then the year range set, then both cleared (click to
  the map dimmed and the count shown, fetches included: ``refilterMs`` spans them); on the lazy path
  also when the sidebar's counts were complete after the first one (``countsCompleteMs``: the other
  columns arrive after the map dimmed);
- search: the first query (its search files fetched) and later ones;
- JS heap after all that (CDP ``Performance.getMetrics`` JSHeapUsedSize, after a garbage collection).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_viewer_lazy.py               # 13k eager, 13k lazy, 1M lazy
    PYTHONPATH=. .venv/bin/python benchmarks/bench_viewer_lazy.py --sizes 13000 --runs 1

Everything is written under a temporary folder, removed at the end. Results: printed, and
test-artifacts/viewer-lazy-bench.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cviz.publish.items_lazy import write_lazy  # noqa: E402
from cviz.storage import open_storage  # noqa: E402
from tests.test_viewer_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, start_viewer_server, stop  # noqa: E402
from tests.viewer_fixture import new_test_context  # noqa: E402

STOP = ["the", "of", "and", "a", "in", "with", "on", "at", "by", "from"]
SCHOOLS = [f"School {chr(65 + k // 26)}{chr(97 + k % 26)}" for k in range(50)]
CELL = 16
TILE = 256


def synthetic_doc(n: int, seed: int = 7) -> dict:
    """An items.json document (cviz-items/2) of ``n`` synthetic items on a square grid with 10% slack."""
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n * 1.1))
    # Item order is catalogue order, cells a random permutation (as the grid step leaves them): cells.bin
    # compresses as little as it will for a real collection.
    cells = rng.choice(side * side, size=n, replace=False).tolist()
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ber", "dan", "gor", "hel", "lin", "mar", "nor", "pel",
            "ros", "sten", "tur", "wen"]
    vocab = list(dict.fromkeys("".join(rng.choice(syll, size=rng.integers(2, 4))) for _ in range(40_000)))[:20_000]
    zipf = 1 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
    lengths = rng.integers(2, 9, size=n)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=zipf)
    stops = rng.random(int(lengths.sum())) < 0.3
    stop_pick = rng.integers(0, len(STOP), size=int(lengths.sum()))
    years = rng.integers(1400, 2021, size=n)
    undated = rng.random(n) < 0.1
    titles, dates, schools, pos = [], [], [], 0
    for i in range(n):
        parts = [STOP[stop_pick[pos + k]] if stops[pos + k] else vocab[words[pos + k]] for k in range(lengths[i])]
        pos += lengths[i]
        parts[0] = parts[0].capitalize()
        if i % 7 == 0 and not undated[i]:
            parts.append(str(years[i]))
        titles.append(" ".join(parts))
        dates.append("" if undated[i] else f"ca. {years[i]}")
        s = SCHOOLS[int(rng.integers(0, 50))]
        schools.append(f"{s}|{SCHOOLS[(SCHOOLS.index(s) + 1) % 50]}" if i % 8 == 0 else s)
    ids = [f"img_{i:07d}.jpg" for i in range(n)]
    return {
        "format": "cviz-items/2", "collection": "bench", "count": n,
        "grid": {"cols": side, "rows": side, "cell_width": CELL, "cell_height": CELL, "width": side * CELL,
                 "height": side * CELL},
        "dzi": "map.dzi", "columns": ["date", "school", "medium", "inventory"], "date_column": "date",
        "category_columns": ["school"], "columns_dropped": 0, "values_truncated": 0,
        "fields": {"id": ids, "cell": cells, "image": [f"../images/{i}.jpg" for i in ids],
                   "year": [None if undated[i] else int(years[i]) for i in range(n)], "title": titles,
                   "url": [f"https://example.org/object/{i}" for i in range(n)]},
        "values": {"date": dates, "school": schools, "medium": [["Oil on canvas", "Ink on paper", "Bronze"][i % 3]
                                                                for i in range(n)],
                   "inventory": [f"INV-{i:07d}" for i in range(n)]},
    }


def dummy_pyramid(folder: Path, width: int, height: int) -> int:
    """map.dzi for a ``width`` x ``height`` image, tiles written only for levels at most 2,048 px wide."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (TILE, TILE), (60, 70, 90)).save(buf, "JPEG", quality=80)
    tile = buf.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "map.dzi").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
        f'Format="jpg" Overlap="0" TileSize="{TILE}"><Size Width="{width}" Height="{height}"/></Image>')
    levels = math.ceil(math.log2(max(width, height))) + 1
    written = 0
    for level in range(levels):
        scale = 2 ** (levels - 1 - level)
        w, h = math.ceil(width / scale), math.ceil(height / scale)
        if w > 2048:
            break
        d = folder / "map_files" / str(level)
        d.mkdir(parents=True, exist_ok=True)
        for c in range(math.ceil(w / TILE)):
            for r in range(math.ceil(h / TILE)):
                (d / f"{c}_{r}.jpg").write_bytes(tile)
                written += 1
    return written


def publish(root: Path, name: str, doc: dict, lazy: bool) -> dict:
    """Write the version folder (items.json or the lazy tables), current.json and the index entry."""
    ver = "v1"
    folder = root / "published" / name / ver
    dummy_pyramid(folder, doc["grid"]["width"], doc["grid"]["height"])
    t0 = time.perf_counter()
    if lazy:
        info = write_lazy(open_storage(str(root)), f"published/{name}/{ver}", doc)
        table = "items-index.json"
        size = info["index_bytes"] + sum(info["bytes"].values())
    else:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        (folder / "items.json").write_bytes(text)
        table, size = "items.json", len(text)
    seconds = time.perf_counter() - t0
    (root / "published" / name / "current.json").write_text(json.dumps(
        {"dzi": f"{ver}/map.dzi", "items": f"{ver}/{table}", "preview": f"{ver}/map.dzi"}))
    index = root / "published" / "index.json"
    cols = json.loads(index.read_text())["collections"] if index.exists() else []
    cols.append({"name": name, "items": doc["count"], "current": f"{name}/current.json"})
    index.write_text(json.dumps({"format": "cviz-index/1", "collections": cols}))
    return {"table": table, "bytes": size, "write_s": round(seconds, 2)}


BYTES_BEFORE_TILE = """() => {
  const first = window.cvizPerf.firstTileLoaded;
  const rows = performance.getEntriesByType('resource');
  const before = rows.filter((r) => r.responseEnd <= first && !r.name.includes('/map_files/'));
  const named = (part) => rows.filter((r) => r.name.includes(part)).map((r) => ({
    bytes: r.encodedBodySize, decoded: r.decodedBodySize, end: Math.round(r.responseEnd) }));
  return { bytes: before.reduce((s, r) => s + r.encodedBodySize, 0),
    data_bytes: before.filter((r) => r.name.includes('/data/')).reduce((s, r) => s + r.encodedBodySize, 0),
    files: before.map((r) => r.name.replace(/^.*\\/(data|src|vendor)\\//, '$1/')),
    items_json: named('items.json'), index: named('items-index.json'), cells: named('cells.bin') };
}"""


def refilter_ms(page, action) -> float:
    page.evaluate("window.cvizPerf.refilterMs = undefined")
    action()
    page.wait_for_function("window.cvizPerf.refilterMs !== undefined", timeout=60000)
    return round(page.evaluate("window.cvizPerf.refilterMs"), 1)


def hover_titles(page, doc: dict, k: int = 30) -> list[float]:
    """Move over ``k`` occupied cells in view; ms from the pointer event to the title filled."""
    # An older viewer (--viewer) has no hoverTitleMs: its title is set in the pointer event itself,
    # and hoverLatencies (event to the next frame) bounds it from above.
    key = "hoverTitleMs" if page.evaluate("'hoverTitleMs' in window.cvizPerf") else "hoverLatencies"
    page.evaluate(f"window.cvizPerf.{key}.length = 0")
    cols = doc["grid"]["cols"]
    occupied = set(doc["fields"]["cell"])
    a = page.evaluate("window.cviz.cellCenterOnPage(0)")
    b = page.evaluate(f"window.cviz.cellCenterOnPage({cols + 1})")
    w, h = b["x"] - a["x"], b["y"] - a["y"]
    box = page.locator("#map").bounding_box()
    # The middle of the map: its corners hold controls (zoom buttons, the layout switch) over the canvas.
    x0, x1 = box["x"] + 0.15 * box["width"], box["x"] + 0.85 * box["width"]
    y0, y1 = box["y"] + 0.2 * box["height"], box["y"] + 0.8 * box["height"]
    c0, c1 = max(0, math.ceil((x0 - a["x"]) / w)), min(cols - 1, int((x1 - a["x"]) / w))
    r0, r1 = max(0, math.ceil((y0 - a["y"]) / h)), min(doc["grid"]["rows"] - 1, int((y1 - a["y"]) / h))
    rng = np.random.default_rng(1)
    done = 0
    while done < k:
        c, r = int(rng.integers(c0, c1 + 1)), int(rng.integers(r0, r1 + 1))
        if r * cols + c not in occupied:
            continue
        page.mouse.move(a["x"] + c * w, a["y"] + r * h)
        done += 1
        page.wait_for_function(f"window.cvizPerf.{key}.length >= {done}", timeout=30000)
        page.mouse.move(box["x"] - 5 if box["x"] > 10 else 2, 2)  # off the map: the next cell is a new hover
        page.wait_for_timeout(40)
    return [round(v, 1) for v in page.evaluate(f"window.cvizPerf.{key}.slice()")]


def one_run(browser, url: str, doc: dict, lazy: bool) -> dict:
    ctx = new_test_context(browser, viewport=VIEWPORT, bypass_csp=True)
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(url)
    page.wait_for_function("window.cvizPerf && window.cvizPerf.firstTilesDrawn !== undefined && window.cviz",
                           timeout=120000)
    page.wait_for_timeout(500)
    perf = page.evaluate("({...window.cvizPerf})")
    net = page.evaluate(BYTES_BEFORE_TILE)
    # Zoom in so that cells are about 8 px: hovering aims at one cell.
    page.evaluate(f"window.cviz.viewer.viewport.zoomTo({max(1, doc['grid']['cols'] / 150)}, null, true)")
    page.wait_for_timeout(800)
    hover = hover_titles(page, doc)
    school = page.locator("#category-filters label").first
    page.evaluate("window.cvizPerf.countsCompleteMs = undefined")
    toggles = [refilter_ms(page, lambda: school.locator("input").check())]
    if lazy:  # the sidebar's counts complete once the other columns arrived (after the map dimmed)
        page.wait_for_function("window.cvizPerf.countsCompleteMs !== undefined", timeout=60000)
    counts_complete = page.evaluate("window.cvizPerf.countsCompleteMs ?? null")
    toggles.append(refilter_ms(page, lambda: school.locator("input").uncheck()))
    second = page.locator("#category-filters label").nth(1)
    toggles.append(refilter_ms(page, lambda: second.locator("input").check()))
    page.locator("#year-from").fill("1600")
    page.locator("#year-to").fill("1700")
    toggles.append(refilter_ms(page, lambda: page.locator("#year-to").dispatch_event("change")))
    toggles.append(refilter_ms(page, lambda: page.locator("#clear-all").click()))
    # Words of two titles (not stop words), a prefix, two words, and the commonest stop word.
    word = next(w for w in doc["fields"]["title"][0].lower().split() if w not in STOP)
    other = next(w for w in doc["fields"]["title"][1234 % doc["count"]].lower().split() if w not in STOP)
    queries = [word[:3], word, f"{word} {other}", "the", other]
    search = [refilter_ms(page, lambda q=q: page.locator("#search").fill(q)) for q in queries]
    matches = page.evaluate("window.cviz.matchCount()")
    refilter_ms(page, lambda: page.locator("#search").fill(""))
    cdp.send("HeapProfiler.enable")
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    ctx.close()
    return {"first_tile_ms": round(perf["firstTileLoaded"]), "first_tiles_drawn_ms": round(perf["firstTilesDrawn"]),
            "items_ready_ms": round(perf["itemsLoaded"]), "bytes_before_first_tile": net["bytes"],
            "data_bytes_before_first_tile": net["data_bytes"], "files_before_first_tile": net["files"],
            "item_table_fetch": net["items_json"] or net["index"], "cells_fetch": net["cells"],
            "hover_title_ms": hover, "filter_toggle_ms": toggles, "first_filter_counts_complete_ms": counts_complete, "search_ms": search, "queries": queries,
            "last_query_matches": matches, "js_heap_mb": round(metrics["JSHeapUsedSize"] / 2**20, 1)}


def summarise(runs: list[dict]) -> dict:
    hover = [h for r in runs for h in r["hover_title_ms"]]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    return {
        "bytes_before_first_tile": med("bytes_before_first_tile"),
        "data_bytes_before_first_tile": med("data_bytes_before_first_tile"),
        "first_tiles_drawn_ms": med("first_tiles_drawn_ms"), "items_ready_ms": med("items_ready_ms"),
        "hover_title_ms": {"median": statistics.median(hover), "p95": sorted(hover)[int(0.95 * (len(hover) - 1))],
                           "max": max(hover)},
        "first_filter_counts_complete_ms": statistics.median(r["first_filter_counts_complete_ms"] or 0 for r in runs),
        "filter_toggle_ms": {"first": med_list(runs, "filter_toggle_ms", 0),
                             "later_max": max(max(r["filter_toggle_ms"][1:]) for r in runs)},
        "search_ms": {"first": med_list(runs, "search_ms", 0), "later_max": max(max(r["search_ms"][1:]) for r in runs)},
        "js_heap_mb": max(r["js_heap_mb"] for r in runs),
    }


def med_list(runs: list[dict], key: str, k: int) -> float:
    return statistics.median(r[key][k] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="13000,1000000", help="collection sizes (comma-separated)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--viewer", type=Path, help="serve this viewer folder instead (an earlier checkout's viewer/, "
                    "with node_modules): the same collections, the same machine, another viewer")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    if args.viewer:
        import tests.test_viewer_browser as served

        served.VIEWER = args.viewer.resolve()

    cases = []
    for n in (int(s) for s in args.sizes.split(",")):
        cases += [(n, False), (n, True)] if n <= 100_000 else [(n, True)]
    if args.viewer:  # an earlier viewer reads items.json only
        cases = [(n, lazy) for n, lazy in cases if not lazy]
    results = {"load_before": open("/proc/loadavg").read().split()[:3], "cases": []}
    with tempfile.TemporaryDirectory(prefix="cviz-lazy-bench-") as tmp:
        root = Path(tmp)
        docs = {}
        for n, lazy in cases:
            t0 = time.perf_counter()
            docs.setdefault(n, synthetic_doc(n))
            name = f"bench-{n}-{'lazy' if lazy else 'json'}"
            written = publish(root, name, docs[n], lazy)
            print(f"{name}: built in {time.perf_counter() - t0:.1f}s, {written}", flush=True)
            results["cases"].append({"name": name, "items": n, "lazy": lazy, "published": written})
        proc, base = start_viewer_server(root)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for case in results["cases"]:
                    runs = [one_run(browser, f"{base}/?c={case['name']}", docs[case["items"]], case["lazy"])
                            for _ in range(args.runs)]
                    case["runs"] = runs
                    case["summary"] = summarise(runs)
                    print(case["name"], json.dumps(case["summary"]), flush=True)
                browser.close()
        finally:
            stop(proc)
    results["load_after"] = open("/proc/loadavg").read().split()[:3]
    out = REPO / "test-artifacts" / "viewer-lazy-bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps({c["name"]: c["summary"] for c in results["cases"]}, indent=1))
    print("load before/after:", results["load_before"], results["load_after"])


if __name__ == "__main__":
    main()
