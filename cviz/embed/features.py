"""Feature vectors for a collection: cached vectors read in bulk, each miss decoded once, decode
overlapped with inference.

The cache key is (model identity, image content hash), so re-running a collection after adding
ten images computes ten vectors, and collections that share images share the work. Vectors live
in the packed per-model store (:mod:`cviz.embed.feature_store`: a few files read at disk speed instead
of one small file per image); per-image ``.npy`` files written by earlier versions are still read
for images the store lacks, validated the same way. A cached vector that does not load, has the
wrong shape or holds NaN/inf is recomputed and rewritten, never used.

Decode once: each image not in the cache is decoded a single time, at the size its largest
consumer needs (``decode_at``), and the optional ``derive`` hook receives that decoded picture in
the same worker thread, so the features stage can fill the mosaic's cell cache and write the
viewer's item image without the mosaic decoding the original again (``decodes`` counts them).
"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
from PIL import Image

from cviz.embed.feature_store import FeatureStore
from cviz.ingest.decode import decode, square_input
from cviz.paths import FEATURE_CACHE, legacy_feature
from cviz.storage import Storage

# Computed vectors are written to the store every this many images: a step killed after hours
# resumes from what it had written.
FLUSH_EVERY = 2048


class Extractor(Protocol):
    name: str
    dim: int
    input_size: int
    model_id: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


@dataclass
class FeatureRun:
    features: np.ndarray  # N x D float32
    cache_hits: int
    cache_rejected: int  # entries found but corrupt/partial, recomputed
    computed: int
    seconds: float
    compute_seconds: float  # wall time of the decode + inference loop (0 when nothing was computed)
    decode_seconds: float  # summed over decode threads (decode + derive), not wall time
    cache_read_seconds: float = 0.0
    decodes: int = 0  # originals decoded (one per computed image)
    inference_seconds: float = 0.0  # time spent in the model itself

    @property
    def images_per_s(self) -> float | None:
        """Computed images per second, decode included; None when nothing was computed (a fully
        cached run has no such rate: reporting 0 would plot as a collapse)."""
        return self.computed / self.compute_seconds if self.computed and self.compute_seconds > 0 else None

    @property
    def cached_per_s(self) -> float | None:
        return self.cache_hits / self.cache_read_seconds if self.cache_hits and self.cache_read_seconds > 0 else None


def cnn_input(img: Image.Image, side: int) -> np.ndarray:
    """The CNN input from a decoded picture: box-reduce while the short side stays >= 2x ``side``,
    then centre crop and one resize (what ``model_input`` always did, from any decode size)."""
    factor = min(img.size) // side
    if factor >= 2:
        img = img.reduce(factor)
    return square_input(img, side)


def model_input(data: bytes, side: int, name: str = "image") -> np.ndarray:
    """The CNN input for one image: cheapest decode covering ``side``, centre crop, one resize."""
    img, _ = decode(data, name=name, short_side=side)
    return square_input(img, side)


def cache_key(model_id: str, sha256: str) -> str:
    """Where versions before the packed store kept one image's vector (still read)."""
    return legacy_feature(model_id, sha256)


def _load_cached(storage: Storage, key: str, dim: int) -> tuple[np.ndarray | None, bool]:
    """(vector, was_present_but_bad)."""
    try:
        data = storage.read_bytes(key)
    except (FileNotFoundError, OSError):
        return None, False
    try:
        vec = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:
        return None, True
    if vec.shape != (dim,) or vec.dtype != np.float32 or not np.isfinite(vec).all():
        return None, True
    return vec, False


def _legacy_folder_exists(storage: Storage, model_id: str) -> bool:
    names = storage.list(f"{FEATURE_CACHE}/{model_id}")
    return any(n != "packs" for n in names)


