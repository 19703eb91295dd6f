"""Profile stages of a built collection in-process (cProfile): where an update's seconds go.

Runs each named stage of ``cviz.stages.registry`` on an existing storage root, as an update runs
them (``tsne`` and ``pca`` with ``place_new``, ``grid`` with ``keep_previous``, layouts with
``keep_previous``), and prints wall seconds, CPU seconds and the functions with the most cumulative
time. It rewrites the stages' outputs (the same inputs give the same outputs), so point it at a
benchmark's root, not a collection someone browses.

    .venv/bin/python benchmarks/profile_stages.py --root /tmp/run13k/root --name bench --stages images,tsne,grid,mosaic,metadata_json
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cviz.stages import registry  # noqa: E402
from cviz.stages.layouts import stage_layout  # noqa: E402
from cviz.storage import open_storage  # noqa: E402

def _features(storage, name):
    from cviz.embed.models import load_extractor

    return registry.stage_features(storage, name, load_extractor(cache_dir=registry.model_cache_dir(storage),
                                                                 convert_in_child=True))


CALLS = {
    "images": lambda s, n: registry.stage_images(s, n),
    "features": _features,
    "pca": lambda s, n: registry.stage_pca(s, n, update="place_new"),
    "tsne": lambda s, n: registry.stage_tsne(s, n, update="place_new"),
    "grid": lambda s, n: registry.stage_grid(s, n, keep_previous=True),
    "mosaic": lambda s, n: registry.stage_mosaic(s, n),  # a new version: metadata_json never writes a live one
    "dzi": lambda s, n: registry.stage_dzi(s, n),
    "metadata_json": lambda s, n: (registry.stage_viewer_extras(s, n), registry.stage_metadata_json(s, n)),
    "timeline_layout": lambda s, n: stage_layout(s, n, "timeline", keep_previous=True),
    "category_layout": lambda s, n: stage_layout(s, n, "category", keep_previous=True),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--stages", default="images,tsne,grid,metadata_json")
    p.add_argument("--top", type=int, default=18)
    args = p.parse_args()
    storage = open_storage(args.root)
    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        prof = cProfile.Profile()
        load = os.getloadavg()[0]
        w, c = time.perf_counter(), time.process_time()
        prof.enable()
        CALLS[stage](storage, args.name)
        prof.disable()
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(f"\n### {stage}: {wall:.2f} s wall, {cpu:.2f} s CPU (load {load:.1f})")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
