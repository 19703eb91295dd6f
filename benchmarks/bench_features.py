"""Feature extraction speed and quality, through the code the `features` asset runs.

Prints a table and writes JSON (benchmarks/results/, not in git). What it measures:
- images/s of ``cviz.features.compute_features`` (decode overlapped with inference, no cache) for the
  default model on 128 px thumbnails and on ~600 px JPEGs, and the decode-only and inference-only
  rates that bound it;
- VGG16 (random weights: same speed as ImageNet ones) batched vs one image at a time, the original loop;
- neighbour agreement (fraction of each image's 10 nearest neighbours sharing its label) on a labelled
  collection for the default model at several input sizes, VGG16 with random weights (a floor) and
  an RGB colour histogram.

    .venv/bin/python benchmarks/bench_features.py                  # defaults: ../shared/data/imageplot
    .venv/bin/python benchmarks/bench_features.py --quick          # fewer images, for a smoke run
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cviz.features import compute_features, model_input  # noqa: E402
from cviz.imaging import decode  # noqa: E402
from cviz.models import load_extractor  # noqa: E402
from cviz.neighbours import neighbour_agreement  # noqa: E402
from cviz.sample import sample_source  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_set(folder: Path, names: list[str]) -> list[tuple[dict, bytes]]:
    out = []
    for n in names:
        data = (folder / n).read_bytes()
        out.append(({"file": n, "sha256": hashlib.sha256(data).hexdigest()}, data))
    return out


def thumbnails(dataset: list[tuple[dict, bytes]], side: int = 128) -> list[tuple[dict, bytes]]:
    out = []
    for item, data in dataset:
        img, _ = decode(data, max_side=side)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append((dict(item, sha256=item["sha256"] + f"-t{side}"), buf.getvalue()))
    return out


def rate(dataset, extractor, batch: int = 32) -> dict:
    data = {it["file"]: d for it, d in dataset}
    items = [it for it, _ in dataset]
    extractor(np.zeros((batch, extractor.input_size, extractor.input_size, 3), np.uint8))  # warm-up at the batch shape
    run = compute_features(items, data.__getitem__, extractor, None, batch_size=batch)
    t = time.perf_counter()
    arrays = [model_input(d, extractor.input_size) for _, d in dataset]
    decode_s = time.perf_counter() - t
    stacked = np.stack(arrays)
    t = time.perf_counter()
    for k in range(0, len(stacked), batch):
        extractor(stacked[k : k + batch])
    infer_s = time.perf_counter() - t
    n = len(items)
    return {"images": n, "images_per_s": round(n / run.compute_seconds, 1),
            "decode_only_per_s": round(n / decode_s, 1), "inference_only_per_s": round(n / infer_s, 1)}, run.features


def one_at_a_time(dataset, extractor, limit: int = 24) -> float:
    arrays = [model_input(d, extractor.input_size) for _, d in dataset[:limit]]
    extractor(arrays[0][None])
    t = time.perf_counter()
    for a in arrays:
        extractor(a[None])
    return round(len(arrays) / (time.perf_counter() - t), 2)


def colour_histogram(dataset) -> np.ndarray:
    feats = []
    for _, d in dataset:
        img, _ = decode(d, max_side=128)
        q = (np.asarray(img, np.uint8) // 32).reshape(-1, 3).astype(np.int64)
        h = np.bincount(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2], minlength=512).astype(np.float32)
        feats.append(np.sqrt(h / h.sum()))
    return np.stack(feats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--collection", default=str(REPO.parent / "shared" / "data" / "imageplot"))
    p.add_argument("--labels", default="collection,period")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sizes", default="224,192,160")
    args = p.parse_args()
    folder = Path(args.collection)
    with open(folder / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if args.quick:
        rows = rows[::6]
    photos = load_set(folder / "images", [r["filename"] for r in rows])
    met_dir = sample_source()
    met = load_set(met_dir, sorted(p.name for p in met_dir.glob("*.jpg"))[: 60 if args.quick else 174])
    labels = [c for c in args.labels.split(",") if c]
    results: dict = {"load": os.getloadavg()[0], "collection": str(folder), "images": len(photos), "speed": {}, "quality": {}}

    default = load_extractor()
    results["model"] = {"name": default.name, "weights_source": default.weights_source, "dim": default.dim}
    results["speed"]["default_600px"], _ = rate(met, default)
    results["speed"]["default_128px_thumbs"], _ = rate(thumbnails(met), default)

    for size in [int(s) for s in args.sizes.split(",")]:
        ex = default if size == default.input_size else load_extractor(input_size=size)
        speed, feats = rate(photos, ex)
        results["speed"][f"default_{size}_imageplot"] = speed
        results["quality"][f"{default.name}@{size}"] = {
            c: round(neighbour_agreement(feats, [r[c] for r in rows]).score, 4) for c in labels}

    vgg = load_extractor("vgg16", "random")
    vgg_batched, vgg_feats = rate(met[:48], vgg)
    results["speed"]["vgg16_batched"] = vgg_batched
    results["speed"]["vgg16_one_at_a_time_per_s"] = one_at_a_time(met, vgg)
    _, vgg_feats = rate(photos, vgg)
    results["quality"]["vgg16 random weights"] = {c: round(neighbour_agreement(vgg_feats, [r[c] for r in rows]).score, 4) for c in labels}
    hist = colour_histogram(photos)
    results["quality"]["rgb histogram 8x8x8 sqrt"] = {c: round(neighbour_agreement(hist, [r[c] for r in rows]).score, 4) for c in labels}
    results["quality"]["chance"] = {c: round(neighbour_agreement(hist, [r[c] for r in rows]).chance, 4) for c in labels}

    print(f"\nfeatures benchmark  (load avg {results['load']:.2f}, {len(photos)} labelled images)")
    print(f"{'speed':<32}{'images/s':>10}{'decode/s':>10}{'infer/s':>10}")
    for k, v in results["speed"].items():
        if isinstance(v, dict):
            print(f"{k:<32}{v['images_per_s']:>10}{v['decode_only_per_s']:>10}{v['inference_only_per_s']:>10}")
        else:
            print(f"{k:<32}{v:>10}")
    print(f"\n{'neighbour agreement (k=10)':<32}" + "".join(f"{c:>12}" for c in labels))
    for k, v in results["quality"].items():
        print(f"{k:<32}" + "".join(f"{v[c]:>12}" for c in labels))
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"features-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
