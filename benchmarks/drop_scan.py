"""How long one drop-sensor tick takes on a large drop root (the sensor must stay well inside
Dagster's 60 s evaluation limit).

    .venv/bin/python benchmarks/drop_scan.py --folders 20 --files 100000 [--root /tmp/drop-bench]

Creates ``folders`` collection folders holding ``files`` empty .jpg files in all (once; reused),
then times a first tick (every folder new), a tick with nothing changed, and the number of ticks
until every folder was requested, with the default per-tick limits.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from cviz.ingest import drop


def make_root(root: Path, folders: int, files: int) -> None:
    marker = root / f".made-{folders}-{files}"
    if marker.exists():
        return
    per = files // folders
    for f in range(folders):
        d = root / f"collection-{f:03d}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per):
            (d / f"img{i:06d}.jpg").touch()
    marker.touch()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="/tmp/drop-bench")
    ap.add_argument("--folders", type=int, default=20)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--max-folders", type=int, default=drop.DEFAULT_MAX_FOLDERS)
    args = ap.parse_args()
    root = Path(args.root)
    t = time.perf_counter()
    make_root(root, args.folders, args.files)
    print(f"drop root ready in {time.perf_counter() - t:.1f}s: {args.folders} folders, {args.files} files")
    now = time.time() + 3600  # files are an hour old: they settle at once (quiet period 0 below)
    cursor = drop.DropCursor()
    ticks, requested = 0, 0
    while requested < args.folders and ticks < 100:
        t = time.perf_counter()
        tick = drop.evaluate(str(root), cursor, now=now, quiet_seconds=0, max_folders=args.max_folders)
        dt = time.perf_counter() - t
        ticks += 1
        requested += len(tick.requests)
        cursor = drop.DropCursor.from_json(tick.cursor.to_json())
        print(f"tick {ticks}: {dt:.2f}s, scanned {tick.scanned} folders, {len(tick.requests)} requests")
        now += 30
    t = time.perf_counter()
    tick = drop.evaluate(str(root), cursor, now=now, quiet_seconds=0, max_folders=args.max_folders)
    print(f"unchanged tick: {time.perf_counter() - t:.2f}s, scanned {tick.scanned}, {len(tick.requests)} requests; "
          f"cursor {len(cursor.to_json())} bytes; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
