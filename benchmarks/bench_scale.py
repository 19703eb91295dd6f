"""Scale benchmark: the stages after `features` on N synthetic items (13,000 to 1,000,000).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_scale.py --items 100000
    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_scale.py --items 1000000 --add-percent 1

What it makes, fast, under ``--root`` (default ``/tmp/cviz-scale-<N>``, removed afterwards unless
``--keep``):

- N real JPEG files of ``--image-side`` px (default 32): one small picture per sub-cluster of the
  feature mixture below (its colour says which), each file made byte-distinct by a JPEG comment
  segment (a different content hash, the same decode cost), so the catalogue, the mosaic and the
  pyramid do real work while 1,000,000 files stay near 1 GB of disk;
- a metadata CSV: ``filename``, ``title``, ``date`` (a year), ``department`` (8 values, for the
  category layout), ``cluster`` (the mixture's top cluster) and ``subjects``, a many-valued
  ``|``-separated column (the item's sub-cluster plus one to three of 400 shared tags); ``cluster``
  and ``subjects`` are the collection's label columns, so the quality figures mean something;
- the `features` stage's output written directly (the CNN is skipped, as bench.py ``--synthetic``
  does): 1280-d vectors of a two-level Gaussian mixture (40 clusters x 8 sub-clusters on a 48-d
  subspace plus noise, non-negative like pooled ReLU features), generated per block of 8,192 items
  from a seed of its own, so item i's vector is the same whatever N is (an update adds items
  without changing the old ones).

Then it runs the real stages through ``cviz.stages.registry`` (what the Dagster assets call), each
in a fresh process: ``images`` (the catalogue; before features, timed but not counted), then pca,
tsne, grid, mosaic, dzi, metadata_json, viewer_extras, timeline_layout, category_layout, publish.
Per stage: wall s, CPU s (user + system, all threads and child processes) and peak RSS; then the
bytes the published version holds. ``--add-percent P`` then adds P% new items and runs the stable
update (pca and tsne with ``update=place_new``, grid ``keep_previous``) through publish again.

The cell size is ``--cell`` (default 32 px at every N, so figures compare: 1,000,000 items make a
32,000 px square mosaic, about 21,000 Deep Zoom tiles of 256 px per layout, a few GB of disk). The machine is shared: the load average is printed before,
after and per stage; CPU seconds are what the load does not inflate.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FEATURE_DIM = 1280
LATENT, K1, K2 = 48, 40, 8
BLOCK = 8192
TAGS = 400
DEPARTMENTS = ["paintings", "prints", "photographs", "drawings", "textiles", "ceramics", "metalwork", "books"]
STAGES = ["pca", "tsne", "grid", "mosaic", "dzi", "metadata_json", "viewer_extras", "timeline_layout",
          "category_layout", "publish"]
UPDATE_STAGES = ["pca", "tsne", "grid", "mosaic", "dzi", "metadata_json", "viewer_extras", "publish"]


# -- the synthetic collection ----------------------------------------------------------------------
class Mixture:
    """The feature distribution: fixed by ``seed``; ``block(b)`` gives items b*BLOCK .. (b+1)*BLOCK-1."""

    def __init__(self, seed: int) -> None:
        import numpy as np

        rng = np.random.default_rng(seed)
        self.seed = seed
        top = rng.normal(0, 4.0, (K1, LATENT))
        self.centres = (top[:, None, :] + rng.normal(0, 1.5, (K1, K2, LATENT))).reshape(-1, LATENT)
        self.weights = rng.dirichlet(np.full(K1 * K2, 0.7))
        self.proj = rng.normal(0, 1.0 / np.sqrt(LATENT), (LATENT, FEATURE_DIM))

    def components(self, b: int) -> Any:
        import numpy as np

        return np.random.default_rng((self.seed, b, 0)).choice(K1 * K2, size=BLOCK, p=self.weights)

    def block(self, b: int) -> Any:
        """BLOCK x 1280 float32 vectors of block ``b`` (float64 only for this block)."""
        import numpy as np

        rng = np.random.default_rng((self.seed, b, 1))
        latent = self.centres[self.components(b)] + rng.normal(0, 0.8, (BLOCK, LATENT))
        out = latent @ self.proj + rng.normal(0, 0.3, (BLOCK, FEATURE_DIM))
        return np.maximum(out, 0).astype(np.float32)


def _base_jpegs(side: int) -> list[bytes]:
    """One small JPEG per sub-cluster: a two-colour gradient whose hue says the top cluster."""
    import colorsys

    import numpy as np
    from PIL import Image

    out = []
    ramp = np.linspace(0, 1, side, dtype=np.float32)
    for c in range(K1 * K2):
        top, sub = divmod(c, K2)
        a = np.array(colorsys.hsv_to_rgb(top / K1, 0.8, 0.95), np.float32)
        b = np.array(colorsys.hsv_to_rgb(top / K1, 0.4 + 0.07 * sub, 0.35 + 0.07 * sub), np.float32)
        t = ramp[None, :, None] if sub % 2 else ramp[:, None, None]
        px = (255 * (a * (1 - t) + b * t)) * np.ones((side, side, 1), np.float32)
        buf = io.BytesIO()
        Image.fromarray(px.astype(np.uint8)).save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def _write_block(args: tuple[str, int, int, int, int, int]) -> int:
    """Worker: the JPEG files and CSV rows of items ``start .. stop`` (one block of the mixture)."""
    import numpy as np

    folder, b, start, stop, seed, side = args
    mix = Mixture(seed)
    comps = mix.components(b)
    bases = _base_jpegs(side)
    rng = np.random.default_rng((seed, b, 2))
    rows = []
    for i in range(start, stop):
        comp = int(comps[i - b * BLOCK])
        top, sub = divmod(comp, K2)
        data = bases[comp]
        comment = f"cviz scale item {i}".encode()
        with open(f"{folder}/images/s{i:07d}.jpg", "wb") as f:
            f.write(data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:])
        tags = [f"c{top}s{sub}"] + [f"tag{int(t)}" for t in rng.choice(TAGS, size=int(rng.integers(1, 4)), replace=False)]
        rows.append([f"s{i:07d}.jpg", f"Item {i} of group {top}.{sub}", str(1500 + 12 * top + int(rng.integers(0, 40))),
                     DEPARTMENTS[(top + int(rng.integers(0, 2))) % len(DEPARTMENTS)], f"c{top}", "|".join(tags)])
    with open(f"{folder}/rows-{b:06d}.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return stop - start


def make_collection(folder: Path, start: int, stop: int, seed: int, side: int, workers: int = 2) -> float:
    """Files and CSV rows of items ``start .. stop`` (appended to metadata.csv); seconds taken."""
    t0 = time.perf_counter()
    (folder / "images").mkdir(parents=True, exist_ok=True)
    jobs = []
    for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        lo, hi = max(start, b * BLOCK), min(stop, (b + 1) * BLOCK)
        jobs.append((str(folder), b, lo, hi, seed, side))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = 0
        for c in pool.map(_write_block, jobs):
            done += c
            print(f"  synthetic items {done}/{stop - start}", end="\r", flush=True)
    csv_path = folder / "metadata.csv"
    with open(csv_path, "a", newline="", encoding="utf-8") as out:
        if start == 0:
            csv.writer(out).writerow(["filename", "title", "date", "department", "cluster", "subjects"])
        for _, b, *_ in jobs:
            part = folder / f"rows-{b:06d}.csv"
            out.write(part.read_text(encoding="utf-8"))
            part.unlink()
    print()
    return time.perf_counter() - t0


def write_features(root: str, name: str, seed: int) -> dict[str, Any]:
    """The features stage's output for the catalogue's usable items (rows in its order), made from
    the mixture block by block: never more than one block in float64."""
    import numpy as np

    from cviz.ingest.catalogue import usable_items
    from cviz.paths import CollectionPaths
    from cviz.storage import open_storage

    storage = open_storage(root)
    paths = CollectionPaths(name)
    index = np.array([int(e["file"].rsplit("/", 1)[-1][1:8]) for e in usable_items(storage.read_json(paths.catalogue))])
    mix = Mixture(seed)
    out = np.lib.format.open_memmap(storage.os_path(paths.features) + ".tmp.npy", mode="w+", dtype=np.float32,
                                    shape=(len(index), FEATURE_DIM))
    for b in np.unique(index // BLOCK):
        rows = np.flatnonzero(index // BLOCK == b)
        out[rows] = mix.block(int(b))[index[rows] - b * BLOCK]
    out.flush()
    del out
    os.replace(storage.os_path(paths.features) + ".tmp.npy", storage.os_path(paths.features))
    return {"items": int(len(index)), "dimension": FEATURE_DIM, "model": "synthetic-gaussian-mixture"}


# -- one stage in its own process ----------------------------------------------------------------
def _usage() -> tuple[float, float]:
    """(CPU seconds of this process and its finished children, peak RSS MB of the larger)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            max(me.ru_maxrss, kids.ru_maxrss) / 1024.0)


