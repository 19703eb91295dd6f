"""Features of a very large collection in chunks, so that many workers can share one collection.

A 600,000-image collection at 30 images/s is a 6-hour step on one machine. The catalogue order
splits it into fixed chunks (``CVIZ_FEATURE_CHUNK`` items, default 5,000); each chunk's features
are written to one file named by the chunk's index and a fingerprint of its content (model id +
the content hashes of its images), so a stale chunk can never be used for a changed catalogue.

Who computes a chunk does not matter, and that is the point:
- the ``features_chunks`` job (cviz_assets/chunk_jobs.py) fans the chunks out over N worker
  steps that the executor (dask, celery, k8s) places on different machines;
- the ``features`` asset then walks the same chunks: each chunk file that exists is read (one GET
  per 5,000 images), each missing one is computed there and then. Run alone it is simply the
  whole computation, chunk by chunk, and a step that dies after 15 hours resumes from the chunks
  (and the per-image cache) already written.

Dynamic fan-out (``DynamicOut``) is not used: dagster-dask cannot run dynamic steps (dagster
issue 9785), so the job has a fixed number of worker steps, each taking every N-th chunk.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from cviz.embed.feature_store import FeatureStore
from cviz.embed.features import Extractor, FeatureRun, compute_features
from cviz.paths import CollectionPaths
from cviz.settings import settings
from cviz.storage import Storage


def chunk_items() -> int:
    """Items per chunk (``$CVIZ_FEATURE_CHUNK``): every worker and the asset must agree on it."""
    return max(1, settings().feature_chunk)


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first item (catalogue order of usable items)
    stop: int  # one past the last
    fingerprint: str  # sha256 of model id + the chunk's image content hashes

    @property
    def size(self) -> int:
        return self.stop - self.start


def plan_chunks(items: Sequence[dict[str, Any]], model_id: str, size: int | None = None) -> list[Chunk]:
    size = size or chunk_items()
    chunks = []
    for index, start in enumerate(range(0, len(items), size)):
        stop = min(start + size, len(items))
        h = hashlib.sha256(model_id.encode())
        for e in items[start:stop]:
            h.update(e["sha256"].encode())
        chunks.append(Chunk(index, start, stop, h.hexdigest()))
    return chunks


def chunk_rel(name: str, model_id: str, chunk: Chunk) -> str:
    return CollectionPaths(name).feature_chunk(model_id, chunk.index, chunk.fingerprint)


def load_chunk(storage: Storage, rel: str, rows: int, dim: int) -> np.ndarray | None:
    """The chunk's features, or None when absent or not exactly rows x dim finite float32."""
    try:
        data = storage.read_bytes(rel)
    except FileNotFoundError:
        return None
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:
        return None
    if arr.shape != (rows, dim) or arr.dtype != np.float32 or not np.isfinite(arr).all():
        return None
    return arr


def compute_chunk(storage: Storage, name: str, items: Sequence[dict[str, Any]], chunk: Chunk,
                  read_bytes: Callable[[str], bytes], extractor: Extractor, batch_size: int = 32,
                  **options: Any) -> FeatureRun:
    """Compute (feature cache first) and write one chunk's file; ``options`` go to compute_features
    (``store``, ``decode_at``, ``derive``, ``progress``)."""
    run = compute_features(items[chunk.start:chunk.stop], read_bytes, extractor, storage, batch_size, **options)
    storage.write_npy(chunk_rel(name, extractor.model_id, chunk), run.features)
    return run


@dataclass
class ChunkedRun:
    run: FeatureRun  # totals over the chunks computed here (features: all rows, in order)
    chunks: int
    chunks_reused: int  # read from a chunk file another step (or an earlier run) wrote


