"""Feature vectors for a collection: batched, decode overlapped with inference, cached per image.

The cache key is (model identity, image content hash), so re-running a collection after adding
ten images computes ten vectors, and collections that share images share the work. A cache entry
is a small ``.npy`` file; one that does not load, has the wrong shape or holds NaN/inf is
recomputed and rewritten, never used.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from cviz.imaging import decode, square_input
from cviz.paths import FEATURE_CACHE
from cviz.storage import Storage


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
    compute_seconds: float
    decode_seconds: float

    @property
    def images_per_s(self) -> float:
        return self.computed / self.compute_seconds if self.compute_seconds > 0 else 0.0


def model_input(data: bytes, side: int, name: str = "image") -> np.ndarray:
    """The CNN input for one image: cheapest decode covering ``side``, centre crop, one resize."""
    img, _ = decode(data, name=name, short_side=side)
    return square_input(img, side)


def cache_key(model_id: str, sha256: str) -> str:
    return f"{FEATURE_CACHE}/{model_id}/{sha256[:2]}/{sha256}.npy"


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


def compute_features(
    items: Sequence[dict[str, Any]],
    read_bytes: Callable[[str], bytes],
    extractor: Extractor,
    storage: Storage | None,
    batch_size: int = 32,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureRun:
    """Features for ``items`` (catalogue entries with ``file`` and ``sha256``), in order."""
    started = time.perf_counter()
    n, dim, side = len(items), extractor.dim, extractor.input_size
    out = np.zeros((n, dim), dtype=np.float32)
    hits = rejected = 0
    todo: list[int] = []
    if storage is not None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            cached = list(pool.map(lambda e: _load_cached(storage, cache_key(extractor.model_id, e["sha256"]), dim), items))
        for i, (vec, bad) in enumerate(cached):
            if vec is not None:
                out[i] = vec
                hits += 1
            else:
                rejected += bad
                todo.append(i)
    else:
        todo = list(range(n))

    decode_total = 0.0

    def load(i: int) -> np.ndarray:
        nonlocal decode_total
        t = time.perf_counter()
        arr = model_input(read_bytes(items[i]["file"]), side, items[i]["file"])
        decode_total += time.perf_counter() - t
        return arr

    def batches() -> Iterator[tuple[list[int], np.ndarray]]:
        # Decoding runs in worker threads (Pillow releases the GIL) while the caller runs the model
        # on the previous batch; map() keeps at most a few batches in flight.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            chunks = [todo[k : k + batch_size] for k in range(0, len(todo), batch_size)]
            futures = [pool.submit(lambda c=c: np.stack([load(i) for i in c])) for c in chunks[:2]]
            for k, chunk in enumerate(chunks):
                arr = futures[k].result()
                if k + 2 < len(chunks):
                    futures.append(pool.submit(lambda c=chunks[k + 2]: np.stack([load(i) for i in c])))
                yield chunk, arr

    compute_started = time.perf_counter()
    done = 0
    pending_writes = []
    with ThreadPoolExecutor(max_workers=4) as writer:
        for chunk, arr in batches():
            vecs = np.asarray(extractor(arr), dtype=np.float32)
            for i, vec in zip(chunk, vecs):
                out[i] = vec
                if storage is not None and np.isfinite(vec).all():
                    buf = io.BytesIO()
                    np.save(buf, vec, allow_pickle=False)
                    key = cache_key(extractor.model_id, items[i]["sha256"])
                    pending_writes.append(writer.submit(storage.write_bytes, key, buf.getvalue()))
            done += len(chunk)
            if progress:
                progress(done, len(todo))
        for f in pending_writes:
            f.result()
    compute_seconds = time.perf_counter() - compute_started
    return FeatureRun(out, hits, rejected, len(todo), time.perf_counter() - started, compute_seconds, decode_total)