def _call(stage: str, storage: Any, name: str, opts: dict[str, Any]) -> dict[str, Any]:
    from cviz.stages import registry

    update = opts.get("update", False)
    if stage == "images":
        return registry.stage_images(storage, name).values
    if stage == "features":
        return write_features(opts["root"], name, opts["seed"])
    if stage == "pca":
        return registry.stage_pca(storage, name, update="place_new" if update else "recompute").values
    if stage == "tsne":
        sampling = {k: opts[k] for k in ("sample_above", "sample_size") if opts.get(k)}
        return registry.stage_tsne(storage, name, update="place_new" if update else "recompute", **sampling).values
    if stage == "grid":
        return registry.stage_grid(storage, name, keep_previous=update).values
    if stage.endswith("_layout"):
        from cviz.stages.layouts import stage_layout

        return stage_layout(storage, name, stage[: -len("_layout")]).values
    return getattr(registry, f"stage_{stage}")(storage, name).values


def _run_stage(stage: str, root: str, name: str, opts: dict[str, Any]) -> dict[str, Any]:
    from cviz.storage import open_storage

    storage = open_storage(root)
    cpu0, _ = _usage()
    t0 = time.perf_counter()
    values = _call(stage, storage, name, {**opts, "root": root})
    wall = time.perf_counter() - t0
    cpu, rss = _usage()
    plain = {k: v for k, v in values.items() if isinstance(v, (int, float, str, bool)) or v is None}
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu - cpu0, 2), "peak_rss_mb": round(rss), "values": plain}


