"""Benchmark: materialize one collection through the real stage functions and measure each stage.

Every stage runs ``cviz.stages.registry.stage_<name>`` (the code the Dagster assets call) in a fresh
process, so its peak RSS is its own (read from ``getrusage(RUSAGE_SELF)`` in that process, as
the Dagster multiprocess executor would see it); wall seconds are measured around the call.

    .venv/bin/python benchmarks/bench.py                      # ../shared/data/imageplot, real features
    .venv/bin/python benchmarks/bench.py --synthetic 13000    # synthetic images + feature vectors
    .venv/bin/python benchmarks/bench.py --synthetic 13000 --grid-method rasterfairy --stages grid

Synthetic mode writes N distinct JPEGs (the collection's real paintings, each copy made distinct
by a JPEG comment segment: same pixels and decode cost as the real image, a different content
hash) and a metadata CSV, once per N under ``benchmarks/results/synth-<N>/`` (reused by later runs), then
replaces the CNN with N synthetic 1280-d feature vectors (a two-level Gaussian mixture on a
48-d subspace plus noise, non-negative like pooled ReLU features). ``mosaic_cold`` is the first
mosaic (decodes every source, fills the cell cache, writes the item images); ``mosaic`` the
re-run that the feature stage's cell cache makes possible. Results: a table on stdout and JSON
under ``benchmarks/results/`` (gitignored).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_COLLECTION = REPO.parent / "shared" / "data" / "imageplot"
ALL_STAGES = ["images", "features", "pca", "tsne", "grid", "mosaic_cold", "cells_prefill", "mosaic", "dzi",
              "metadata_json"]
DEFAULT_STAGES = ["images", "features", "pca", "tsne", "grid", "mosaic_cold", "mosaic", "dzi", "metadata_json"]
FEATURE_DIM = 1280

sys.path.insert(0, str(REPO))


# -- one stage in its own process ------------------------------------------------------------
def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _cpu_s() -> float:
    """User + system CPU seconds of this process (all its threads): a figure the load of other
    processes on a shared machine does not inflate the way it inflates wall time."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _run_stage(stage: str, root: str, name: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Child process body: import, run one stage, report wall time and this process's peak RSS."""
    from cviz.stages import registry
    from cviz.storage import open_storage

    storage = open_storage(root)
    rss_before = _maxrss_mb()
    cpu_before = _cpu_s()
    started = time.perf_counter()
    if stage == "features":
        if opts.get("synthetic"):
            values = _synthetic_features(storage, name, opts["synthetic"], opts["seed"])
        else:
            from cviz.embed.models import load_extractor

            extractor = load_extractor(opts["model"], "imagenet", None, registry.model_cache_dir(storage))
            values = registry.stage_features(storage, name, extractor).values
    elif stage == "cells_prefill":
        values = _prefill_cells(storage, name)
    elif stage in ("mosaic", "mosaic_cold"):
        if stage == "mosaic_cold":  # forget this collection's cached cells and item images (only its own)
            _forget_cells(storage, name)
            started = time.perf_counter()
        values = registry.stage_mosaic(storage, name).values
    elif stage == "grid":
        values = registry.stage_grid(storage, name, method=opts["grid_method"]).values
    elif stage == "tsne":
        values = registry.stage_tsne(storage, name).values
    else:
        values = getattr(registry, f"stage_{stage}")(storage, name).values
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 3), "cpu_s": round(_cpu_s() - cpu_before, 3), "peak_rss_mb": round(_maxrss_mb(), 1),
            "rss_before_mb": round(rss_before, 1), "values": _plain(values)}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, (int, float, str, bool)) or v is None}


def run_stage_in_child(stage: str, root: str, name: str, opts: dict[str, Any]) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_run_stage, stage, root, name, opts).result()


# -- synthetic data ----------------------------------------------------------------------------
def _synthetic_features(storage: Any, name: str, n: int, seed: int) -> dict[str, Any]:
    """N x 1280 float32: 40 clusters x 8 sub-clusters of varied size on a 48-d subspace, + noise."""
    import numpy as np

    from cviz.ingest.catalogue import usable_items
    from cviz.paths import CollectionPaths

    paths = CollectionPaths(name)
    items = usable_items(storage.read_json(paths.catalogue))
    if len(items) != n:
        raise SystemExit(f"catalogue has {len(items)} usable items, expected {n}")
    rng = np.random.default_rng(seed)
    latent_dim, k1, k2 = 48, 40, 8
    top = rng.normal(0, 4.0, (k1, latent_dim))
    sub = top[:, None, :] + rng.normal(0, 1.5, (k1, k2, latent_dim))
    weights = rng.dirichlet(np.full(k1 * k2, 0.7))
    comp = rng.choice(k1 * k2, size=n, p=weights)
    latent = sub.reshape(-1, latent_dim)[comp] + rng.normal(0, 0.8, (n, latent_dim))
    proj = rng.normal(0, 1.0 / np.sqrt(latent_dim), (latent_dim, FEATURE_DIM))
    feats = np.empty((n, FEATURE_DIM), np.float32)
    for s in range(0, n, 8192):  # chunked: the N x 1280 float64 intermediate would be 1 GB at 100k
        block = latent[s:s + 8192] @ proj + rng.normal(0, 0.3, (min(8192, n - s), FEATURE_DIM))
        feats[s:s + 8192] = np.maximum(block, 0)
    storage.write_npy(paths.features, feats)
    return {"items": n, "dimension": FEATURE_DIM, "model": "synthetic-gaussian-mixture"}


