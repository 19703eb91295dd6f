"""Benchmark: a collection of image URLs fetched over HTTP, first scan against rescan, and the IIIF
level-0 layout's cost beside a map's Deep Zoom tiles.

- ``fetch``: N met-sample images served as IIIF level-0 images by the test server
  (tests/iiif_server.py, 127.0.0.1, one thread per request), catalogued by
  ``cviz.ingest.remote_catalogue.build_remote_catalogue`` from a CSV of their Image API URLs: the
  first scan (info.json + image per row, decoded once) and a rescan (conditional requests only).
  Add ``--delay S`` to make every answer wait S seconds (a remote museum server) and see what the
  per-host bound costs.
- ``links``: ``cviz.publish.iiif_info.write_level0`` on a pyramid of ``--side`` px square (empty tile
  files stand for the Deep Zoom tiles): hard links made per second.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_iiif.py --images 100
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_iiif.py --images 100 --delay 0.05 --side 16384

Report ``cat /proc/loadavg`` beside the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from cviz.ingest.collection import CollectionConfig  # noqa: E402
from cviz.ingest.remote_catalogue import build_remote_catalogue  # noqa: E402
from cviz.ingest.sample import write_met_sample  # noqa: E402
from cviz.paths import CollectionPaths, tile  # noqa: E402
from cviz.publish.iiif_info import write_level0  # noqa: E402
from cviz.render.dzi import Pyramid  # noqa: E402
from cviz.settings import reset  # noqa: E402
from cviz.storage import open_storage  # noqa: E402
from tests.iiif_server import IIIFServer, add_level0_image  # noqa: E402


def bench_fetch(work: Path, n: int, delay: float) -> dict[str, float]:
    write_met_sample(work / "sample")
    sources = sorted((work / "sample" / "images").iterdir())
    with IIIFServer(work / "static") as server:
        (work / "static").mkdir(exist_ok=True)
        csv_path = work / "urls.csv"
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iiif"])
            for i in range(n):
                with Image.open(sources[i % len(sources)]) as img:
                    service = add_level0_image(server.root, f"b{i:05d}", img.convert("RGB").rotate(i % 4 * 90, expand=True),
                                               server.url)
                prefix = f"{server.url}/slow/{delay}" if delay else server.url
                w.writerow([service.replace(server.url, prefix) + "/full/max/0/default.jpg"])
        store = open_storage(str(work / "root"))
        config = CollectionConfig(name="bench", metadata=str(csv_path), image_url_column="iiif")
        out = {}
        for label in ("first_scan", "rescan"):
            started = time.perf_counter()
            cat = build_remote_catalogue(config, store)
            out[f"{label}_s"] = round(time.perf_counter() - started, 3)
            out[f"{label}_requests"] = cat["fetch"]["requests"]
            out[f"{label}_conditional"] = cat["fetch"]["conditional"]
            out[f"{label}_bytes"] = cat["fetch"]["bytes"]
        out["usable"] = cat["counts"]["usable"]
    return out


def bench_links(work: Path, side: int) -> dict[str, float]:
    store = open_storage(str(work / "links-root"))
    p = Pyramid(side, side, 256)
    folder = CollectionPaths("bench").tiles("v1")
    for level in range(p.max_level + 1):
        cols, rows = p.tile_grid(level)
        os.makedirs(store.path(f"{folder}/{level}"), exist_ok=True)
        for c in range(cols):
            for r in range(rows):
                open(store.path(tile(folder, level, c, r)), "wb").close()
    started = time.perf_counter()
    linked = write_level0(store, "bench", "v1", p, "http://127.0.0.1:8080/data/bench/v1/iiif")
    seconds = time.perf_counter() - started
    return {"tiles": linked, "link_s": round(seconds, 3), "links_per_s": round(linked / seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds every answer waits (a remote host)")
    ap.add_argument("--side", type=int, default=8192, help="pyramid side for the links benchmark")
    args = ap.parse_args()
    reset()
    print(f"load: {open('/proc/loadavg').read().strip()}")
    with tempfile.TemporaryDirectory(prefix="bench-iiif-") as tmp:
        print("fetch:", bench_fetch(Path(tmp), args.images, args.delay))
        print("links:", bench_links(Path(tmp), args.side))


if __name__ == "__main__":
    main()
