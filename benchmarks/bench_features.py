"""Feature extraction speed per backend, side by side in one run, through the code the `features` asset runs.

Prints a table and writes JSON (benchmarks/results/, not in git). For each backend (LiteRT with
XNNPACK, and the Keras reference) and each image set:
- ``images/s``: ``cviz.embed.features.compute_features`` as the stage runs it (no cache; decode in two
  threads overlapped with inference; each image decoded once at the size the CNN, the 128 px cell
  and the 512 px item image need, cell and item JPEGs encoded in memory);
- ``decode/s``: that decode (and cell/item derivation) alone, two threads;
- ``infer/s``: the model alone on the already decoded inputs;
- the LiteRT / Keras ratio (it holds under load better than absolute figures) and the largest
  feature difference between the two;
- peak RSS of the process after each set;
- the roofline (``roofline.py``): Lite0's multiply-adds per image against this CPU's FMA peak and
  numpy's sgemm, i.e. the images/s no runtime can exceed here.
Sets: 128 px JPEG thumbnails of a real collection, and "originals": the same paintings upscaled
to 3000x2000 JPEGs written by this script into a temporary folder (deleted afterwards).
Then the cache: ``read_cached`` on a synthetic 13,000-item store with 1% new items (the
"+100 images" update), the part of a cached ``features`` step that grows with the collection.

    .venv/bin/python benchmarks/bench_features.py                  # ../shared/data/imageplot
    .venv/bin/python benchmarks/bench_features.py --quick          # fewer images, a smoke run
    .venv/bin/python benchmarks/bench_features.py --make-thumbs 13000 /tmp/t13k   # for cviz run timings
    .venv/bin/python benchmarks/bench_features.py --make-originals 3000 /tmp/o3k  # 3000x2000 JPEGs, ~1 MB each
    .venv/bin/python benchmarks/bench_features.py --quality        # neighbour agreement on imageplot labels
    .venv/bin/python benchmarks/bench_features.py --profile        # LiteRT: delegation, CPU ms/img per variant
    .venv/bin/python benchmarks/bench_features.py --fit-variants   # centre crop vs letterbox vs flip average
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cviz.embed.feature_store import FeatureStore  # noqa: E402
from cviz.embed.features import cnn_input, compute_features, read_cached  # noqa: E402
from cviz.embed.models import load_extractor  # noqa: E402
from cviz.ingest.decode import decode  # noqa: E402
from cviz.ingest.sample import sample_source  # noqa: E402
from cviz.render import cells  # noqa: E402
from cviz.storage import open_storage  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CELL = (128, 128)
DECODE_AT = (0, max(cells.ITEM_IMAGE_SIDE, *CELL))  # what the features stage asks (plus the CNN's short side)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_folder(folder: Path, limit: int) -> list[tuple[dict, bytes]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit]
    return [({"file": p.name, "sha256": hashlib.sha256(b := p.read_bytes()).hexdigest()}, b) for p in files]


def thumbnails(dataset: list[tuple[dict, bytes]], side: int = 128) -> list[tuple[dict, bytes]]:
    out = []
    for item, data in dataset:
        img, _ = decode(data, max_side=side)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append((dict(item, sha256=item["sha256"] + f"-t{side}"), buf.getvalue()))
    return out


def originals(dataset: list[tuple[dict, bytes]], folder: Path, size: tuple[int, int] = (3000, 2000)) -> list[tuple[dict, bytes]]:
    """Each painting upscaled to ``size`` (a museum's full-size original), written as a JPEG."""
    out = []
    for item, data in dataset:
        img, _ = decode(data)
        big = img.resize(size, Image.Resampling.BICUBIC)
        path = folder / (Path(item["file"]).stem + "-3000.jpg")
        big.save(path, "JPEG", quality=90)
        b = path.read_bytes()
        out.append(({"file": path.name, "sha256": hashlib.sha256(b).hexdigest()}, b))
    return out


def derive(_item: dict, img: Image.Image) -> None:
    """What the stage's hook costs (cell + item image encoded), without the disk writes."""
    small = img.copy()
    small.thumbnail((cells.ITEM_IMAGE_SIDE,) * 2, Image.Resampling.LANCZOS, reducing_gap=2.0)
    cells.encode(small)
    cells.encode(cells.make_cell(small, CELL, (17, 17, 17)))


def decode_only(dataset, side: int) -> tuple[float, list[np.ndarray]]:
    def one(entry):
        img, _ = decode(entry[1], at_least=(side, DECODE_AT[1]))
        arr = cnn_input(img, side)
        derive(entry[0], img)
        return arr

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        arrays = list(pool.map(one, dataset))
    return len(dataset) / (time.perf_counter() - t), arrays


def measure(dataset, extractor, arrays: list[np.ndarray], batch: int = 32) -> tuple[dict, np.ndarray]:
    data = {it["file"]: d for it, d in dataset}
    items = [it for it, _ in dataset]
    extractor(np.stack(arrays[:batch]))  # warm-up at the batch shape
    run = compute_features(items, data.__getitem__, extractor, None, batch_size=batch, decode_at=DECODE_AT, derive=derive)
    stacked = np.stack(arrays)
    parallel = int(getattr(extractor, "parallel_calls", 1))
    t = time.perf_counter()
    if parallel > 1:  # as the stage calls it: that many threads, one image per call
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(lambda k: extractor(stacked[k : k + 1]), range(len(stacked))))
    else:
        for k in range(0, len(stacked), batch):
            extractor(stacked[k : k + batch])
    infer = len(items) / (time.perf_counter() - t)
    return {"images": len(items), "images_per_s": round(run.images_per_s or 0.0, 1), "infer_per_s": round(infer, 1),
            "decodes": run.decodes, "peak_rss_mb": peak_rss_mb(), "load": round(os.getloadavg()[0], 2)}, run.features