def _forget_cells(storage: Any, name: str) -> None:
    from cviz.ingest.catalogue import usable_items
    from cviz.paths import CollectionPaths
    from cviz.render import cells
    from cviz.stages.common import load_config

    size = load_config(storage, name).cell_size
    for e in usable_items(storage.read_json(CollectionPaths(name).catalogue)):
        path = storage.os_path(cells.cached_cell_path(e["sha256"], size))
        if path and os.path.exists(path):
            os.unlink(path)
    storage.remove_tree(f"published/{name}/images")


def _prefill_cells(storage: Any, name: str) -> dict[str, Any]:
    """Synthetic only: fill the cell cache and item images as the features stage's hook would.

    Synthetic items are copies of the source paintings, so each distinct painting is decoded once
    and its cell / item image bytes are written under every copy's content hash. This stands in
    for ``cviz.render.cells.derive_from_decoded`` called from the features stage (which decodes every
    image anyway); ``mosaic_cold`` measures the full cost of doing it inside the mosaic instead.
    """
    from cviz.ingest.catalogue import open_source, usable_items
    from cviz.ingest.decode import decode
    from cviz.paths import CollectionPaths
    from cviz.render import cells
    from cviz.render.cells import item_image_rel
    from cviz.render.mosaic import MOSAIC_BACKGROUND
    from cviz.stages.common import load_config

    paths = CollectionPaths(name)
    size = load_config(storage, name).cell_size
    catalogue = storage.read_json(paths.catalogue)
    fs, base = open_source(catalogue, storage.storage_options)
    made: dict[bytes, tuple[bytes, bytes]] = {}
    writes = []
    for e in usable_items(catalogue):
        data = fs.cat_file(f"{base}/{e['file']}")
        body = data[:2] + data[data.index(b"\xff", 2) + 4 + int.from_bytes(data[4:6], "big") - 2:]
        if body not in made:
            img, _ = decode(data, max_side=max(cells.ITEM_IMAGE_SIDE, *size))
            made[body] = (cells.encode(cells.make_cell(img, size, MOSAIC_BACKGROUND)), cells.item_image(img))
        cell, item = made[body]
        writes.append((cells.cached_cell_path(e["sha256"], size), cell))
        writes.append((f"{paths.published}/{item_image_rel(e['sha256'])}", item))
    storage.write_many(writes, 8)
    return {"items": len(writes) // 2, "distinct_images_decoded": len(made)}


def _make_images(args: tuple[list[str], str, int, int]) -> int:
    """Worker: write synthetic JPEGs ``start .. start+count``: a real painting plus a unique comment.

    The JPEG comment (COM) segment right after the start-of-image marker makes every file's bytes,
    hence its content hash, distinct (the catalogue would otherwise drop copies as duplicates)
    while its pixels, size and decode cost stay those of the real image.
    """
    sources, out, start, count = args
    blobs: dict[str, bytes] = {}
    for i in range(start, start + count):
        src = sources[i % len(sources)]
        if src not in blobs:
            with open(src, "rb") as f:
                blobs[src] = f.read()
        data = blobs[src]
        comment = f"cviz synthetic item {i}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        with open(f"{out}/s{i:07d}.jpg", "wb") as f:
            f.write(data[:2] + segment + data[2:])
    return count


def synthetic_collection(n: int, source: Path, workers: int = 2) -> Path:
    """``benchmarks/results/synth-<n>/{images/, metadata.csv}``, made once and reused."""
    folder = RESULTS / f"synth-{n}"
    images = folder / "images"
    done = folder / ".complete"
    if done.exists():
        return folder
    images.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p) for p in (source / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if not sources:
        raise SystemExit(f"no JPEGs under {source}/images to build synthetic images from")
    started = time.perf_counter()
    chunk = 500
    jobs = [(sources, str(images), s, min(chunk, n - s)) for s in range(0, n, chunk)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        made = 0
        for c in pool.map(_make_images, jobs):
            made += c
            print(f"  synthetic images: {made}/{n}", end="\r", flush=True)
    import random

    rnd = random.Random(n)
    words = "Still Life Portrait Landscape Study Composition Field Garden Harbour Night Olive Trees".split()
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["filename", "title", "artist", "date", "collection", "url"])
        for i in range(n):
            w.writerow([f"s{i:07d}.jpg", " ".join(rnd.sample(words, 3)), f"Artist {rnd.randrange(300)}",
                        str(rnd.randrange(1600, 2000)), rnd.choice(["paintings", "prints", "photos", "drawings"]),
                        f"https://example.org/item/{i}"])
    done.write_text(f"{n} images in {time.perf_counter() - started:.1f} s\n")
    print()
    return folder


# -- the run -------------------------------------------------------------------------------------
def register(root: Path, name: str, images: Path, metadata: Path | None, tile: str) -> None:
    from cviz.ingest.collection import CollectionConfig
    from cviz.stages.common import register as write_config
    from cviz.storage import open_storage

    spec: dict[str, Any] = {"name": name, "images": str(images), "cell": tile}
    if metadata and metadata.exists():
        spec["metadata"] = str(metadata)
    write_config(open_storage(str(root)), CollectionConfig.from_dict(spec))


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--collection", type=Path, default=DEFAULT_COLLECTION,
                   help="collection folder with images/ and metadata.csv (default ../shared/data/imageplot)")
    p.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="N synthetic images made from --collection's, with synthetic feature vectors")
    p.add_argument("--grid-method", default="auto", help="auto, flas, lap, rasterfairy or sorted")
    p.add_argument("--stages", default=",".join(DEFAULT_STAGES),
                   help=f"comma-separated subset of {','.join(ALL_STAGES)} (earlier outputs must exist in --root)")
    p.add_argument("--root", type=Path, default=None, help="storage root (default benchmarks/results/root)")
    p.add_argument("--tile", default="128x128")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/<name>-<time>.json)")
    args = p.parse_args(argv)

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(ALL_STAGES))
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; choose from {ALL_STAGES}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    root = (args.root or RESULTS / "root").resolve()
    if args.synthetic:
        name = f"synth-{args.synthetic}"
        print(f"synthetic collection of {args.synthetic} images (made once, then reused) ...")
        folder = synthetic_collection(args.synthetic, args.collection)
    else:
        folder = args.collection
        name = folder.name.lower().replace("_", "-")
    if "images" in stages or not (root / "collections" / name / "collection.json").exists():
        register(root, name, folder / "images", folder / "metadata.csv", args.tile)

    opts = {"synthetic": args.synthetic, "seed": args.seed, "model": args.model, "grid_method": args.grid_method}
    summary: dict[str, Any] = {
        "collection": name, "source": str(folder), "root": str(root), "grid_method": args.grid_method,
        "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.processor()},
        "load_before": loadavg(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "stages": {},
    }
    print(f"{'stage':<14}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}{'items/s':>11}  notes")
    for stage in stages:
        res = run_stage_in_child(stage, str(root), name, opts)
        items = res["values"].get("items") or res["values"].get("usable")
        res["items_per_s"] = round(items / res["wall_s"], 1) if items and res["wall_s"] > 0 else None
        res["load"] = loadavg()
        summary["stages"][stage] = res
        v = res["values"]
        notes = {"grid": lambda: f"method={v.get('method')} dpq_16={v.get('dpq_16')} mnd={v.get('mean_neighbour_distance')}",
                 "tsne": lambda: f"{v.get('method')} {v.get('mode', '')}",
                 "mosaic_cold": lambda: f"cells decoded={v.get('cells_decoded')} cached={v.get('cells_cached')}",
                 "mosaic": lambda: f"cells decoded={v.get('cells_decoded')} cached={v.get('cells_cached')}",
                 "dzi": lambda: f"tiles={v.get('tiles')}"}.get(stage, lambda: "")()
        print(f"{stage:<14}{res['wall_s']:>9.2f}{res['cpu_s']:>9.2f}{res['peak_rss_mb']:>13.0f}{res['items_per_s'] or 0:>11.0f}  {notes}",
              flush=True)
    st = summary["stages"]
    summary["load_after"] = loadavg()
    summary["peak_rss_mb"] = max((s["peak_rss_mb"] for s in st.values()), default=0)
    if "mosaic" in st and "dzi" in st:
        summary["mosaic_plus_dzi"] = {"wall_s": round(st["mosaic"]["wall_s"] + st["dzi"]["wall_s"], 2),
                                      "cpu_s": round(st["mosaic"]["cpu_s"] + st["dzi"]["cpu_s"], 2),
                                      "peak_rss_mb": max(st["mosaic"]["peak_rss_mb"], st["dzi"]["peak_rss_mb"])}
    if "grid" in st:
        summary["quality"] = {k: st["grid"]["values"].get(k) for k in ("method", "dpq_16", "mean_neighbour_distance", "dpq_method")}
    out = args.out or RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.write_text(json.dumps(summary, indent=1))
    print(f"whole run peak RSS {summary['peak_rss_mb']:.0f} MB; load {summary['load_before']} -> {summary['load_after']}")
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
