"""What one image costs a ``features_chunks`` worker on S3: CPU seconds, S3 requests and bytes.

    PYTHONPATH=$PWD CVIZ_MODEL_CACHE=/tmp/models .venv/bin/python benchmarks/bench_chunks_s3.py --images 300

Uploads ``--images`` paintings of ``--collection`` (default ../shared/data/imageplot) to a moto S3
server on loopback (the server the tests use), registers a collection whose storage root and
images are both on it, catalogues it, then runs one worker of the ``features_chunks`` job
(cviz.embed.chunks.run_worker, the real model: EfficientNet-Lite0 on LiteRT) and the ``features``
step that assembles the chunks (cviz.embed.chunks.features_by_chunks). Every S3 API call is
counted where s3fs makes it (``S3FileSystem._call_s3``), by operation; bytes are the objects'
sizes. Per image: CPU ms (user + system, all threads), requests and bytes read and written: the
figures docs/scale.md scales to a million images. The machine is shared: the load is printed.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BUCKET = "bench-chunks"


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _count_requests() -> collections.Counter:
    """Count every S3 API call s3fs makes (its one entry point to botocore), by operation name."""
    import s3fs

    counts: collections.Counter = collections.Counter()
    real = s3fs.S3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):  # noqa: ANN001, ANN202 - s3fs's own signature
        counts[getattr(method, "__name__", str(method))] += 1
        return await real(self, method, *args, **kwargs)

    s3fs.S3FileSystem._call_s3 = counted
    return counts


def _delta(after: collections.Counter, before: collections.Counter) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = next((q for q in (REPO.parent / "shared", REPO.parent.parent / "shared") if q.is_dir()), REPO.parent / "shared")
    p.add_argument("--collection", type=Path, default=shared / "data" / "imageplot")
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--chunk", type=int, default=100, help="items per chunk ($CVIZ_FEATURE_CHUNK)")
    args = p.parse_args()
    for k, v in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1",
                 "CVIZ_FEATURE_CHUNK": str(args.chunk)}.items():
        os.environ[k] = v
    from moto.server import ThreadedMotoServer
    import s3fs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        fs.mkdir(BUCKET)
        sources = sorted(q for q in (args.collection / "images").iterdir() if q.suffix.lower() in (".jpg", ".jpeg"))
        sources = sources[: args.images]
        src_bytes = 0
        for q in sources:
            data = q.read_bytes()
            src_bytes += len(data)
            fs.pipe(f"{BUCKET}/source/images/{q.name}", data)
        return _run(endpoint, len(sources), src_bytes, fs)
    finally:
        server.stop()


def _run(endpoint: str, n: int, src_bytes: int, fs: object) -> int:
    from cviz.embed.chunks import features_by_chunks, run_worker
    from cviz.embed.models import load_extractor
    from cviz.ingest.catalogue import open_source, usable_items
    from cviz.ingest.collection import CollectionConfig
    from cviz.paths import CollectionPaths
    from cviz.stages import registry
    from cviz.storage import open_storage, read_source

    counts = _count_requests()
    from cviz_resources.storage import s3_options  # the options cviz runs with (one GET per read, no HEAD)

    root, options = f"s3://{BUCKET}/cviz", s3_options(endpoint)
    store = open_storage(root, options)
    registry.register(store, CollectionConfig.from_dict({"name": "bench", "images": f"s3://{BUCKET}/source/images"}))
    before = collections.Counter(counts)
    registry.stage_images(store, "bench")
    catalogue_requests = _delta(counts, before)
    catalogue = store.read_json(CollectionPaths("bench").catalogue)
    items = usable_items(catalogue)
    extractor = load_extractor(cache_dir=os.environ.get("CVIZ_MODEL_CACHE"))
    src_fs, base = open_source(catalogue, store.storage_options)
    read = lambda rel: read_source(src_fs, f"{base}/{rel}")  # noqa: E731
    decode_at, derive = registry.derive_outputs(store, "bench", tuple(registry.run_config(store, "bench").tile_size))
    stored_before = sum(fs.du(f"{BUCKET}/cviz", total=False).values())
    before, cpu0, t0 = collections.Counter(counts), _cpu(), time.perf_counter()
    run_worker(store, "bench", items, extractor, 0, 1, read, 32, decode_at=decode_at, derive=derive)
    cpu, wall = _cpu() - cpu0, time.perf_counter() - t0
    worker_requests = _delta(counts, before)
    written = sum(fs.du(f"{BUCKET}/cviz", total=False).values()) - stored_before
    before, t0 = collections.Counter(counts), time.perf_counter()
    assembled = features_by_chunks(store, "bench", items, read, extractor, 32)
    assemble_requests, assemble_s = _delta(counts, before), time.perf_counter() - t0
    load = os.getloadavg()
    print(f"{n} images ({src_bytes / n / 1e3:.0f} kB each on average), chunks of {os.environ['CVIZ_FEATURE_CHUNK']}; "
          f"load {load[0]:.1f} {load[1]:.1f} (machine shared with other developers)")
    print(f"catalogue: {sum(catalogue_requests.values()) / n:.2f} requests/image {catalogue_requests}")
    print(f"worker: {1000 * cpu / n:.1f} CPU ms/image, {n / wall:.1f} images/s wall; "
          f"{sum(worker_requests.values()) / n:.2f} requests/image {worker_requests}; "
          f"read {src_bytes / n / 1e3:.0f} kB/image, wrote {written / n / 1e3:.1f} kB/image")
    print(f"features step (assemble {assembled.chunks} chunks, {assembled.chunks_reused} reused): "
          f"{assemble_s:.2f} s, {assemble_requests}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
