"""A storage root on a local (or mounted) filesystem: plain ``os`` calls, no fsspec overhead.

Writes go to a temporary name in the same folder and are renamed into place (atomic on POSIX);
a full disk raises :class:`~cviz.errors.StorageFull` naming the file.

Modes, whatever the umask: what is published (``published/``, served to browsers by a web server
that usually runs as another user) is world-readable, files 0644 and folders 0755; everything
else (locks, caches, a collection's config with its paths) keeps ``mkstemp``'s 0600. A file linked
into ``published/`` is made 0644 (the link shares its inode). ``mutex`` is an
``fcntl.flock``; ``retire_folder`` is one rename; ``load_npy`` memory-maps.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from typing import Any, Iterable, Iterator

import numpy as np

from cviz.errors import StorageFull
from cviz.paths import PUBLISHED
from cviz.storage.base import Storage

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_NO_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}
PUBLIC_FILE, PUBLIC_FOLDER = 0o644, 0o755


def is_public(rel: str) -> bool:
    """``rel`` is served to the viewer (under ``published/``)."""
    return rel == PUBLISHED or rel.startswith(PUBLISHED + "/")


class LocalStorage(Storage):
    """A folder as the storage root (created if missing)."""

    exclusive_mutex = True

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(root, storage_options)
        folder = str(root)[len("file://"):] if str(root).startswith("file://") else str(root)
        base = os.path.abspath(os.path.expanduser(folder))
        os.makedirs(base, exist_ok=True)
        self.base = base.rstrip("/") or "/"

    def url(self, rel: str = "") -> str:
        return self.path(rel) if rel else self.root_url

    def os_path(self, rel: str) -> str | None:
        return self.path(rel)

    # -- reading -----------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return os.path.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        # A plain open(): at 100,000 tiles fsspec's per-call overhead (about 0.15 ms) was a sizeable share.
        with open(self.path(rel), "rb") as f:
            return f.read()

    def list(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(rel)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def find(self, rel: str) -> set[str]:
        top = self.path(rel)
        found: set[str] = set()
        for folder, _dirs, files in os.walk(top):
            prefix = os.path.relpath(folder, top).replace(os.sep, "/")
            found.update(f if prefix == "." else f"{prefix}/{f}" for f in files)
        return found

    def load_npy(self, rel: str, mmap: bool = False) -> np.ndarray:
        return np.load(self.path(rel), mmap_mode="r" if mmap else None, allow_pickle=False)

    # -- writing -----------------------------------------------------------------------------
    def _folder(self, rel: str) -> str:
        """The folder of file ``rel``, made if missing (0755 each, under ``published/``)."""
        folder = os.path.dirname(self.path(rel))
        if os.path.isdir(folder):
            return folder
        if not is_public(rel):
            os.makedirs(folder, exist_ok=True)
            return folder
        missing = []  # from the deepest up to the first that exists (the root at the latest)
        sub = folder
        while not os.path.isdir(sub):
            missing.append(sub)
            sub = os.path.dirname(sub)
        for sub in reversed(missing):  # one mkdir and one chmod a new folder: a static IIIF tree makes 3 a tile
            with contextlib.suppress(FileExistsError):
                os.mkdir(sub)
            os.chmod(sub, PUBLIC_FOLDER)  # mkdir's mode is cut by the umask
        return folder

    def _write(self, rel: str, data: bytes) -> None:
        path = self.path(rel)
        folder = self._folder(rel)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            if is_public(rel):
                os.fchmod(fd, PUBLIC_FILE)
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

    def write_batch(self, items: list[tuple[str, bytes]], concurrency: int = 8) -> int:
        for rel, data in items:  # local writes are syscalls: threads only add overhead
            self.write_bytes(rel, data)
        return len(items)

    def copy_file(self, src_rel: str, dst_rel: str) -> None:
        """A hard link (about 20 us; versions are immutable and retired whole, so sharing the inode is
        safe: every write replaces a file by rename, never in place); a copy across devices or where
        links are refused."""
        self._link(src_rel, dst_rel, set())

    def link_many(self, pairs: Iterable[tuple[str, str]], workers: int = 8) -> int:
        made: set[str] = set()  # folders known to exist (one makedirs per folder, not per file)
        count = 0
        for src, dst in pairs:  # syscalls: threads would only add overhead
            self._link(src, dst, made)
            count += 1
        return count

    def _link(self, src_rel: str, dst_rel: str, made: set[str]) -> None:
        src, dst = self.path(src_rel), self.path(dst_rel)
        folder = os.path.dirname(dst)
        if folder not in made:
            self._folder(dst_rel)
            made.add(folder)
        try:
            os.link(src, dst)
        except FileExistsError:
            os.unlink(dst)
            os.link(src, dst)
        except OSError as exc:
            if exc.errno not in _NO_LINK_ERRNOS:
                raise
            self.write_bytes(dst_rel, self.read_bytes(src_rel))
            return
        if is_public(dst_rel) and os.stat(dst).st_mode & 0o777 != PUBLIC_FILE:
            os.chmod(dst, PUBLIC_FILE)  # e.g. an item image linked from the (private) cache

    def append_line(self, rel: str, line: bytes) -> None:
        """O_APPEND, one write per line: lines of concurrent writers never interleave."""
        path = self.path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    # -- removing ----------------------------------------------------------------------------
    def remove_tree(self, rel: str) -> None:
        path = self.path(rel)
        if os.path.isdir(path) and not os.path.islink(path):
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(path)
        else:
            self.remove_file(rel)

    def remove_file(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(rel))

    def retire_folder(self, rel: str, trash_rel: str) -> None:
        os.replace(self.path(rel), self.path(trash_rel))  # one rename, even for 100,000 tiles

    def remove_stale_temp(self, rel: str, older_than_s: float = 3600.0) -> int:
        """Delete ``.tmp-*`` files directly under folder ``rel`` older than ``older_than_s`` (what a
        write cut short by kill -9 leaves; readers never see them: only the real name is renamed in)."""
        removed = 0
        try:
            entries = list(os.scandir(self.path(rel)))
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

    # -- coordination ------------------------------------------------------------------------
    @contextlib.contextmanager
    def mutex(self, rel: str) -> Iterator[None]:
        """An exclusive ``fcntl.flock`` on file ``rel``: processes on this machine take turns."""
        import fcntl

        path = self.path(rel)
        self._folder(rel)
        with open(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