def versus(row: dict, ref_row: dict, feats: np.ndarray, ref: np.ndarray) -> dict:
    """Speed ratios, the largest element difference and the share of each image's 10 nearest
    neighbours (cosine) that ``feats`` and ``ref`` have in common."""
    from cviz.measure.knn import feature_knn

    k = min(10, len(feats) - 1)
    a, b = feature_knn(feats, k), feature_knn(ref, k)
    shared = float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))
    return {"ratio": round(row["images_per_s"] / ref_row["images_per_s"], 2),
            "ratio_infer": round(row["infer_per_s"] / ref_row["infer_per_s"], 2),
            "max_abs_diff": float(np.abs(feats - ref).max()), "shared_knn10": round(shared, 4)}


def cache_read(n: int = 13_000, new: float = 0.01, dim: int = 1280) -> dict:
    """read_cached over n items of which ``new`` are not in the store (a fresh temp root)."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="cviz-bench-cache-") as root:
        storage = open_storage(root)
        shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
        store = FeatureStore(storage, "bench-1280", dim)
        old = int(n * (1 - new))
        for k in range(0, old, 2048):  # written as the features step writes: a segment per 2,048
            store.add(shas[k : min(k + 2048, old)], rng.normal(size=(min(2048, old - k), dim)).astype(np.float32))
        items = [{"sha256": s} for s in shas]
        os.system("sync")
        _, found, _, seconds = read_cached(items, storage, "bench-1280", dim)
        return {"items": n, "cached": int(found.sum()), "new": n - int(found.sum()), "seconds": round(seconds, 3),
                "load": round(os.getloadavg()[0], 2)}


def profile_litert(n: int = 48, rounds: int = 3) -> dict:
    """Where LiteRT's time goes, as one-process A/B figures (``--profile``): what XNNPACK took over
    (op types, delegate partitions, input shape signature), then CPU ms per image (``process_time``:
    all the process's threads, robust to other load better than wall time) and wall ms per image for
    each variant, interleaved over ``rounds`` on the same random inputs: threads 1/2, batch 1/8,
    ``set_tensor`` vs a zero-copy input view, XNNPACK's ``latest_features`` flag, and two 1-thread
    interpreters on alternate images (inter-image instead of intra-op parallelism)."""
    import collections
    import threading

    from ai_edge_litert.interpreter import Interpreter

    fx = load_extractor(backend="litert", cache_dir=os.path.join(tempfile.gettempdir(), "cviz-bench-models"))
    model = fx._forward.model
    x = np.random.default_rng(0).uniform(0, 255, (n, fx.input_size, fx.input_size, 3)).astype(np.float32)

    def interp(threads: int = 2, batch: int = 1, latest: bool = False):
        it = Interpreter(model_content=model, num_threads=threads, experimental_default_delegate_latest_features=latest)
        if batch != 1:
            it.resize_tensor_input(it.get_input_details()[0]["index"], [batch, *x.shape[1:]])
        it.allocate_tensors()
        return it

    def run(it, rows, batch: int = 1, zero_copy: bool = False) -> np.ndarray:
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        view, out = it.tensor(i) if zero_copy else None, []
        for k in range(0, len(rows), batch):
            if zero_copy:
                view()[...] = rows[k : k + batch]
            else:
                it.set_tensor(i, rows[k : k + batch])
            it.invoke()
            out.append(it.get_tensor(o).copy())
        return np.concatenate(out).reshape(len(rows), -1)

    base = interp()
    ops = base._get_ops_details()
    info = {"op_types": dict(collections.Counter(str(op["op_name"]) for op in ops)),
            "delegate_partitions": sum(str(op["op_name"]) == "DELEGATE" for op in ops),
            "input_shape_signature": [int(v) for v in base.get_input_details()[0]["shape_signature"]]}
    pair = [interp(1), interp(1)]

    def inter_image() -> np.ndarray:
        res: list = [None, None]
        workers = [threading.Thread(target=lambda k=k: res.__setitem__(k, run(pair[k], x[k::2]))) for k in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        out = np.empty((n, res[0].shape[1]), np.float32)
        out[0::2], out[1::2] = res
        return out

    variants = {
        "2 threads, batch 1 (cviz today)": lambda: run(base, x),
        "2 threads, batch 1, zero-copy input": lambda: run(base, x, zero_copy=True),
        "1 thread, batch 1": (lambda it: lambda: run(it, x))(interp(1)),
        "2 threads, batch 8": (lambda it: lambda: run(it, x, 8))(interp(2, 8)),
        "2 threads, batch 1, latest_features": (lambda it: lambda: run(it, x))(interp(2, latest=True)),
        "2 interpreters x 1 thread, alternate images": inter_image,
    }
    reference = variants["2 threads, batch 1 (cviz today)"]()
    rows = {k: {"max_abs_diff": float(np.abs(f() - reference).max()), "cpu_ms": [], "wall_ms": []} for k, f in variants.items()}
    info["load_start"] = round(os.getloadavg()[0], 2)
    for _ in range(rounds):
        for k, f in variants.items():
            w, c = time.perf_counter(), time.process_time()
            f()
            rows[k]["wall_ms"].append(round((time.perf_counter() - w) / n * 1e3, 2))
            rows[k]["cpu_ms"].append(round((time.process_time() - c) / n * 1e3, 2))
    info["load_end"] = round(os.getloadavg()[0], 2)
    info["variants"] = rows
    # Control: how many cores this process actually got. CPU/wall of GIL-free hashing in two threads
    # is 2.0 on an idle 2-core machine and 1.0 when another job holds a core; then no variant can
    # show parallel speed-up, and wall ~ CPU for all of them.
    blob = os.urandom(32 << 20)
    w, c = time.perf_counter(), time.process_time()
    hashers = [threading.Thread(target=lambda: [hashlib.sha256(blob).digest() for _ in range(4)]) for _ in range(2)]
    for h in hashers:
        h.start()
    for h in hashers:
        h.join()
    info["cores_available"] = round((time.process_time() - c) / (time.perf_counter() - w), 2)
    print(f"\nLiteRT profile ({fx.backend_version}; {n} images x {rounds} rounds, interleaved; "
          f"load {info['load_start']} -> {info['load_end']}, {os.cpu_count()} CPUs)")
    print(f"cores this process got (CPU/wall of 2-thread hashing, 2.0 = both): {info['cores_available']}")
    print(f"ops: {info['op_types']}; XNNPACK partitions: {info['delegate_partitions']}; "
          f"input shape signature {info['input_shape_signature']}")
    print(f"{'variant':<46}{'cpu ms/img (median)':>21}{'wall ms/img (median)':>22}{'max |diff|':>12}")
    for k, r in rows.items():
        print(f"{k:<46}{sorted(r['cpu_ms'])[len(r['cpu_ms']) // 2]:>21}{sorted(r['wall_ms'])[len(r['wall_ms']) // 2]:>22}"
              f"{r['max_abs_diff']:>12.1e}")
    return info


def _unique_copy(data: bytes, i: int) -> bytes:
    """``data`` with a JPEG comment naming ``i``: same pixels, size and decode cost, another content
    hash (the catalogue drops byte-identical copies)."""
    comment = f"cviz copy {i}".encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def make_copies(n: int, out: Path, sources: list[bytes], prefix: str) -> None:
    """``out/images/<prefix>0000000.jpg ...``: n byte-distinct copies cycling through ``sources``.
    Existing files are kept (n can grow: +100)."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        path = images / f"{prefix}{i:07d}.jpg"
        if not path.exists():
            path.write_bytes(_unique_copy(sources[i % len(sources)], i))
    print(f"{n} images in {images}")


def make_thumbs(n: int, out: Path, source: Path, side: int = 128) -> None:
    """n 128 px JPEG thumbnails of ``source``'s images, for timing ``cviz run`` on 13,000 thumbnails."""
    make_copies(n, out, [d for _, d in thumbnails(load_folder(source, 100_000), side)], "t")


def make_originals(n: int, out: Path, source: Path, size: tuple[int, int] = (3000, 2000)) -> None:
    """n 3000x2000 JPEG "originals" (``source``'s images upscaled, then byte-distinct copies), for
    timing ``cviz run`` on full-size originals; about 1 MB each."""
    with tempfile.TemporaryDirectory(prefix="cviz-originals-") as tmp:
        bigs = [d for _, d in originals(load_folder(source, min(n, 100_000)), Path(tmp), size)]
    make_copies(n, out, bigs, "o")


def colour_histogram(dataset) -> np.ndarray:
    feats = []
    for _, d in dataset:
        img, _ = decode(d, max_side=128)
        q = (np.asarray(img, np.uint8) // 32).reshape(-1, 3).astype(np.int64)
        h = np.bincount(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2], minlength=512).astype(np.float32)
        feats.append(np.sqrt(h / h.sum()))
    return np.stack(feats)


def quality(collection: Path, labels: list[str], sizes: list[int]) -> dict:
    """Neighbour agreement (k=10) on a labelled collection: Lite0 at several input sizes, VGG16 with
    random weights (a floor) and an RGB colour histogram; chance level last."""
    import csv

    from cviz.measure.knn import neighbour_agreement

    with open(collection / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    photos = [({"file": r["filename"], "sha256": r["filename"]}, (collection / "images" / r["filename"]).read_bytes())
              for r in rows]
    data = {it["file"]: d for it, d in photos}
    items = [it for it, _ in photos]

    def score(feats: np.ndarray) -> dict:
        return {c: round(neighbour_agreement(feats, [r[c] for r in rows]).score, 4) for c in labels}

    out = {}
    for size in sizes:
        fx = load_extractor(input_size=size)
        out[f"efficientnet_lite0@{size}"] = score(compute_features(items, data.__getitem__, fx, None).features)
    vgg = load_extractor("vgg16", "random")
    out["vgg16 random weights"] = score(compute_features(items, data.__getitem__, vgg, None).features)
    hist = colour_histogram(photos)
    out["rgb histogram 8x8x8 sqrt"] = score(hist)
    out["chance"] = {c: round(neighbour_agreement(hist, [r[c] for r in rows]).chance, 4) for c in labels}
    return out


def fit_variants(collections: dict[str, tuple[Path, list[str]]], precision: str | None = None) -> dict:
    """Neighbour agreement (k=10, cosine on the features) for three ways of fitting an image to the
    square CNN input, on labelled collections: ``centre crop`` (cviz today: cviz.ingest.decode.square_input),
    ``letterbox`` (the whole image, scaled to fit, padded to square with mid grey 128, what the
    cell shows) and ``crop + flip average`` (the mean of the centre crop's and its mirror image's
    vectors: two inferences). Time: inference seconds of each, one process, back to back."""
    import csv

    from PIL import ImageOps

    from cviz.ingest.decode import square_input
    from cviz.measure.knn import neighbour_agreement

    fx = load_extractor(precision=precision)
    out: dict = {"model_id": fx.model_id, "load_start": os.getloadavg()[0]}
    side = fx.input_size
    for name, (folder, labels) in collections.items():
        with open(folder / "metadata.csv", newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if (folder / "images" / r["filename"]).exists()]
        imgs = [decode((folder / "images" / r["filename"]).read_bytes(), short_side=side)[0] for r in rows]
        crop = np.stack([square_input(im, side) for im in imgs])
        box = np.stack([np.asarray(ImageOps.pad(im, (side, side), Image.Resampling.BILINEAR, color=(128, 128, 128)),
                                   np.uint8) for im in imgs])

        def run(batch: np.ndarray) -> tuple[np.ndarray, float]:
            t = time.perf_counter()
            with ThreadPoolExecutor(max_workers=fx.parallel_calls) as pool:
                feats = np.concatenate(list(pool.map(lambda k: fx(batch[k:k + 1]), range(len(batch)))))
            return feats, time.perf_counter() - t

        f_crop, t_crop = run(crop)
        f_box, t_box = run(box)
        f_flip, t_flip = run(crop[:, :, ::-1].copy())
        variants = {"centre crop": (f_crop, t_crop), "letterbox": (f_box, t_box),
                    "crop + flip average": ((f_crop + f_flip) / 2, t_crop + t_flip)}
        table = {}
        for v, (feats, secs) in variants.items():
            table[v] = {c: round(neighbour_agreement(feats, [r.get(c, "") for r in rows]).score, 4) for c in labels}
            table[v]["inference_time_vs_crop"] = round(secs / t_crop, 2)
        out[name] = {"items": len(rows), "table": table}
    out["load_end"] = os.getloadavg()[0]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quality", metavar="COLLECTION", nargs="?", const=str(REPO.parent / "shared" / "data" / "imageplot"),
                   help="only the neighbour-agreement table on a labelled collection (folder with images/ and metadata.csv)")
    p.add_argument("--labels", default="collection,period")
    p.add_argument("--sizes", default="224,192,160")
    p.add_argument("--make-originals", nargs=2, metavar=("N", "FOLDER"),
                   help="only write N 3000x2000 JPEG originals (from --collection) to FOLDER/images, for cviz run timings")
    p.add_argument("--make-thumbs", nargs=2, metavar=("N", "FOLDER"),
                   help="only write N 128 px thumbnails (from --collection) to FOLDER/images, for cviz run timings")
    p.add_argument("--collection", default=str(REPO.parent / "shared" / "data" / "imageplot" / "images"))
    p.add_argument("--thumbs", type=int, default=904, help="thumbnails to time")
    p.add_argument("--originals", type=int, default=300, help="3000x2000 originals to make and time")
    p.add_argument("--backends", default="litert/int8,litert/float32,keras",
                   help="backend[/precision] list; each is compared with the first float32 one")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--profile", action="store_true", help="only the LiteRT profile: delegation and one-process A/B variants")
    p.add_argument("--fit-variants", action="store_true",
                   help="only: centre crop vs letterbox vs flip average, neighbour agreement on imageplot and met-sample")
    p.add_argument("--precision", default=None, help="for --fit-variants: int8 or float32 (default: the default)")
    args = p.parse_args()
    if args.fit_variants:
        from quality_data import IMAGEPLOT, RESULTS
        from cviz.ingest.sample import write_met_sample

        met = RESULTS / "met-sample"
        if not (met / "metadata.csv").exists():
            write_met_sample(met)
        collections = {"met-sample": (met, ["department"])}
        if IMAGEPLOT.is_dir():
            collections = {"imageplot": (IMAGEPLOT, ["period", "collection"]), **collections}
        info = fit_variants(collections, args.precision)
        print(f"\nfit variants ({info['model_id']}; load {info['load_start']:.2f} -> {info['load_end']:.2f})")
        for name, res in info.items():
            if isinstance(res, dict):
                print(f"{name} ({res['items']} items)")
                for v, row in res["table"].items():
                    print(f"  {v:<22}" + "  ".join(f"{k} {val}" for k, val in row.items()))
        out = REPO / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"fit-variants-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(info, indent=1))
        return
    if args.profile:
        info = profile_litert()
        out = REPO / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"litert-profile-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(info, indent=1))
        return
    if args.quick:
        args.thumbs, args.originals = 160, 48
    folder = Path(args.collection)
    if not folder.is_dir():
        folder = sample_source()  # the Met sample (174 photos) when the real data set is absent
    if args.make_thumbs:
        make_thumbs(int(args.make_thumbs[0]), Path(args.make_thumbs[1]), folder)
        return
    if args.make_originals:
        make_originals(int(args.make_originals[0]), Path(args.make_originals[1]), folder)
        return
    if args.quality:
        labels = [c for c in args.labels.split(",") if c]
        table = quality(Path(args.quality), labels, [int(x) for x in args.sizes.split(",")])
        print(f"\n{'neighbour agreement (k=10)':<32}" + "".join(f"{c:>12}" for c in labels))
        for k, v in table.items():
            print(f"{k:<32}" + "".join(f"{v[c]:>12}" for c in labels))
        return
    import roofline

    sgemm = roofline.sgemm_gmacs()  # before any model's thread pools exist
    source = load_folder(folder, max(args.thumbs, args.originals))
    results: dict = {"collection": str(folder), "load_start": os.getloadavg()[0], "sets": {}, "cpu": os.cpu_count()}
    extractors = {spec: load_extractor(backend=spec.split("/")[0], precision=(spec.split("/") + [None])[1],
                                       cache_dir=os.path.join(tempfile.gettempdir(), "cviz-bench-models"))
                  for spec in args.backends.split(",")}
    results["backends"] = {b: f"{fx.backend_version}, {fx.precision}, model id {fx.model_id}" for b, fx in extractors.items()}
    side = next(iter(extractors.values())).input_size
    reference = next((b for b, fx in extractors.items() if fx.precision == "float32"), None)
    with tempfile.TemporaryDirectory(prefix="cviz-bench-originals-") as tmp:
        sets = {"128px thumbnails": thumbnails(source[: args.thumbs]),
                "3000x2000 originals": originals(source[: args.originals], Path(tmp))}
        for name, dataset in sets.items():
            decode_rate, arrays = decode_only(dataset, side)
            row: dict = {"decode_per_s": round(decode_rate, 1), "versus": {}}
            feats = {}
            for b, fx in extractors.items():  # side by side: same images, same process, back to back
                row[b], feats[b] = measure(dataset, fx, arrays)
            for b in feats:  # each against the first float32 one: speed ratio, largest difference, shared neighbours
                if reference is not None and b != reference:
                    row["versus"][b] = versus(row[b], row[reference], feats[b], feats[reference])
            results["sets"][name] = row
    litert_key = next((b for b, fx in extractors.items() if fx.backend == "litert"), None)
    if litert_key is not None:  # how far the measured inference is from this CPU's ceiling
        thumbs_row = results["sets"]["128px thumbnails"][litert_key]
        results["roofline"] = roofline.report(extractors[litert_key]._forward.model, thumbs_row["infer_per_s"], sgemm)
    results["cache_read_13000_1pct_new"] = cache_read()
    results["load_end"] = os.getloadavg()[0]
    results["peak_rss_mb"] = peak_rss_mb()

    print(f"\nfeatures benchmark  (load avg {results['load_start']:.2f} -> {results['load_end']:.2f}, "
          f"{results['cpu']} CPUs; {', '.join(f'{b}: {v}' for b, v in results['backends'].items())})")
    print(f"{'set':<22}{'backend':<8}{'images':>7}{'images/s':>10}{'decode/s':>10}{'infer/s':>10}{'peak RSS MB':>13}")
    for name, row in results["sets"].items():
        for b in extractors:
            r = row[b]
            print(f"{name:<22}{b:<8}{r['images']:>7}{r['images_per_s']:>10}{row['decode_per_s']:>10}{r['infer_per_s']:>10}"
                  f"{r['peak_rss_mb']:>13}")
        for b, v in row["versus"].items():
            print(f"{'':<22}{b} / {reference}: {v['ratio']}x end to end, {v['ratio_infer']}x inference; "
                  f"max |diff| {v['max_abs_diff']:.2e}; shared 10 nearest neighbours {v['shared_knn10']:.3f}")
    if "roofline" in results:
        roofline.print_report(results["roofline"])
    c = results["cache_read_13000_1pct_new"]
    print(f"\ncache read: {c['cached']:,} cached + {c['new']} new of {c['items']:,} items in {c['seconds']} s (load {c['load']})")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"features-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