def run_stage(stage: str, root: str, name: str, opts: dict[str, Any]) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_run_stage, stage, root, name, opts).result()


# -- the run ------------------------------------------------------------------------------------------
def _register(root: Path, name: str, folder: Path, cell: int) -> None:
    from cviz.ingest.collection import CollectionConfig
    from cviz.stages.common import register
    from cviz.storage import open_storage

    register(open_storage(str(root)), CollectionConfig.from_dict({
        "name": name, "images": str(folder / "images"), "metadata": str(folder / "metadata.csv"),
        "tile": f"{cell}x{cell}", "title": "{title}", "label_columns": ["cluster", "subjects"],
        "layouts": {"timeline": True, "category": {"column": "department"}}}))


def _published_bytes(root: Path, name: str) -> tuple[int, int]:
    """(bytes, files) of what the live ``current.json`` names: the similarity version's folder and
    each layout's version folder."""
    base = root / "published" / name
    current = json.loads((base / "current.json").read_text())
    folders = {base / current["dzi"].rsplit("/", 1)[0]}
    folders |= {base / entry["dzi"].rsplit("/", 1)[0] for entry in (current.get("layouts") or {}).values()}
    total = files = 0
    for folder in folders:
        for dirpath, _, names in os.walk(folder):
            for n in names:
                total += os.stat(os.path.join(dirpath, n)).st_size
                files += 1
    return total, files


def _stage_note(stage: str, v: dict[str, Any]) -> str:
    if stage == "tsne":
        return f"{v.get('method')}; kNN16 {v.get('knn16_tsne')}; {v.get('note', '')[:60]}"
    if stage == "grid":
        return (f"{v.get('method')}; kNN16 {v.get('knn16_grid')}; cluster {v.get('label_cluster_grid')} "
                f"subjects {v.get('label_subjects_grid')}; DPQ16 {v.get('dpq_16')}")
    if stage in ("mosaic", "dzi") or stage.endswith("_layout"):
        return f"tiles {v.get('tiles', '')}"
    return ""


def run_stages(stages: list[str], root: Path, name: str, opts: dict[str, Any], results: dict[str, Any],
               prefix: str = "", save: Any = None) -> None:
    """Each stage in a fresh process; ``save()`` after each, so a run cut short keeps its figures."""
    for stage in stages:
        res = run_stage(stage, str(root), name, opts)
        res["load"] = [round(x, 2) for x in os.getloadavg()]
        results[prefix + stage] = res
        print(f"{prefix + stage:<22}{res['wall_s']:>9.1f}{res['cpu_s']:>9.1f}{res['peak_rss_mb']:>9.0f}"
              f"  {res['load'][0]:>5.2f}  {_stage_note(stage, res['values'])}", flush=True)
        if save:
            save()