def read_cached(items: Sequence[dict[str, Any]], storage: Storage, model_id: str, dim: int,
                store: FeatureStore | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(vectors, found, rejected, seconds) for ``items`` from the store, then per-image files."""
    started = time.perf_counter()
    store = store or FeatureStore(storage, model_id, dim)
    found = store.lookup([e["sha256"] for e in items])
    out, ok, bad = found.vectors, found.found, found.rejected
    missing = [i for i in range(len(items)) if not ok[i]]
    if missing and _legacy_folder_exists(storage, model_id):
        with ThreadPoolExecutor(max_workers=8) as pool:
            legacy = list(pool.map(lambda i: _load_cached(storage, cache_key(model_id, items[i]["sha256"]), dim), missing))
        for i, (vec, damaged) in zip(missing, legacy):
            if vec is not None:
                out[i], ok[i], bad[i] = vec, True, False
            else:
                bad[i] = bad[i] or damaged
    return out, ok, bad, time.perf_counter() - started


def compute_features(
    items: Sequence[dict[str, Any]],
    read_bytes: Callable[[str], bytes],
    extractor: Extractor,
    storage: Storage | None,
    batch_size: int = 32,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    *,
    store: FeatureStore | None = None,
    decode_at: tuple[int, int] | None = None,
    derive: Callable[[dict[str, Any], Image.Image], None] | None = None,
) -> FeatureRun:
    """Features for ``items`` (catalogue entries with ``file`` and ``sha256``), in order.

    ``decode_at=(short, long)``: decode each computed image once with at least that many pixels on
    its short / long side (default: just the CNN input); ``derive(item, picture)`` then gets the
    decoded picture (in a decode thread). ``progress(done, todo)`` is called after every batch.
    """
    started = time.perf_counter()
    n, dim, side = len(items), int(extractor.dim), int(extractor.input_size)
    hits = rejected = 0
    read_s = 0.0
    if storage is not None:
        store = store or FeatureStore(storage, extractor.model_id, dim)
        out, ok, bad, read_s = read_cached(items, storage, extractor.model_id, dim, store)
        hits, rejected = int(ok.sum()), int(bad.sum())
        todo = [i for i in range(n) if not ok[i]]
    else:
        out = np.zeros((n, dim), dtype=np.float32)
        todo = list(range(n))
    if not todo:
        return FeatureRun(out, hits, rejected, 0, time.perf_counter() - started, 0.0, 0.0, read_s)

    at_least = (max(side, decode_at[0]), decode_at[1]) if decode_at else (side, 0)
    loader = _Loader(items, read_bytes, at_least, side, derive)
    compute_started = time.perf_counter()
    parallel = int(getattr(extractor, "parallel_calls", 1))
    if parallel > 1:  # each worker decodes and runs the model on its own images
        task = _InferInWorker(loader, extractor)
        _infer(_batches(todo, task, max(workers, parallel), batch_size), None, out, items, store, progress, len(todo))
        infer_s = task.seconds
    else:  # workers decode, this thread runs the model on whole batches
        infer_s = _infer(_batches(todo, loader, workers, batch_size), extractor, out, items, store, progress, len(todo))
    compute_seconds = time.perf_counter() - compute_started
    return FeatureRun(out, hits, rejected, len(todo), time.perf_counter() - started, compute_seconds,
                      loader.seconds, read_s, loader.decodes, infer_s)


class _Loader:
    """Decodes item ``i`` to the CNN input (in a worker thread), handing the picture to ``derive``."""

    def __init__(self, items: Sequence[dict[str, Any]], read_bytes: Callable[[str], bytes],
                 at_least: tuple[int, int], side: int,
                 derive: Callable[[dict[str, Any], Image.Image], None] | None) -> None:
        self.items, self.read_bytes, self.at_least, self.side, self.derive = items, read_bytes, at_least, side, derive
        self.lock = threading.Lock()
        self.seconds, self.decodes = 0.0, 0

    def __call__(self, i: int) -> np.ndarray:
        t = time.perf_counter()
        e = self.items[i]
        img, _ = decode(self.read_bytes(e["file"]), name=e["file"], at_least=self.at_least)
        arr = cnn_input(img, self.side)
        if self.derive is not None:
            self.derive(e, img)
        with self.lock:
            self.seconds += time.perf_counter() - t
            self.decodes += 1
        return arr


class _InferInWorker:
    """Decode item ``i`` and run the model on it, in the worker thread.

    Why: with a runtime whose call releases the GIL and runs on one thread (LiteRT here, see
    ``cviz.embed.models.litert``), two workers each running whole images keep both cores busy without
    the intra-op synchronisation a two-thread call pays, and a worker's decode fills the time the
    other spends in the model. ``seconds`` sums the model's time over the workers.
    """

    def __init__(self, load: _Loader, extractor: Extractor) -> None:
        self.load, self.extractor = load, extractor
        self.lock = threading.Lock()
        self.seconds = 0.0

    def __call__(self, i: int) -> np.ndarray:
        arr = self.load(i)
        t = time.perf_counter()
        vec = np.asarray(self.extractor(arr[None]), dtype=np.float32)[0]
        with self.lock:
            self.seconds += time.perf_counter() - t
        return vec


def _batches(todo: list[int], load: Callable[[int], np.ndarray], workers: int,
             batch_size: int) -> Iterator[tuple[list[int], np.ndarray]]:
    """Decoding runs in worker threads (Pillow, libvips and the runtime release the GIL) while the
    caller runs the model on the previous batch; at most three batches are in flight."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        chunks = [todo[k : k + batch_size] for k in range(0, len(todo), batch_size)]
        futures = [[pool.submit(load, i) for i in c] for c in chunks[:2]]
        for k, chunk in enumerate(chunks):
            if k + 2 < len(chunks):
                futures.append([pool.submit(load, i) for i in chunks[k + 2]])
            yield chunk, np.stack([f.result() for f in futures[k]])
            futures[k] = []


def _infer(batches: Iterator[tuple[list[int], np.ndarray]], extractor: Extractor | None, out: np.ndarray,
           items: Sequence[dict[str, Any]], store: FeatureStore | None,
           progress: Callable[[int, int], None] | None, total: int) -> float:
    """Run the model on each batch into ``out`` (``extractor`` None: the batches are vectors
    already), adding vectors to the store every FLUSH_EVERY images (a step killed after hours keeps
    what it computed); returns the inference seconds spent here."""
    infer_s = 0.0
    done = 0
    pending: list[int] = []
    for chunk, arr in batches:
        t = time.perf_counter()
        vecs = arr if extractor is None else np.asarray(extractor(arr), dtype=np.float32)
        infer_s += time.perf_counter() - t
        out[chunk] = vecs
        pending.extend(chunk)
        done += len(chunk)
        if store is not None and len(pending) >= FLUSH_EVERY:
            store.add([items[i]["sha256"] for i in pending], out[pending])
            pending = []
        if progress:
            progress(done, total)
    if store is not None and pending:
        store.add([items[i]["sha256"] for i in pending], out[pending])
    return infer_s
