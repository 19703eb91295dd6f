"""One storage root (local folder or ``s3://bucket/prefix``) behind one small interface.

Every output of every stage is read and written here, by paths relative to the root, so local
and S3 differ only in the fsspec filesystem underneath. Writes are atomic: local files are
written to a temporary name in the same folder and renamed; an S3 PUT replaces an object whole.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

import fsspec
import numpy as np

from cviz.names import safe_relpath


def filesystem_for(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return the fsspec filesystem and the protocol-less path for a local path or URL."""
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return fs, path


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


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

    # -- reading ---------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self.path(rel))

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel).decode("utf-8"))

    def read_npy(self, rel: str) -> np.ndarray:
        return np.load(io.BytesIO(self.read_bytes(rel)), allow_pickle=False)

    def list(self, rel: str) -> list[str]:
        """Names (not paths) directly under folder ``rel``; empty when it does not exist."""
        try:
            entries = self.fs.ls(self.path(rel), detail=False)
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
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        else:
            self.fs.pipe_file(path, data)

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
        """Write many small files in parallel (bounded): tiles on S3 are otherwise round-trip bound."""
        count = 0
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(lambda kv: self.write_bytes(*kv), items):
                count += 1
        return count

    def remove_tree(self, rel: str) -> None:
        path = self.path(rel)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def new_version(self) -> str:
        """A unique, sortable folder name for a version of published outputs."""
        import time

        return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