def _totals(results: dict[str, Any], stages: list[str], prefix: str = "") -> dict[str, float]:
    rows = [results[prefix + s] for s in stages if prefix + s in results]
    return {"wall_s": round(sum(r["wall_s"] for r in rows), 1), "cpu_s": round(sum(r["cpu_s"] for r in rows), 1),
            "peak_rss_mb": max((r["peak_rss_mb"] for r in rows), default=0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, required=True, help="N synthetic items")
    p.add_argument("--cell", type=int, default=32, help="cell side in px (default 32: 1,000,000 items make a 32,000 px square map)")
    p.add_argument("--image-side", type=int, default=32, help="side of the synthetic JPEG files")
    p.add_argument("--root", type=Path, default=None, help="work folder (default /tmp/cviz-scale-<N>)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (default: removed at the end)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"subset of {','.join(STAGES)}")
    p.add_argument("--add-percent", type=float, default=0.0, help="then add this %% of new items and run the stable update")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tsne-sample-above", type=int, default=0,
                   help="t-SNE on a sample above this many items (default: cviz.arrange.tsne.SAMPLE_ABOVE)")
    p.add_argument("--tsne-sample-size", type=int, default=0, help="that sample's size (default: SAMPLE_SIZE)")
    p.add_argument("--out", type=Path, default=None, help="JSON results (default benchmarks/results/scale-<N>-<time>.json)")
    args = p.parse_args(argv)

    n = args.items
    cell = args.cell
    root = (args.root or Path(f"/tmp/cviz-scale-{n}")).resolve()
    folder = root / "source"
    name = f"scale-{n}"
    stages = [s for s in args.stages.split(",") if s]
    free = shutil.disk_usage(root.parent if root.parent.exists() else "/").free
    print(f"{n} items, {cell} px cells, root {root}; {free / 1e9:.0f} GB free on its disk; "
          f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; {os.cpu_count()} CPUs (shared)")
    summary: dict[str, Any] = {"items": n, "cell": cell, "command": " ".join(["bench_scale.py", *(argv or sys.argv[1:])]),
                               "load_before": os.getloadavg(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "stages": {}}
    out = args.out or REPO / "benchmarks" / "results" / f"scale-{n}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out.write_text(json.dumps(summary, indent=1, default=float))

    try:
        if root.exists():
            shutil.rmtree(root)
        summary["make_seconds"] = round(make_collection(folder, 0, n, args.seed, args.image_side), 1)
        _register(root, name, folder, cell)
        print(f"made {n} files + CSV in {summary['make_seconds']} s\n"
              f"{'stage':<22}{'wall s':>9}{'cpu s':>9}{'RSS MB':>9}  {'load':>5}  notes")
        opts = {"seed": args.seed, "sample_above": args.tsne_sample_above, "sample_size": args.tsne_sample_size}
        run_stages(["images", "features"] + stages, root, name, opts, summary["stages"], save=save)
        summary["after_features"] = _totals(summary["stages"], stages)
        if "publish" in stages:
            summary["published_bytes"], summary["published_files"] = _published_bytes(root, name)
        if args.add_percent > 0:
            extra = max(1, int(round(n * args.add_percent / 100)))
            make_collection(folder, n, n + extra, args.seed, args.image_side)
            run_stages(["images", "features"] + UPDATE_STAGES, root, name, {**opts, "update": True},
                       summary["stages"], prefix="update:", save=save)
            summary["update_after_features"] = _totals(summary["stages"], UPDATE_STAGES, "update:")
            summary["update_items"] = extra
    finally:
        summary["load_after"] = os.getloadavg()
        if not args.keep and root.exists():
            shutil.rmtree(root, ignore_errors=True)
    t = summary["after_features"]
    print(f"stages after features: {t['wall_s']:.0f} s wall, {t['cpu_s']:.0f} s CPU, peak RSS {t['peak_rss_mb']:.0f} MB")
    if "published_bytes" in summary:
        print(f"published: {summary['published_bytes'] / 1e6:.1f} MB in {summary['published_files']} files")
    if "update_after_features" in summary:
        u = summary["update_after_features"]
        print(f"update (+{summary['update_items']} items) after features: {u['wall_s']:.0f} s wall, "
              f"{u['cpu_s']:.0f} s CPU, peak RSS {u['peak_rss_mb']:.0f} MB")
    print(f"load {summary['load_before']} -> {summary['load_after']}; the machine is shared with other developers")
    save()
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
