"""Quality benchmark: which layout choices keep an item's neighbours next to it on the grid.

Runs the layout stages' own functions (cviz.embed.pca, cviz.arrange.tsne, cviz.arrange.grid, cviz.arrange.refine) with
method choices forced (``auto`` never picks for a row) and prints, per collection, a table of
the measures of cviz.measure.quality with the seconds per stage:

- kNN16 / kNN50: share of an item's 8 grid neighbours (t-SNE: 8 nearest in 2-D) that are among
  its 16 / 50 nearest neighbours in feature space (cosine on the L2-normalised features, computed
  once per collection, the same for every row);
- per label column: grid 8-neighbour agreement (share of a cell's labelled neighbours with a label
  in common), P@8 of the t-SNE layout, P@10 of the features, chance by shuffled labels;
- DPQ_16 (vc-flas' distance preservation quality, on the L2-normalised PCA features).

Collections: ``imageplot`` (../shared/data/imageplot, labels collection and period), ``met-sample``
(`cviz sample`, label department), both with real EfficientNet-Lite0 features computed once and
cached under benchmarks/results/ (benchmarks/quality_data.py); ``synthetic:N`` (Gaussian
clusters with known labels, for speed and memory only).

Rows: ``original``: the original tool's configuration (features as they are, PCA 256, t-SNE
perplexity 30, 1000 iterations, angle 0.1 (MulticoreTSNE when importable, else openTSNE Barnes-Hut
with the same settings: the row says which), RasterFairy); ``before``: cviz's defaults before
this benchmark (PCA on raw features, t-SNE on 50 components, perplexity 30, ``auto`` = lap up to
2,000 items else FLAS on PCA); then every grid method with and without the refinement pass on the
new t-SNE (L2-normalised features, all 256 components, exact kNN, perplexity 15), with ``default``
marking today's defaults; ``stable``: the new defaults rebuilt after adding 1% new items with
``place_new`` + ``keep_previous`` against the full recompute (kNN16 loss must stay <= 0.01);
``regions``: region naming on the default grid (benchmarks/naming_quality.py), before (the naming
as of commit 86d643f) and after, by the label columns and by title words alone, with the share
threshold swept: per scale named regions, purity (mean share of a region's items carrying its
first term), coverage, repeated names, lower-case or stop-word name parts.

    .venv/bin/python benchmarks/bench_quality.py                          # imageplot, met-sample
    .venv/bin/python benchmarks/bench_quality.py --rows default,stable --precisions float32,int8   # int8 vs float32
    .venv/bin/python benchmarks/bench_quality.py --collections synthetic:13000 --rows default,before
    .venv/bin/python benchmarks/bench_quality.py --collections synthetic:100000 --rows default --timing-only

Timings are wall seconds on this machine, printed with the load average (the machine is shared).
JSON with every row goes to benchmarks/results/quality-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from quality_data import RESULTS, real_collection, real_titles, synthetic_clusters  # noqa: E402

from cviz.arrange.grid import LAP_MAX, assign_grid  # noqa: E402
from cviz.arrange.refine import REFINE_K, KnnGraph  # noqa: E402
from cviz.arrange.tsne import DEFAULT_PERPLEXITY, place_new, run_tsne  # noqa: E402
from cviz.embed.pca import project, run_pca  # noqa: E402
from cviz.measure.dpq import dpq  # noqa: E402
from cviz.measure.knn import approximate_knn, unit_rows  # noqa: E402
from cviz.measure.quality import feature_neighbours, neighbourhood_quality  # noqa: E402

CELL = (128, 128)
GRID_METHODS = ("flas_tsne", "flas", "lap", "rasterfairy", "sorted")


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Layout:
    """PCA + t-SNE of one collection under one configuration, with their seconds."""

    pca: np.ndarray
    tsne: np.ndarray
    method: str
    seconds: dict[str, float] = field(default_factory=dict)


CPU: dict[str, float] = {}  # CPU seconds (all threads) of the last timed call per label


def timed(fn: Callable[[], Any], label: str = "") -> tuple[Any, float]:
    """(result, wall seconds); the CPU seconds go to CPU[label]: on a shared machine wall time is
    inflated by the others' load, CPU time much less (2 quiet cores: wall >= CPU / 2)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    CPU[label] = time.process_time() - c
    return out, time.perf_counter() - t


