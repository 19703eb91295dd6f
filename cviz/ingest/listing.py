"""Listing a collection's files (the catalogue's first step): a folder or a glob, local or remote.

Kept apart from the reading (cviz.ingest.catalogue) so each stays small; cviz.ingest.catalogue re-exports these.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from cviz.errors import CollectionError
from cviz.storage import filesystem_for, is_local

CONFIG_FILES = {"collection.json", "metadata.csv"}  # a drop folder's own files (cviz.ingest.drop_folder)


@dataclass
class SourceFile:
    rel: str  # relative to the collection's image folder
    path: str  # full path on the source filesystem
    info: dict[str, Any] | None = None  # its listing entry (object stores: size, ETag), when listed with detail


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def printable_name(rel: str) -> str:
    """A file name that is not valid UTF-8 (``caf\\xe9.jpg`` from a Latin-1 disk) shown losslessly
    with ``\\xNN`` escapes, so it can be written to JSON and named in a report."""
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _under(path: str, folders: tuple[str, ...]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def list_sources(images: str, storage_options: dict[str, Any] | None = None, exclude: tuple[str, ...] = (),
                 skipped: list[dict[str, str]] | None = None) -> tuple[Any, str, list[SourceFile]]:
    """List the files of a collection: every file under a folder (recursively), or a glob's matches.

    An existing path is a path even when it holds glob characters (``photos [2023]``, ``what?``);
    only a path that does not exist is tried as a glob. Files under ``exclude`` (cviz's own output
    folders, when the storage root lies inside the image folder) are never listed; hidden files are
    listed in ``skipped`` with the reason.
    """
    fs, path = filesystem_for(images, storage_options)
    detail = not is_local(fs)  # an object store's listing carries each object's ETag, for free
    listed: dict[str, Any] = {}
    if _is_glob(path) and not fs.exists(path):
        base = path
        while _is_glob(base):
            base = posixpath.dirname(base)
        if detail:
            fs.invalidate_cache()  # glob lists folder by folder, from s3fs's cache: the ETags must be current
            listed = {p: i for p, i in fs.glob(path, detail=True).items() if i.get("type") == "file"}
            found = sorted(listed)
        else:
            found = sorted(p for p in fs.glob(path) if fs.isfile(p))
    else:
        if not fs.exists(path):
            raise CollectionError(f"image folder {images} does not exist")
        if fs.isfile(path):
            raise CollectionError(f"images must be a folder or a glob, not the file {images}")
        base = path
        listed = fs.find(path, withdirs=False, detail=True) if detail else {}
        found = sorted(listed) if detail else sorted(fs.find(path, withdirs=False))
    base = base.rstrip("/")
    files = []
    outputs = 0
    for p in found:
        if _under(p, exclude):
            outputs += 1
            continue
        rel = p[len(base) + 1 :] if p.startswith(base + "/") else posixpath.basename(p)
        if any(part.startswith(".") for part in rel.split("/")):
            if skipped is not None:  # hidden files and folders (.DS_Store, .tmp- partial copies)
                skipped.append({"file": printable_name(rel), "reason": "hidden file or folder (name starts with '.')"})
            continue
        if rel in CONFIG_FILES:
            continue
        files.append(SourceFile(rel, p, listed.get(p)))
    if outputs and skipped is not None:
        skipped.append({"file": "(cviz outputs)", "reason": f"{outputs} file(s) under the storage root's own output "
                        "folders (collections/, published/, cache/, ops/) are inside the image folder and not listed"})
    return fs, base, files


def source_url(fs: Any, path: str) -> str:
    """Re-attach the protocol so later stages can reopen the folder with filesystem_for()."""
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return path if protocol in ("file", "local") else f"{protocol}://{path}"
