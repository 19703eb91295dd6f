"""The packed per-model feature store: cached vectors read in bulk, at the speed of the disk.

Per-image ``.npy`` files (``cache/features/<model_id>/<sha[:2]>/<sha>.npy``) made a 13,000-item
re-run open 13,000 files (12.7 s here). The store keeps the same content addressing (a vector is
found by model id + image sha256) but packs vectors into *segments*: each is two files under
``cache/features/<model_id>/packs/``, ``<seg>.vecs.npy`` (rows x dim float32) and ``<seg>.keys.npy``
(the rows' sha256 as 64-byte strings), written vectors first and keys last, each atomically, so a
segment without its keys file is invisible and one with keys is whole or detectably damaged.

Why segments and not one file: writers never rewrite what another process may be reading: each
run (or ``features_chunks`` worker, on another machine) adds its own new segment, so there is no
lock and no lost update, locally or on S3. When there are more than :data:`MAX_SEGMENTS`, the
writer merges them into one and deletes the merged ones (a reader that meets a vanished segment
skips it; what it misses is recomputed, never wrong).

Damage: a segment whose vectors file does not load or has the wrong shape/dtype is ignored (its
requested rows count as rejected and are recomputed) and removed; a row with NaN/inf is ignored;
a later segment's valid row for the same image wins.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from cviz.paths import feature_pack, feature_packs
from cviz.storage import Storage

MAX_SEGMENTS = 32
KEYS, VECS = ".keys.npy", ".vecs.npy"


def packs_folder(model_id: str) -> str:
    return feature_packs(model_id)


@dataclass
class Lookup:
    vectors: np.ndarray  # len(shas) x dim; zeros where not found
    found: np.ndarray  # bool
    rejected: np.ndarray  # bool: present in the store but damaged (to be recomputed)
    seconds: float


@dataclass
class FeatureStore:
    storage: Storage
    model_id: str
    dim: int
    _index: dict[bytes, tuple[int, int]] | None = field(default=None, repr=False)
    _vecs: list[np.ndarray] = field(default_factory=list, repr=False)
    _damaged: set[bytes] = field(default_factory=set, repr=False)
    segments_read: int = 0

    @property
    def folder(self) -> str:
        return packs_folder(self.model_id)

    def _segments(self) -> list[str]:
        return sorted(n[: -len(KEYS)] for n in self.storage.list(self.folder) if n.endswith(KEYS))

    def _load_array(self, rel: str, mmap: bool) -> np.ndarray:
        return self.storage.load_npy(rel, mmap=mmap)  # mapped where it can be: only the rows looked up are read

    def _load(self) -> None:
        """Read every segment's keys (small) and map its vectors; build sha -> (segment, row)."""
        index: dict[bytes, tuple[int, int]] = {}
        for seg in self._segments():
            try:
                keys = self._load_array(feature_pack(self.model_id, seg, "keys"), mmap=False)
            except FileNotFoundError:
                continue  # merged away by another writer since the listing
            except Exception:
                self._remove(seg)
                continue
            if keys.ndim != 1 or keys.dtype.kind != "S":
                self._remove(seg)
                continue
            try:
                vecs = self._load_array(feature_pack(self.model_id, seg, "vecs"), mmap=True)
                ok = vecs.shape == (len(keys), self.dim) and vecs.dtype == np.float32
            except FileNotFoundError:
                continue
            except Exception:
                ok = False
            if not ok:
                self._damaged.update(keys.tolist())
                self._remove(seg)
                continue
            self.segments_read += 1
            s = len(self._vecs)
            self._vecs.append(vecs)
            for row, key in enumerate(keys.tolist()):
                index[key] = (s, row)  # later segments win
        self._index = index

    def _remove(self, seg: str) -> None:
        for kind in ("keys", "vecs"):  # keys first: the segment disappears before its vectors
            try:
                self.storage.remove_file(feature_pack(self.model_id, seg, kind))
            except OSError:
                pass

    def lookup(self, shas: Sequence[str]) -> Lookup:
        started = time.perf_counter()
        if self._index is None:
            self._load()
        assert self._index is not None
        n = len(shas)
        out = np.zeros((n, self.dim), dtype=np.float32)
        found = np.zeros(n, dtype=bool)
        rejected = np.zeros(n, dtype=bool)
        by_segment: dict[int, list[tuple[int, int]]] = {}
        for i, sha in enumerate(shas):
            key = sha.encode("ascii")
            hit = self._index.get(key)
            if hit is None:
                rejected[i] = key in self._damaged
                continue
            by_segment.setdefault(hit[0], []).append((i, hit[1]))
        for s, pairs in by_segment.items():
            pairs.sort(key=lambda p: p[1])  # read the mapped file front to back
            idx = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
            rows = np.asarray(self._vecs[s][[p[1] for p in pairs]], dtype=np.float32)
            good = np.isfinite(rows).all(axis=1)
            out[idx[good]] = rows[good]
            found[idx[good]] = True
            rejected[idx[~good]] = True
        return Lookup(out, found, rejected, time.perf_counter() - started)

    def add(self, shas: Sequence[str], vectors: np.ndarray) -> None:
        """Write one new segment (vectors, then keys), then merge if there are too many."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        keep = np.isfinite(vectors).all(axis=1)
        if not keep.any():
            return
        keys = np.array([s.encode("ascii") for s, k in zip(shas, keep) if k], dtype="S64")
        seg = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self.storage.write_npy(feature_pack(self.model_id, seg, "vecs"), vectors[keep])
        self.storage.write_npy(feature_pack(self.model_id, seg, "keys"), keys)
        if self._index is not None:
            s = len(self._vecs)
            self._vecs.append(vectors[keep])
            for row, key in enumerate(keys.tolist()):
                self._index[key] = (s, row)
        if len(self._segments()) > MAX_SEGMENTS:
            self.compact()

    def compact(self) -> int:
        """Merge every segment into one; returns the rows kept."""
        fresh = FeatureStore(self.storage, self.model_id, self.dim)
        fresh._load()
        assert fresh._index is not None
        olds = self._segments()
        keys = sorted(fresh._index)
        if not keys:
            return 0
        shas = [k.decode("ascii") for k in keys]
        merged = fresh.lookup(shas)
        seg = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        good = merged.found
        self.storage.write_npy(feature_pack(self.model_id, seg, "vecs"), merged.vectors[good])
        self.storage.write_npy(feature_pack(self.model_id, seg, "keys"), np.array(keys, dtype="S64")[good])
        for old in olds:
            self._remove(old)
        self._index = None
        self._vecs = []
        return int(good.sum())