def layout(features: np.ndarray, *, normalise: bool, dims: int, perplexity: float, exact_knn: bool,
           n_iter: int | None = None, angle: float | None = None, backend: str = "opentsne",
           early_iter: int | None = None) -> Layout:
    pca, s_pca = timed(lambda: run_pca(unit_rows(features) if normalise else features, 256).components, "pca")
    kw: dict[str, Any] = {"perplexity": perplexity, "dims": dims, "backend": backend}
    if n_iter is not None:
        kw["n_iter"] = n_iter
    if early_iter is not None:
        kw["early_iter"] = early_iter
    if angle is not None:
        kw["angle"] = angle

    def run() -> Any:
        if exact_knn:  # as stage_tsne does: one search (exact, or Annoy above 20,000), shared
            fn = feature_neighbours(pca, metric="euclidean")
            kw["neighbours"] = (fn.knn, fn.distances) if fn.exact else approximate_knn(pca, 50)
        return run_tsne(pca, **kw)

    res, s_tsne = timed(run, "tsne")
    return Layout(pca, res.embedding, res.method, {"pca": s_pca, "tsne": s_tsne,
                                                   "pca_cpu": CPU["pca"], "tsne_cpu": CPU["tsne"]})


def grid_of(lay: Layout, method: str, refine: bool) -> tuple[Any, float]:
    def run() -> Any:
        graph = KnnGraph.from_features(lay.pca, REFINE_K) if refine else None
        return assign_grid(lay.tsne, *CELL, method, features=lay.pca, refine=refine, graph=graph)
    return timed(run, "grid")


def measure(ref: Any, canon_pca: np.ndarray, lay: Layout, g: Any, labels: dict[str, list[str]]) -> dict[str, Any]:
    values = neighbourhood_quality(ref, points=lay.tsne, grid=(g.cells, g.cols, g.rows), labels=labels)
    values["dpq_16"] = round(dpq(canon_pca, g.cells, g.cols, g.rows)[0], 4)
    return values


def row_text(name: str, values: dict[str, Any], seconds: dict[str, float], columns: list[str]) -> str:
    cells = [name, f"{values['knn16_tsne']:.3f}", f"{values['knn16_grid']:.3f}", f"{values['knn50_grid']:.3f}"]
    for c in columns:
        g, t = values.get(f"label_{c}_grid"), values.get(f"label_{c}_tsne")
        cells.append(f"{g:.3f} / {t:.3f}" if g is not None and t is not None else "-")
    cells.append(f"{values['dpq_16']:.3f}")
    cells.append(", ".join(f"{values.get(f'label_{c}_grid_chance', 0):.2f}" for c in columns))
    cells += [f"{seconds.get(s, 0):.1f}" for s in ("pca", "tsne", "grid")]
    return "| " + " | ".join(cells) + " |"