def features_by_chunks(storage: Storage, name: str, items: Sequence[dict[str, Any]],
                       read_bytes: Callable[[str], bytes], extractor: Extractor, batch_size: int = 32,
                       progress: Callable[[int, int], None] | None = None,
                       decode_at: tuple[int, int] | None = None,
                       derive: Callable[[dict[str, Any], Any], None] | None = None) -> ChunkedRun:
    """All rows, chunk by chunk: chunk files when present and valid, computed (and written) otherwise.

    ``progress(done, total)`` counts items of the whole collection (cached ones included), so a bar
    moves at the speed of the work: fast over cached chunks, at images/s over computed ones.
    """
    started = time.perf_counter()
    dim = int(extractor.dim)
    out = np.zeros((len(items), dim), dtype=np.float32)
    chunks = plan_chunks(items, extractor.model_id)
    store = FeatureStore(storage, extractor.model_id, dim)  # its index is read once, for all chunks
    hits = rejected = computed = reused = decodes = 0
    compute_s = decode_s = read_s = infer_s = 0.0
    for chunk in chunks:
        t = time.perf_counter()
        arr = load_chunk(storage, chunk_rel(name, extractor.model_id, chunk), chunk.size, dim)
        if arr is not None:
            reused += 1
            hits += chunk.size
            read_s += time.perf_counter() - t
        else:
            def chunk_progress(done: int, todo: int, start: int = chunk.start, size: int = chunk.size) -> None:
                if progress:
                    progress(start + (size - todo) + done, len(items))

            run = compute_chunk(storage, name, items, chunk, read_bytes, extractor, batch_size, store=store,
                                decode_at=decode_at, derive=derive, progress=chunk_progress)
            arr = run.features
            hits += run.cache_hits
            rejected += run.cache_rejected
            computed += run.computed
            compute_s += run.compute_seconds
            decode_s += run.decode_seconds
            read_s += run.cache_read_seconds
            decodes += run.decodes
            infer_s += run.inference_seconds
        out[chunk.start:chunk.stop] = arr
        if progress:
            progress(chunk.stop, len(items))
    total = FeatureRun(out, hits, rejected, computed, time.perf_counter() - started, compute_s, decode_s, read_s,
                       decodes, infer_s)
    return ChunkedRun(total, len(chunks), reused)


def worker_chunks(chunks: Sequence[Chunk], worker: int, workers: int) -> list[Chunk]:
    """The chunks worker ``worker`` of ``workers`` computes: every ``workers``-th, round robin."""
    return [c for c in chunks if c.index % workers == worker]


@dataclass
class WorkerRun:
    computed: int  # chunks computed (and written) here
    reused: int  # chunks whose valid file was already there (another worker, an earlier try)
    images: int  # images whose features were computed here (not from the per-image cache)


def run_worker(storage: Storage, name: str, items: Sequence[dict[str, Any]], extractor: Extractor, worker: int,
               workers: int, read_bytes: Callable[[str], bytes], batch_size: int = 32,
               log: Callable[[str], None] | None = None, **options: Any) -> WorkerRun:
    """Worker ``worker`` of ``workers``: compute each of its chunks whose file is not there yet.

    What a ``features_chunks`` step runs (cviz_assets/chunk_jobs.py). A worker killed mid-chunk
    leaves no chunk file (the write is atomic: a file or an object PUT), so whoever runs the same
    worker again (the executor's retry on another machine) skips the finished chunks and computes
    the rest; the vectors do not depend on who computed them. ``options`` go to compute_features
    (``decode_at``, ``derive``)."""
    computed = reused = images = 0
    for chunk in worker_chunks(plan_chunks(items, extractor.model_id), worker, workers):
        if load_chunk(storage, chunk_rel(name, extractor.model_id, chunk), chunk.size, int(extractor.dim)) is not None:
            reused += 1
            continue
        run = compute_chunk(storage, name, items, chunk, read_bytes, extractor, batch_size, **options)
        computed += 1
        images += run.computed
        if log:
            log(f"{name}: chunk {chunk.index} ({chunk.size} items) written, {run.computed} computed")
    return WorkerRun(computed, reused, images)

