"""A storage root on object storage through fsspec (S3 via s3fs today; GCS or Azure by URL).

Everything that is particular to object stores lives here: transient errors (throttling,
timeouts, 5xx) are retried with exponential backoff and then fail naming the key
(:func:`with_retries`); listings and existence checks bypass fsspec's per-process cache (another
worker may have written since); a PUT replaces an object whole (atomic, nothing left behind);
there is no rename (a retired folder is deleted), no append (an object is read and rewritten) and
no lock primitive (:attr:`exclusive_mutex` is False: callers write a claim and read it back).
"""

from __future__ import annotations

import errno
import logging
import posixpath
import random
import time
from typing import Any

import fsspec

from cviz.errors import CvizError
from cviz.settings import settings
from cviz.storage.base import Storage

log = logging.getLogger("cviz.storage")

BACKOFF_CAP_S = 8.0
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
_TRANSIENT_ERRNOS = {errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ECONNRESET,
                     errno.ECONNREFUSED, errno.ECONNABORTED, errno.EPIPE, errno.EHOSTUNREACH}
_TRANSIENT_WORDS = ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttl",
                    "reduce your request rate", "Could not connect", "Connection was closed")


class StorageUnavailable(CvizError):
    """Object storage kept failing with transient errors (connection refused, timeouts, 5xx).

    Deliberately not an OSError: nothing that treats an unreadable file as "skip it" may swallow it.
    """


def filesystem_for(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return the fsspec filesystem and the protocol-less path for a local path or URL.

    ``storage_options`` are s3fs options: they are passed for ``s3://`` URLs only, so one set
    serves a local storage root with images on S3 and the other way round.
    """
    protocol = str(url).split("://", 1)[0] if "://" in str(url) else "file"
    options = (storage_options or {}) if protocol in ("s3", "s3a") else {}
    fs, path = fsspec.core.url_to_fs(url, **options)
    return fs, path


def protocol_of(fs: fsspec.AbstractFileSystem) -> str:
    return fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying against object storage; never for a missing key or no access."""
    if isinstance(exc, _PERMANENT):
        return False
    from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError

    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    return any(word in str(exc) for word in _TRANSIENT_WORDS)


def with_retries(op: str, target: str, call: Any, *args: Any, attempts: int | None = None,
                 backoff_s: float | None = None, **kwargs: Any) -> Any:
    """``call(*args)`` retried with exponential backoff (and jitter) on transient errors.

    Attempts and the first wait default to ``$CVIZ_STORAGE_RETRIES`` and ``$CVIZ_STORAGE_BACKOFF_S``.
    After the last attempt raises ``StorageUnavailable`` naming the operation and ``target`` (the
    key or URL, never credentials), so a failed run says which object it could not reach.
    """
    s = settings()
    attempts = max(1, s.storage_retries if attempts is None else attempts)
    delay = s.storage_backoff_s if backoff_s is None else backoff_s
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
    return with_retries("read", f"{protocol_of(fs)}://{path}", fs.cat_file, path)


class ObjectStorage(Storage):
    """``<protocol>://bucket/prefix`` as the storage root, every call retried on transient errors."""

    exclusive_mutex = False

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(root, storage_options)
        self.fs, base = filesystem_for(root, self.storage_options)
        self.protocol = protocol_of(self.fs)
        self.base = base.rstrip("/")

    def url(self, rel: str = "") -> str:
        return f"{self.protocol}://{self.path(rel)}" if rel else self.root_url

    def _call(self, op: str, rel: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        return with_retries(op, self.url(rel), call, *args, **kwargs)

    # -- reading -----------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        path = self.path(rel)
        self.fs.invalidate_cache(path)  # another process may have written it since
        return self._call("check", rel, self.fs.exists, path)

    def read_bytes(self, rel: str) -> bytes:
        return self._call("read", rel, self.fs.cat_file, self.path(rel))

    def list(self, rel: str) -> list[str]:
        path = self.path(rel)
        self.fs.invalidate_cache(path)  # s3fs caches listings per process; workers live long
        try:
            entries = self._call("list", rel, self.fs.ls, path, detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e.rstrip("/")) for e in entries)

    def find(self, rel: str) -> set[str]:
        path = self.path(rel)
        self.fs.invalidate_cache(path)
        return {p[len(path) + 1:] for p in self._call("list", rel, self.fs.find, path, withdirs=False)}

    # -- writing -----------------------------------------------------------------------------
    def _write(self, rel: str, data: bytes) -> None:
        self._call("write", rel, self.fs.pipe_file, self.path(rel), data)  # a PUT replaces the object whole

    def copy_file(self, src_rel: str, dst_rel: str) -> None:
        """A server-side copy (S3 CopyObject): the bytes never travel through this process."""
        self._call("copy", dst_rel, self.fs.cp_file, self.path(src_rel), self.path(dst_rel))

    def append_line(self, rel: str, line: bytes) -> None:
        """No append on object stores: read and rewrite (alerts are rare; concurrent appends may lose one)."""
        try:
            old = self.read_bytes(rel)
        except FileNotFoundError:
            old = b""
        self.write_bytes(rel, old + line)

    # -- removing ----------------------------------------------------------------------------
    def remove_tree(self, rel: str) -> None:
        if self.exists(rel):
            self._call("remove", rel, self.fs.rm, self.path(rel), recursive=True)

    def remove_file(self, rel: str) -> None:
        try:
            self._call("remove", rel, self.fs.rm_file, self.path(rel))
        except FileNotFoundError:
            pass

    def retire_folder(self, rel: str, trash_rel: str) -> None:
        self.remove_tree(rel)  # a rename is a copy here: delete at once