def header(columns: list[str]) -> str:
    names = ["row", "kNN16 t-SNE", "kNN16 grid", "kNN50 grid"] + [f"{c} grid / t-SNE" for c in columns] + \
            ["DPQ16", "grid chance", "pca s", "tsne s", "grid s"]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def stable_update(features: np.ndarray, labels: dict[str, list[str]], ref: Any, canon_pca: np.ndarray,
                  share: float = 0.01, seed: int = 0, kept_fit: bool = True) -> dict[str, Any]:
    """Map 99% of the items, add 1% (random) with place_new + keep_previous, compare with a full
    recompute of all items; both measured on the same feature neighbours. ``kept_fit``: the update's
    PCA keeps the first map's fit and projects the new items (what `pca` does with place_new since
    it keeps the fit); False: PCA refitted on all items (what it did before)."""
    n = len(features)
    rng = np.random.default_rng(seed)
    new = np.sort(rng.choice(n, size=max(1, int(round(n * share))), replace=False))
    old = np.setdiff1d(np.arange(n), new)
    full = layout(features, normalise=True, dims=256, perplexity=DEFAULT_PERPLEXITY, exact_knn=True)
    g_full, _ = grid_of(full, "auto", True)
    # The previous map, built from the old items only (its own PCA and t-SNE), as a real first run.
    first = layout(features[old], normalise=True, dims=256, perplexity=DEFAULT_PERPLEXITY, exact_knn=True)
    g_first, _ = grid_of(first, "auto", True)
    # The update: PCA rows (the first map's fit kept, or refitted on all items), new points placed
    # into the old embedding, old cells kept.
    pca_all = full.pca
    if kept_fit:
        fit = run_pca(unit_rows(features[old]), 256)
        pca_all = np.empty((n, fit.components.shape[1]), np.float32)
        pca_all[old] = fit.components
        pca_all[new] = project(unit_rows(features[new]), fit.mean, fit.basis)
    (placed, s_tsne) = timed(lambda: place_new(pca_all, old, first.tsne, perplexity=DEFAULT_PERPLEXITY, dims=256))
    keep = {int(item): (int(c) % g_first.cols, int(c) // g_first.cols) for item, c in zip(old, g_first.cells)}
    upd = Layout(pca_all, placed.embedding, placed.method, {"tsne": s_tsne})
    g_upd, s_grid = timed(lambda: assign_grid(upd.tsne, *CELL, "auto", features=pca_all, keep=keep,
                                              graph=KnnGraph.from_features(pca_all, REFINE_K)))
    upd.seconds["grid"] = s_grid
    v_full = measure(ref, canon_pca, full, g_full, labels)
    v_upd = measure(ref, canon_pca, upd, g_upd, labels)
    return {"full": v_full, "update": v_upd, "new_items": len(new),
            "knn16_loss": round(v_full["knn16_grid"] - v_upd["knn16_grid"], 4),
            "knn50_loss": round(v_full["knn50_grid"] - v_upd["knn50_grid"], 4),
            "seconds_update": upd.seconds}


def reference_backend() -> str:
    try:
        import MulticoreTSNE  # noqa: F401
    except ImportError:
        return "opentsne"
    return "multicore"


def bench_collection(spec: str, rows: set[str], out: dict[str, Any]) -> None:
    if spec.startswith("synthetic:"):
        n = int(spec.split(":", 1)[1])
        features, labels = synthetic_clusters(n)
        name = f"synthetic-{n}"
    else:
        collection, _, precision = spec.partition("@")
        features, labels = real_collection(collection, precision or "float32")
        name = spec
    columns = list(labels)
    n = len(features)
    canon_pca = run_pca(unit_rows(features), 256).components
    ref = feature_neighbours(canon_pca, metric="euclidean")  # = cosine on the L2-normalised features
    print(f"\n## {name}: {n} items, labels {', '.join(columns)}; {load()}", flush=True)
    feats = neighbourhood_quality(ref, labels=labels)
    print("features P@10 (grid chance in brackets below): " + ", ".join(
        f"{c} {feats.get(f'label_{c}_features', 0):.3f} (chance {feats.get(f'label_{c}_features_chance', 0):.3f})"
        for c in columns), flush=True)
    print(header(columns), flush=True)
    results: dict[str, Any] = {"features": feats}

    def emit(row: str, lay: Layout, g: Any, s_grid: float) -> None:
        values = measure(ref, canon_pca, lay, g, labels)
        seconds = {**lay.seconds, "grid": s_grid}
        results[row] = {"values": values, "seconds": seconds, "tsne_method": lay.method, "grid_method": g.method,
                        "load": os.getloadavg()}
        print(row_text(row, values, seconds, columns), flush=True)

    if "original" in rows:
        backend = reference_backend()
        orig = layout(features, normalise=False, dims=256, perplexity=30.0, exact_knn=False, n_iter=750,
                      early_iter=250, angle=0.1, backend=backend)
        g, s = grid_of(orig, "rasterfairy", False)
        emit(f"original: {orig.method} p30 1000 it angle 0.1, RasterFairy", orig, g, s)
    if "before" in rows:
        before = layout(features, normalise=False, dims=50, perplexity=30.0, exact_knn=False)
        method = "lap" if n <= 2000 else "flas"
        g, s = grid_of(before, method, False)
        emit(f"before: PCA raw, t-SNE 50 dims p30, {method}", before, g, s)
    new = None
    if rows & {"default", "methods"}:
        new = layout(features, normalise=True, dims=256, perplexity=DEFAULT_PERPLEXITY, exact_knn=True)
        g, s = grid_of(new, "auto", True)
        emit(f"default: L2, t-SNE 256 dims exact kNN p{DEFAULT_PERPLEXITY:g}, auto = {g.method} + refine", new, g, s)
    if "methods" in rows and new is not None:
        for method in GRID_METHODS:
            if method == "lap" and n > LAP_MAX:
                continue
            for refine in (False, True):
                g, s = grid_of(new, method, refine)
                emit(f"{method}{' + refine' if refine else ''}", new, g, s)
    if "tsne" in rows:  # t-SNE levers on the default grid
        for label, kw in (("t-SNE 50 dims (Annoy) p15", {"dims": 50, "perplexity": 15.0, "exact_knn": False}),
                          ("t-SNE 256 dims exact kNN p30", {"dims": 256, "perplexity": 30.0, "exact_knn": True}),
                          ("t-SNE 256 dims exact kNN p15, no L2", {"dims": 256, "perplexity": 15.0, "exact_knn": True,
                                                                 "normalise": False})):
            kw.setdefault("normalise", True)
            lay = layout(features, **kw)
            g, s = grid_of(lay, "auto", True)
            emit(f"{label}, {g.method} + refine", lay, g, s)
    if "regions" in rows and not spec.startswith("synthetic:"):
        from naming_quality import naming_rows, table

        if new is None:
            new = layout(features, normalise=True, dims=256, perplexity=DEFAULT_PERPLEXITY, exact_knn=True)
        g, _ = grid_of(new, "auto", True)
        results["regions"] = naming_rows([int(c) for c in g.cells], g.cols, g.rows, labels, real_titles(spec))
        print(f"region naming on the default grid ({g.cols} x {g.rows}):\n{table(results['regions'])}", flush=True)
    if "stable" in rows:
        for kept, key, how in ((False, "stable_refit", "PCA refitted"), (True, "stable", "PCA fit kept")):
            st = stable_update(features, labels, ref, canon_pca, kept_fit=kept)
            results[key] = st
            print(f"stable update ({how}), {st['new_items']} new items (1%): kNN16 grid full {st['full']['knn16_grid']:.3f} "
                  f"vs update {st['update']['knn16_grid']:.3f} (loss {st['knn16_loss']:+.3f}); kNN50 loss "
                  f"{st['knn50_loss']:+.3f}; update seconds {st['seconds_update']}", flush=True)
    print(f"({load()})", flush=True)
    out[name] = results


def timing_only(spec: str, out: dict[str, Any]) -> None:
    """pca + tsne + grid of the defaults, as the stages run them, with the load; no comparison."""
    n = int(spec.split(":", 1)[1]) if spec.startswith("synthetic:") else None
    collection, _, precision = spec.partition("@")
    features, _ = synthetic_clusters(n) if n else real_collection(collection, precision or "float32")
    print(f"timing {spec}: {len(features)} items; {load()}", flush=True)
    lay = layout(features, normalise=True, dims=256, perplexity=DEFAULT_PERPLEXITY, exact_knn=True)
    g, s = grid_of(lay, "auto", True)
    seconds = {**lay.seconds, "grid": s, "grid_cpu": CPU["grid"]}
    seconds["total"] = seconds["pca"] + seconds["tsne"] + s
    seconds["total_cpu"] = seconds["pca_cpu"] + seconds["tsne_cpu"] + seconds["grid_cpu"]
    print(f"  {lay.method}, grid {g.method} (refine {g.refine.rounds if g.refine else 0} rounds, "
          f"{g.refine.swaps if g.refine else 0} swaps): " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
          + f"; {load()}", flush=True)
    out[spec] = {"seconds": seconds, "load": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--collections", default="imageplot,met-sample",
                   help="comma-separated: imageplot, met-sample, synthetic:N (default imageplot,met-sample)")
    p.add_argument("--rows", default="original,before,default,methods,tsne,stable,regions",
                   help="comma-separated subset of original,before,default,methods,tsne,stable,regions")
    p.add_argument("--timing-only", action="store_true", help="only time pca + tsne + grid of the defaults")
    p.add_argument("--precisions", default="float32",
                   help="feature precisions of the real collections, side by side (e.g. float32,int8): "
                        "each real collection is benchmarked once per precision, as NAME@PRECISION")
    args = p.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
    specs = [c.strip() for c in args.collections.split(",") if c.strip()]
    specs = [s if s.startswith("synthetic:") or "@" in s else (s if pr == "float32" else f"{s}@{pr}")
             for s in specs for pr in (precisions if not s.startswith("synthetic:") else ["float32"])]
    for spec in specs:
        if args.timing_only:
            timing_only(spec, out)
        else:
            bench_collection(spec, rows, out)
    out["load_after"] = os.getloadavg()
    path = RESULTS / f"quality-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
