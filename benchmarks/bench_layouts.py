"""What the two extra layouts add to a build: the timeline and category layout stages on
N synthetic items with a warm cell cache, each in a fresh process; wall and CPU seconds and peak RSS.

    .venv/bin/python benchmarks/bench_layouts.py                 # 13,000 items (target: <= 20 s, <= 1 GB)
    .venv/bin/python benchmarks/bench_layouts.py --items 2000 --similarity

Data: bench.py's synthetic collection (copies of ../shared/data/imageplot made unique by a JPEG
comment, a metadata CSV with a ``date`` year 1600-1999 and a four-valued ``collection`` column),
synthetic feature vectors, then the real pca and tsne stages and the cell cache filled as the
features stage's decode fills it (bench.py ``cells_prefill``). That preparation is done once per
storage root (``--root``, default ``benchmarks/results/layouts-root``) and reused. Timings on a
shared machine depend on its load: the table prints the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import bench  # noqa: E402  (benchmarks/bench.py: synthetic collection, stages in child processes)

TARGET_S = 20.0
TARGET_RSS_MB = 1024.0


def _run_layout(layout: str, root: str, name: str) -> dict[str, Any]:
    """Child process body: one layout stage (or the similarity mosaic + dzi, for comparison)."""
    from cviz.storage import open_storage

    storage = open_storage(root)
    cpu0 = bench._cpu_s()
    started = time.perf_counter()
    if layout == "similarity":
        from cviz.stages import registry
        values = {**registry.stage_mosaic(storage, name).values, **registry.stage_dzi(storage, name).values}
    else:
        from cviz.stages.layouts import stage_layout

        values = stage_layout(storage, name, layout).values
    return {"wall_s": round(time.perf_counter() - started, 3), "cpu_s": round(bench._cpu_s() - cpu0, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "values": bench._plain(values)}


def in_child(layout: str, root: str, name: str) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_run_layout, layout, root, name).result()


def prepare(root: Path, n: int, source: Path) -> str:
    """The synthetic collection registered, with pca, tsne and a warm cell cache (once per root)."""
    name = f"synth-{n}"
    done = root / "collections" / name / ".layouts-bench-ready"
    if done.exists():
        return name
    folder = bench.synthetic_collection(n, source)
    bench.register(root, name, folder / "images", folder / "metadata.csv", "128x128")
    opts = {"synthetic": n, "seed": 0, "model": "synthetic", "grid_method": "auto"}
    for stage in ("images", "features", "pca", "tsne", "cells_prefill"):
        res = bench.run_stage_in_child(stage, str(root), name, opts)
        print(f"  prepared {stage:<14} {res['wall_s']:>8.1f} s", flush=True)
    done.write_text("ready\n")
    return name


def prepare_similarity(root: Path, name: str, n: int) -> None:
    """The grid (and catalogue-fresh outputs) the similarity mosaic needs, once."""
    if not (root / "collections" / name / "grid.json").exists():
        opts = {"synthetic": n, "seed": 0, "model": "synthetic", "grid_method": "auto"}
        res = bench.run_stage_in_child("grid", str(root), name, opts)
        print(f"  prepared {'grid':<14} {res['wall_s']:>8.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=13_000)
    p.add_argument("--root", type=Path, default=None, help="storage root (default benchmarks/results/layouts-root)")
    p.add_argument("--collection", type=Path, default=bench.DEFAULT_COLLECTION,
                   help="images the synthetic items are copies of (default ../shared/data/imageplot)")
    p.add_argument("--similarity", action="store_true", help="also time the similarity mosaic + dzi, for comparison")
    args = p.parse_args(argv)
    root = (args.root or bench.RESULTS / "layouts-root").resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(f"preparing {args.items} synthetic items in {root} (once) ...", flush=True)
    name = prepare(root, args.items, args.collection)
    if args.similarity:
        prepare_similarity(root, name, args.items)
    load_before = bench.loadavg()
    rows = {}
    print(f"{'layout':<12}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}  notes")
    for layout in (["similarity"] if args.similarity else []) + ["timeline", "category"]:
        res = in_child(layout, str(root), name)
        res["load"] = bench.loadavg()
        rows[layout] = res
        v = res["values"]
        notes = (f"{v.get('cols')}x{v.get('rows')} cells, {v.get('labels')} labels, bin_years={v.get('bin_years', '-')}, "
                 f"cells decoded={v.get('cells_decoded')} cached={v.get('cells_cached')}") if layout != "similarity" else \
            f"cells decoded={v.get('cells_decoded')} cached={v.get('cells_cached')}"
        print(f"{layout:<12}{res['wall_s']:>9.2f}{res['cpu_s']:>9.2f}{res['peak_rss_mb']:>13.0f}  {notes}", flush=True)
    added = sum(rows[k]["wall_s"] for k in ("timeline", "category"))
    peak = max(rows[k]["peak_rss_mb"] for k in ("timeline", "category"))
    load_after = bench.loadavg()
    print(f"two layouts added: {added:.1f} s wall (target <= {TARGET_S:.0f} s), peak RSS {peak:.0f} MB "
          f"(target <= {TARGET_RSS_MB:.0f} MB); load average {load_before} -> {load_after} "
          f"on {os.cpu_count()} CPUs")
    out = bench.RESULTS / f"layouts-{args.items}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.write_text(json.dumps({"items": args.items, "root": str(root), "stages": rows, "added_wall_s": round(added, 2),
                               "peak_rss_mb": peak, "load_before": load_before, "load_after": load_after}, indent=1))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
