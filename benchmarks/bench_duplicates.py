"""Near-duplicate threshold: precision and recall of cviz.publish.duplicates on real images with edited copies.

For each collection, every photo plus one edited copy of every few photos (tests/duplicate_set.py:
resized to half, JPEG quality 30, cropped 5%, mirrored, in turn), Lite0 features as the features
stage computes them, neighbour lists as the tsne stage searches them (Euclidean on the PCA of the
L2-normalised features), then ``find_duplicates`` at a sweep of thresholds: precision and recall of
the item pairs it groups, recall per edit, and the distinct photos it wrongly joins.

Truth: a copy and its original are one picture; so are pairs a person checked by eye and listed in
``SAME_PICTURE`` (the collection's own duplicates); every other pair is distinct.

    CVIZ_MODEL_CACHE=/tmp/models .venv/bin/python benchmarks/bench_duplicates.py [--collections imageplot,met-sample]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from quality_data import IMAGEPLOT, RESULTS  # noqa: E402

from cviz.publish.duplicates import THRESHOLD, find_duplicates, pair_scores  # noqa: E402
from tests.duplicate_set import features_of, labelled_set  # noqa: E402

THRESHOLDS = (0.04, 0.06, 0.08, 0.10, 0.11, 0.12, 0.125, 0.13, 0.135, 0.14, 0.145, 0.15, 0.16, 0.18)
# Photos of a collection that show the same picture (checked by eye): one reproduction twice.
SAME_PICTURE = {"imageplot": [("271.jpg", "275.jpg")]}


def folder_of(name: str) -> Path:
    if name == "imageplot":
        return IMAGEPLOT / "images"
    if name == "met-sample":  # written once under benchmarks/results, as bench_quality does
        from quality_data import _collection_folder

        return _collection_folder("met-sample") / "images"
    raise SystemExit(f"unknown collection {name!r}")


def pipeline_knn(features: np.ndarray, k: int = 50) -> np.ndarray:
    """The tsne stage's neighbour lists: PCA (up to 256 components) of the L2-normalised features,
    exact Euclidean nearest rows."""
    from cviz.embed.pca import run_pca
    from cviz.measure.knn import feature_knn, unit_rows

    pca = run_pca(unit_rows(features), min(256, len(features) - 1, features.shape[1])).components
    return feature_knn(pca, min(k, len(pca) - 1), metric="euclidean")


def bench(name: str, copies: int, extractor) -> dict:
    folder = folder_of(name)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    datas, truth, kind = labelled_set(files, copies)
    index = {f.name: i for i, f in enumerate(files)}
    for a, b in SAME_PICTURE.get(name, []):
        truth = [truth[index[a]] if t == truth[index[b]] else t for t in truth]
    t0 = time.perf_counter()
    feats = features_of(datas, extractor)
    s_feat = time.perf_counter() - t0
    knn = pipeline_knn(feats)
    print(f"\n## {name}: {len(files)} photos + {len(datas) - len(files)} edited copies; features {s_feat:.1f} s; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| threshold | precision | recall | " + " | ".join(f"recall {k}" for k in dict.fromkeys(kind[len(files):]))
          + " | groups | wrong joins (distinct photos grouped) |\n|" + "---|" * (5 + len(set(kind[len(files):]))))
    rows = {}
    for t in THRESHOLDS:
        t1 = time.perf_counter()
        got = find_duplicates(feats, knn, threshold=t)
        s = time.perf_counter() - t1
        p, r = pair_scores(got.groups, truth)
        group_of = {i: g for g, m in enumerate(got.groups) for i in m}
        per_kind = {}
        for k in dict.fromkeys(kind[len(files):]):
            mine = [i for i in range(len(files), len(datas)) if kind[i] == k]
            per_kind[k] = sum(group_of.get(i, -1) == group_of.get(truth[i], -2) for i in mine) / len(mine)
        wrong = [[files[truth[i]].name if kind[i] == "original" else f"{files[truth[i]].name} ({kind[i]})" for i in g]
                 for g in got.groups if len({truth[i] for i in g}) > 1]
        rows[t] = {"precision": p, "recall": r, "recall_by_edit": per_kind, "groups": len(got.groups),
                   "wrong": wrong, "seconds": s}
        mark = " (THRESHOLD)" if abs(t - THRESHOLD) < 1e-9 else ""
        print(f"| {t:.3f}{mark} | {p:.3f} | {r:.3f} | " + " | ".join(f"{v:.3f}" for v in per_kind.values())
              + f" | {len(got.groups)} | {len(wrong)}: {'; '.join(' + '.join(w) for w in wrong[:3])} |", flush=True)
    return {"photos": len(files), "copies": len(datas) - len(files), "features_seconds": s_feat, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--collections", default="imageplot,met-sample")
    p.add_argument("--copies", type=int, default=200, help="edited copies per collection (at most one per photo)")
    args = p.parse_args(argv)
    from cviz.embed.models import load_extractor

    extractor = load_extractor("efficientnet_lite0", "imagenet", cache_dir=os.environ.get("CVIZ_MODEL_CACHE"))
    out = {"command": " ".join(sys.argv), "load_before": os.getloadavg(), "threshold": THRESHOLD}
    for name in [c.strip() for c in args.collections.split(",") if c.strip()]:
        if name == "imageplot" and not IMAGEPLOT.exists():
            print(f"imageplot: {IMAGEPLOT} absent, skipped")
            continue
        out[name] = bench(name, args.copies, extractor)
    done = [c for c in out.values() if isinstance(c, dict) and "rows" in c]
    if done:  # the threshold where the worse of precision and recall, over the collections, is best
        worst = {t: min(min(c["rows"][t]["precision"], c["rows"][t]["recall"]) for c in done) for t in THRESHOLDS}
        best = max(THRESHOLDS, key=lambda t: (worst[t], -t))
        out["best"] = {"threshold": best, "min_precision_recall": worst[best]}
        print(f"\nbest threshold by the worst of precision and recall over {len(done)} collections: {best} "
              f"({worst[best]:.3f}); THRESHOLD in cviz/publish/duplicates.py: {THRESHOLD} ({worst.get(THRESHOLD, float('nan')):.3f})")
    out["load_after"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"duplicates-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(out, indent=1, default=float))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
