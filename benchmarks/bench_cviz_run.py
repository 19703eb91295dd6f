"""`cviz run` end to end on N thumbnails: cold, nothing changed, and +K new images (``--update place_new``).

The issue's end-to-end targets, measured as a user runs them: each run is the real ``cviz run``
command in its own process (``/usr/bin/time -v`` for the peak RSS), without DAGSTER_HOME (the
temporary instance a first user gets). Per run it prints the wall time, the run's own "time by
step" line (cviz_assets/step_times.py) and the peak RSS, then a table. The +K update runs twice:
the first after the cold build, the second from a map an update built (the steady state: the
previous version then carries what an update reuses, and one retired version is deleted).

    .venv/bin/python benchmarks/bench_cviz_run.py --items 13000 --add 100 --work /tmp/run13k
    .venv/bin/python benchmarks/bench_cviz_run.py --items 13000 --work /tmp/run13k --skip-cold   # root already built

Thumbnails are made by bench_features.make_thumbs (128 px JPEGs of ../shared/data/imageplot,
byte-distinct copies). Set CVIZ_MODEL_CACHE to reuse a converted model (else the cold run
converts it once, ~20 s).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import REPO, make_thumbs  # noqa: E402

CVIZ = Path(sys.executable).with_name("cviz")


def run_once(images: Path, root: Path, label: str, update: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    cmd = ["/usr/bin/time", "-v", str(CVIZ), "run", "-id", "bench", "-imagedir", str(images), "--storage", str(root),
           "--update", update]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{label}: cviz run failed:\n{proc.stderr[-3000:]}")
    steps = next((ln.split("cviz: ", 1)[1] for ln in proc.stdout.splitlines() if "time by step" in ln), "")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    row = {"run": label, "wall_s": round(wall, 1), "peak_rss_gb": round(int(rss.group(1)) / 1e6, 2) if rss else None,
           "load": round(load, 2), "steps": steps}
    print(f"{label}: {row['wall_s']} s wall, peak RSS {row['peak_rss_gb']} GB, load {row['load']}\n  {steps}", flush=True)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=13000)
    p.add_argument("--add", type=int, default=100, help="images added for the update runs")
    p.add_argument("--work", type=Path, required=True, help="folder for the images and the storage root")
    p.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "imageplot" / "images")
    p.add_argument("--skip-cold", action="store_true", help="the storage root under --work is already built")
    args = p.parse_args()
    images, root = args.work / "images", args.work / "root"
    for f in sorted(images.glob("t*.jpg"))[args.items:] if images.exists() else []:
        f.unlink()  # back to N images (an earlier run's additions removed)
    make_thumbs(args.items, args.work, args.source)
    rows = []
    if not args.skip_cold:
        rows.append(run_once(images, root, "cold caches", "recompute"))
    rows.append(run_once(images, root, "nothing changed (re-run, same flags)", "recompute"))
    for k in (1, 2):
        make_thumbs(args.items + k * args.add, args.work, args.source)
        rows.append(run_once(images, root, f"+{args.add} new images, place_new ({'first' if k == 1 else 'again'})",
                             "place_new"))
    print(f"\n| `cviz run`, {args.items:,} thumbnails | wall | peak RSS | load | time by step |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['wall_s']} s | {r['peak_rss_gb']} GB | {r['load']} | {r['steps']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
