"""`cviz run` end to end on N thumbnails: cold, nothing changed, and +K new images (``--update place_new``).

The issue's end-to-end targets, measured as a user runs them: each run is the real ``cviz run``
command in its own process (``/usr/bin/time -v`` for the peak RSS), without DAGSTER_HOME (the
temporary instance a first user gets). Per run it prints the wall time, the run's own "time by
step" line (cviz_assets/step_times.py) and the peak RSS, then a table. The +K update runs twice:
the first after the cold build, the second from a map an update built (the steady state: the
previous version then carries what an update reuses, and one retired version is deleted).

    .venv/bin/python benchmarks/bench_cviz_run.py --items 13000 --add 100 --work /tmp/run13k
    .venv/bin/python benchmarks/bench_cviz_run.py --items 13000 --work /tmp/run13k --skip-cold   # root already built
    .venv/bin/python benchmarks/bench_cviz_run.py --items 13000 --metadata --work /tmp/run13k-meta  # real-shaped CSV

``--metadata`` gives the run a metadata CSV shaped like a real archive's (:func:`write_metadata`):
the source painting's title (stop words and all) and artist, a date in the forms archives use
("1887", "ca. 1887", "1887-1890", "1887-05"; 8% undated), a ``subjects`` column of 1-4
``|``-separated terms from 64 (Zipf-weighted, the first one tied to the picture, so it means
something) and the source's ``period`` and ``collection``. ``--labels subjects``: the category
layout uses the subjects (first term) and the features report their agreement. So the timeline and
category layouts are part of every figure printed.

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


SUBJECTS = [f"{w}" for w in (
    "portrait", "landscape", "still life", "flowers", "sea", "harbour", "city", "street", "church", "interior",
    "peasants", "family", "children", "woman", "man", "self-portrait", "trees", "garden", "river", "bridge",
    "mountains", "snow", "night", "sunset", "field", "harvest", "animals", "horses", "cattle", "birds",
    "boats", "ships", "railway", "factory", "market", "cafe", "theatre", "dance", "music", "religion",
    "mythology", "history", "battle", "soldiers", "nude", "bathers", "fruit", "food", "village", "farm",
    "windmill", "canal", "park", "beach", "rocks", "forest", "road", "house", "ruins", "costume",
    "work", "leisure", "sky", "water")]
DATE_FORMS = ("{y}", "ca. {y}", "{y}-{y2}", "{y}-05", "c.{y}")


def write_metadata(n: int, work: Path, source: Path) -> Path:
    """``work/metadata.csv`` for the n thumbnails ``t0000000.jpg ...`` (image i is source image i mod
    len(sources), as make_thumbs copies them): see the module docstring. Deterministic in i."""
    import csv
    import random

    rows_src = {}
    meta = source.parent / "metadata.csv"
    if meta.exists():
        with open(meta, newline="", encoding="utf-8") as f:
            rows_src = {r["filename"]: r for r in csv.DictReader(f)}
    files = sorted(p.name for p in source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    weights = [1.0 / (k + 1) for k in range(len(SUBJECTS))]
    path = work / "metadata.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["filename", "title", "artist", "date", "subjects", "period", "collection"])
        w.writeheader()
        for i in range(n):
            src = files[i % len(files)]
            row = rows_src.get(src, {})
            rng = random.Random(i)
            first = SUBJECTS[(i % len(files)) * 7 % len(SUBJECTS)]
            terms = [first] + [t for t in rng.choices(SUBJECTS, weights, k=rng.randint(0, 3)) if t != first]
            y = 1850 + rng.randrange(150)
            date = "" if rng.random() < 0.08 else rng.choice(DATE_FORMS).format(y=y, y2=y + rng.randint(1, 5))
            w.writerow({"filename": f"t{i:07d}.jpg", "title": row.get("title") or f"The view of the {first} at dusk",
                        "artist": row.get("artist", ""), "date": date, "subjects": "|".join(dict.fromkeys(terms)),
                        "period": row.get("period", ""), "collection": row.get("collection", "")})
    return path


def run_once(images: Path, root: Path, label: str, update: str, metadata: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    cmd = ["/usr/bin/time", "-v", str(CVIZ), "run", "-id", "bench", "-imagedir", str(images), "--storage", str(root),
           "--update", update]
    if metadata is not None:
        cmd += ["-metadata", str(metadata), "--labels", "subjects"]
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
    p.add_argument("--unchanged-update", default="recompute", choices=["recompute", "place_new"],
                   help="flags of the 'nothing changed' run: those the root was last built with (place_new after "
                        "--skip-cold on a root the update rows built)")
    p.add_argument("--metadata", action="store_true",
                   help="a real-shaped metadata CSV (dates, |-separated subjects, titles): the layouts in every run")
    args = p.parse_args()
    images, root = args.work / "images", args.work / "root"
    for f in sorted(images.glob("t*.jpg"))[args.items:] if images.exists() else []:
        f.unlink()  # back to N images (an earlier run's additions removed)
    make_thumbs(args.items, args.work, args.source)

    def meta(n: int) -> Path | None:
        return write_metadata(n, args.work, args.source) if args.metadata else None

    rows = []
    if not args.skip_cold:
        rows.append(run_once(images, root, "cold caches", "recompute", meta(args.items)))
    rows.append(run_once(images, root, "nothing changed (re-run, same flags)", args.unchanged_update, meta(args.items)))
    for k in (1, 2):
        make_thumbs(args.items + k * args.add, args.work, args.source)
        rows.append(run_once(images, root, f"+{args.add} new images, place_new ({'first' if k == 1 else 'again'})",
                             "place_new", meta(args.items + k * args.add)))
    print(f"\n| `cviz run`, {args.items:,} thumbnails | wall | peak RSS | load | time by step |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['wall_s']} s | {r['peak_rss_gb']} GB | {r['load']} | {r['steps']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
