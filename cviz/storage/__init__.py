"""One storage root (local folder or ``s3://bucket/prefix``) behind one small interface.

- :mod:`cviz.storage.base`: :class:`Storage`, the interface every stage uses.
- :func:`open_storage` (here): the one factory; it returns the backend the root names.
- :mod:`cviz.storage.local`: :class:`LocalStorage` (a folder: temp file + rename, flock, mmap).
- :mod:`cviz.storage.objects`: :class:`ObjectStorage` (fsspec: S3 today, GCS/Azure by URL) and
  everything particular to object stores (retries of transient errors, source reads).

A new backend is one subclass of :class:`Storage`.
"""

from __future__ import annotations

from typing import Any

from cviz.storage.base import Storage, is_url
from cviz.storage.local import LocalStorage
from cviz.storage.objects import (
    ObjectStorage,
    StorageUnavailable,
    filesystem_for,
    is_local,
    is_transient,
    read_source,
    with_retries,
)

__all__ = ["Storage", "LocalStorage", "ObjectStorage", "StorageUnavailable", "filesystem_for", "is_local",
           "is_transient", "is_url", "open_storage", "read_source", "with_retries"]


def open_storage(root: str, storage_options: dict[str, Any] | None = None) -> Storage:
    """The backend for ``root``: :class:`ObjectStorage` for a URL (``s3://...``), else :class:`LocalStorage`."""
    backend = ObjectStorage if is_url(root) else LocalStorage
    return backend(root, storage_options)
