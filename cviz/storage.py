"""One storage root (local folder or ``s3://bucket/prefix``) behind one small interface.

Every output of every stage is read and written here, by paths relative to the root, so local
and S3 differ only in the fsspec filesystem underneath. Writes are atomic: local files are
written to a temporary name in the same folder and renamed; an S3 PUT replaces an object whole.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import posixpath
import random
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

import fsspec
import numpy as np

from cviz.errors import CvizError, StorageFull
from cviz.names import safe_relpath

log = logging.getLogger("cviz.storage")


def filesystem_for(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return the fsspec filesystem and the protocol-less path for a local path or URL.

    ``storage_options`` are s3fs options: they are passed for ``s3://`` URLs only, so one set
    serves a local storage root with images on S3 and the other way round.
    """
    protocol = str(url).split("://", 1)[0] if "://" in str(url) else "file"
    options = (storage_options or {}) if protocol in ("s3", "s3a") else {}
    fs, path = fsspec.core.url_to_fs(url, **options)
    return fs, path


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class StorageUnavailable(CvizError):
    """Object storage kept failing with transient errors (connection refused, timeouts, 5xx).

    Deliberately not an OSError: nothing that treats an unreadable file as "skip it" may swallow it.
    """


RETRIES = 5  # attempts per remote operation ($CVIZ_STORAGE_RETRIES)
BACKOFF_S = 0.5  # first wait in seconds, doubled each time, capped ($CVIZ_STORAGE_BACKOFF_S)
BACKOFF_CAP_S = 8.0
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
_TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNRESET,
                     errno.ECONNREFUSED, errno.ECONNABORTED, errno.EPIPE, errno.EHOSTUNREACH}
_TRANSIENT_WORDS = ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttl",
                    "reduce your request rate", "Could not connect", "Connection was closed")


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying against object storage; never for a missing key or no access."""
    if isinstance(exc, _PERMANENT):
        return False
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError
        if isinstance(exc, (BotoConnectionError, HTTPClientError)):
            return True
    except ImportError:  # pragma: no cover - s3fs brings botocore
        pass
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    return any(word in str(exc) for word in _TRANSIENT_WORDS)


def with_retries(op: str, target: str, call: Any, *args: Any, attempts: int | None = None,
                 backoff_s: float | None = None, **kwargs: Any) -> Any:
    """``call(*args)`` retried with exponential backoff (and jitter) on transient errors.

    After the last attempt raises ``StorageUnavailable`` naming the operation and ``target`` (the
    key or URL, never credentials), so a failed run says which object it could not reach.
    """
    if attempts is None:
        attempts = int(os.environ.get("CVIZ_STORAGE_RETRIES") or RETRIES)
    attempts = max(1, attempts)
    delay = float(os.environ.get("CVIZ_STORAGE_BACKOFF_S") or BACKOFF_S) if backoff_s is None else backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return call(*args, **kwargs)
        except BaseException as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise StorageUnavailable(
                    f"storage: cannot {op} {target}: still failing after {attempts} attempts "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            wait = min(BACKOFF_CAP_S, delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            log.warning("storage: %s %s failed (%s: %s); retry %d/%d in %.1fs",
                        op, target, type(exc).__name__, exc, attempt, attempts - 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def read_source(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """Read a source image (local or remote) with the same retries as the storage root."""
    if is_local(fs):
        return fs.cat_file(path)
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return with_retries("read", f"{protocol}://{path}", fs.cat_file, path)


class Storage:
    """The storage root. ``rel`` arguments are ``/``-separated paths that may not leave the root."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root_url = root
        self.storage_options = dict(storage_options or {})
        self.fs, base = filesystem_for(root, self.storage_options)
        self.local = is_local(self.fs)
        if self.local:
            base = os.path.abspath(os.path.expanduser(base))
            os.makedirs(base, exist_ok=True)
        self.base = base.rstrip("/")

    # -- paths -------------------------------------------------------------------------------
    def path(self, rel: str) -> str:
        """Full filesystem path of ``rel`` (validated so it cannot escape the root)."""
        return f"{self.base}/{safe_relpath(rel)}"

    def url(self, rel: str = "") -> str:
        """A URL a person can read (no credentials: those live in storage_options only)."""
        if not rel:
            return self.root_url
        return self.path(rel) if self.local else f"{self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol}://{self.path(rel)}"

    def local_path(self, rel: str) -> str | None:
        return self.path(rel) if self.local else None

    def _call(self, op: str, rel: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Local calls as they are; remote ones retried on transient errors (see with_retries)."""
        if self.local:
            return call(*args, **kwargs)
        return with_retries(op, self.url(rel), call, *args, **kwargs)

    # -- reading ---------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        path = self.path(rel)
        if not self.local:
            self.fs.invalidate_cache(path)  # another process may have written it since
        return self._call("check", rel, self.fs.exists, path)

    def read_bytes(self, rel: str) -> bytes:
        return self._call("read", rel, self.fs.cat_file, self.path(rel))

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel).decode("utf-8"))

    def read_npy(self, rel: str) -> np.ndarray:
        return np.load(io.BytesIO(self.read_bytes(rel)), allow_pickle=False)

    def list(self, rel: str) -> list[str]:
        """Names (not paths) directly under folder ``rel``; empty when it does not exist."""
        path = self.path(rel)
        if not self.local:
            self.fs.invalidate_cache(path)  # s3fs caches listings per process; workers live long
        try:
            entries = self._call("list", rel, self.fs.ls, path, detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e.rstrip("/")) for e in entries)

    # -- writing ---------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> None:
        path = self.path(rel)
        if self.local:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException as exc:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
                    raise StorageFull(
                        f"storage full: no space left on the device holding {self.base} while writing {rel} "
                        f"({len(data)} bytes); nothing was replaced and the published map is unchanged: "
                        "free space (or raise the quota) and re-run"
                    ) from exc
                raise
        else:
            self._call("write", rel, self.fs.pipe_file, path, data)

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

    def remove_tree(self, rel: str) -> None:
        path = self.path(rel)
        if self.exists(rel):
            self._call("remove", rel, self.fs.rm, path, recursive=True)

    def remove_stale_temp(self, rel: str, older_than_s: float = 3600.0) -> int:
        """Delete ``.tmp-*`` files directly under folder ``rel`` that are older than ``older_than_s``.

        They are what a write cut short by kill -9 leaves behind (readers never see them: the real
        name is only ever renamed into place). Local roots only; an S3 PUT leaves nothing.
        """
        if not self.local:
            return 0
        folder = self.path(rel)
        removed = 0
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return 0
        cutoff = time.time() - older_than_s
        for entry in entries:
            if entry.name.startswith(".tmp-") and entry.is_file(follow_symlinks=False):
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def new_version(self) -> str:
        """A unique folder name for a version of published outputs that sorts in creation order,
        to the microsecond (versions retire oldest first by name; several can start in one second)."""
        now = time.time()
        return (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1e6):06d}-"
                + uuid.uuid4().hex[:8])
