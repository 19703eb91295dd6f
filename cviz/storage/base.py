"""The storage root's interface: what every stage may do under it, whatever the backend.

Every output of every stage is read and written through a :class:`Storage`, by ``/``-separated
paths relative to the root. ``cviz.storage.open_storage(root)`` picks the implementation from the root:
:class:`~cviz.storage.local.LocalStorage` for a folder, :class:`~cviz.storage.objects.ObjectStorage`
for a URL (``s3://`` today; any fsspec protocol, e.g. ``gs://`` or ``az://``, through the same class).
Code outside this package never asks which one it has: it calls the operations below, and each
backend does what its medium allows (the same split as the two filesystem resources of
dagster-io/hooli-data-eng-pipelines).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Iterator

import numpy as np

from cviz.paths import safe_relpath


def is_url(root: str) -> bool:
    """True for ``protocol://...`` roots (object storage); False for a local folder or ``file://``."""
    text = str(root)
    return "://" in text and not text.startswith("file://")


class Storage(ABC):
    """The storage root. ``rel`` arguments are ``/``-separated paths that may not leave the root.

    ``open_storage(root, storage_options)`` returns the backend the root names (see the module docstring).
    """

    root_url: str
    storage_options: dict[str, Any]
    base: str

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root_url = str(root)
        self.storage_options = dict(storage_options or {})

    # -- paths -------------------------------------------------------------------------------
    def path(self, rel: str) -> str:
        """Full backend path of ``rel`` (validated so it cannot escape the root)."""
        return f"{self.base}/{safe_relpath(rel)}"

    @abstractmethod
    def url(self, rel: str = "") -> str:
        """A URL (or local path) a person can read; never credentials."""

    def os_path(self, rel: str) -> str | None:
        """A path ``open()`` can use (fast paths: mmap, a model cache folder), or None on object storage."""
        return None

    # -- reading -----------------------------------------------------------------------------
    @abstractmethod
    def exists(self, rel: str) -> bool:
        """True if a file or folder ``rel`` exists now (never a stale cached answer)."""

    @abstractmethod
    def read_bytes(self, rel: str) -> bytes:
        """The whole file; FileNotFoundError when it is not there."""

    @abstractmethod
    def list(self, rel: str) -> list[str]:
        """Names (not paths) directly under folder ``rel``, sorted; empty when it does not exist."""

    @abstractmethod
    def find(self, rel: str) -> set[str]:
        """Every file under folder ``rel`` (recursively), as paths relative to ``rel``."""

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel).decode("utf-8"))

    def read_npy(self, rel: str) -> np.ndarray:
        return np.load(io.BytesIO(self.read_bytes(rel)), allow_pickle=False)

    def load_npy(self, rel: str, mmap: bool = False) -> np.ndarray:
        """``read_npy``, memory-mapped where the backend can (only the rows looked up are read)."""
        return self.read_npy(rel)

    # -- writing -----------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` atomically: readers see the old bytes or the new ones, never a mix."""
        self._write(rel, data)

    @abstractmethod
    def _write(self, rel: str, data: bytes) -> None:
        """The backend's atomic write (``write_bytes`` is the one entry point, patched by tests)."""

    def write_json(self, rel: str, obj: Any, *, compact: bool = False) -> int:
        if compact:
            text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        else:
            text = json.dumps(obj, ensure_ascii=False, indent=1, allow_nan=False)
        data = text.encode("utf-8")
        self.write_bytes(rel, data)
        return len(data)

    def write_npy(self, rel: str, array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        self.write_bytes(rel, buf.getvalue())

    def write_many(self, items: Iterable[tuple[str, bytes]], workers: int = 8) -> int:
        """Write many small files in parallel: tiles on S3 are otherwise round-trip bound.

        Bounded both ways: ``workers`` requests at a time, and at most ``2 * workers`` items taken
        from ``items`` ahead of the writes (a generator of encoded tiles is never drained into memory).
        """
        count = 0
        window = max(1, 2 * workers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: list[Any] = []
            for rel, data in items:
                pending.append(pool.submit(self.write_bytes, rel, data))
                if len(pending) >= window:
                    pending.pop(0).result()
                    count += 1
            for f in pending:
                f.result()
                count += 1
        return count

    def write_batch(self, items: list[tuple[str, bytes]], concurrency: int = 8) -> int:
        """Write an already encoded batch (one tile row) the fastest way the backend allows
        (``concurrency`` parallel requests where requests are round trips)."""
        return self.write_many(items, concurrency)

    def copy_file(self, src_rel: str, dst_rel: str) -> None:
        """Make ``dst_rel`` hold ``src_rel``'s bytes, as cheaply as the medium allows (a hard link,
        a server-side copy): how a new version takes the unchanged tiles of an immutable old one.
        This default reads and writes; FileNotFoundError when ``src_rel`` is missing."""
        self.write_bytes(dst_rel, self.read_bytes(src_rel))

    def link_many(self, pairs: Iterable[tuple[str, str]], workers: int = 8) -> int:
        """``copy_file`` for many ``(src_rel, dst_rel)`` pairs, ``workers`` requests at a time."""
        pairs = list(pairs)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for f in [pool.submit(self.copy_file, s, d) for s, d in pairs]:
                f.result()
        return len(pairs)

    @abstractmethod
    def append_line(self, rel: str, line: bytes) -> None:
        """Append one line to ``rel`` (created if missing); lines of concurrent writers never interleave
        where the backend can promise it."""

    # -- removing ----------------------------------------------------------------------------
    @abstractmethod
    def remove_tree(self, rel: str) -> None:
        """Remove file or folder ``rel`` and everything under it; nothing when it is not there."""

    @abstractmethod
    def remove_file(self, rel: str) -> None:
        """Remove one file; a missing one is not an error."""

    @abstractmethod
    def retire_folder(self, rel: str, trash_rel: str) -> None:
        """Take folder ``rel`` out of use now: renamed to ``trash_rel`` where a rename is one cheap
        call (deleted later by :meth:`remove_tree`), deleted at once where a rename is a copy."""

    def remove_stale_temp(self, rel: str, older_than_s: float = 3600.0) -> int:
        """Delete temporaries a write cut short by kill -9 left directly under ``rel``; how many.
        Backends whose writes leave nothing behind (an S3 PUT) have nothing to do."""
        return 0

    # -- coordination ------------------------------------------------------------------------
    #: True when :meth:`mutex` excludes other processes (a local flock); False where it is a no-op
    #: and a claim must be written, left to settle and read back (object storage).
    exclusive_mutex: bool = False

    @contextlib.contextmanager
    def mutex(self, rel: str) -> Iterator[None]:
        """Hold an exclusive lock named ``rel`` across processes where the backend has one."""
        yield

    def new_version(self) -> str:
        """A unique folder name for a version of published outputs that sorts in creation order,
        to the microsecond (versions retire oldest first by name; several can start in one second)."""
        now = time.time()
        return (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1e6):06d}-"
                + uuid.uuid4().hex[:8])
