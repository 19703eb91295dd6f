"""Rescans that read only what changed: the previous catalogue as git's index.

A catalogue entry (content hash, size, dimensions, format, mode, usable or why not) is a function
of the file's bytes alone. So when a file's *key* is the one the previous scan recorded, its
previous entry is taken as it is and the file is not read again:

* local files: (size, mtime_ns, ctime_ns, inode) from ``os.stat``, taken before the file is read.
  Rewriting a file changes its mtime and ctime (ctime cannot be set back by ``touch`` or
  ``cp -p``); a file replaced by another takes a new inode or a new ctime.
* object stores: (size, ETag, LastModified) from the listing the scan makes anyway. The ETag is
  derived from the object's content, so it changes when the bytes do. A filesystem whose listing
  has no ETag is read in full every time.

The "racy" guard (git's racy-git problem): a timestamp has a granularity (1-2 s on some
filesystems), so a file changed in the same tick as the previous scan's stat could keep its key
with new bytes. A local key is trusted only when its mtime and ctime are older than the previous
scan's start minus ``RACY_MARGIN_NS``; a file changed later than that is read again.

Entries are reused only from a catalogue of the same image folder written by the same reader
(``READER_VERSION``: bump it when the verdict for the same bytes changes), and only entries of
files that were read (a hash to carry); files refused by name or type are refused again unread.
"""

from __future__ import annotations

import os
from typing import Any

READER_VERSION = "1"
RACY_MARGIN_NS = 2_000_000_000
READ_FIELDS = ("status", "reason", "bytes", "sha256", "width", "height", "format", "mode", "note")


def local_key(st: os.stat_result) -> list[Any]:
    """A local file's key, from the stat taken before its bytes are read."""
    return ["stat", st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def listed_key(info: dict[str, Any] | None) -> list[Any] | None:
    """An object's key from its listing entry, or None when the listing gives no ETag."""
    if not info:
        return None
    etag = info.get("ETag") or info.get("etag")
    size = info.get("size")
    if not etag or size is None:
        return None
    return ["etag", int(size), str(etag), str(info.get("LastModified") or info.get("last_modified") or "")]


class PreviousScan:
    """What the last catalogue of this folder knew, and which of it may be taken as it is."""

    def __init__(self, catalogue: dict[str, Any] | None = None, base: str | None = None) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, list[Any]] = {}
        self.trusted_before = 0
        if not isinstance(catalogue, dict) or catalogue.get("reader") != READER_VERSION:
            return
        if base is None or catalogue.get("base") != base:
            return  # another folder: the same names are other files
        try:
            self.trusted_before = int(catalogue["scan_started_ns"]) - RACY_MARGIN_NS
            self.keys = {str(k): list(v) for k, v in dict(catalogue["file_keys"]).items()}
            self.entries = {e["file"]: e for e in catalogue["files"] if isinstance(e, dict) and e.get("sha256")}
        except (KeyError, TypeError, ValueError):
            self.entries, self.keys = {}, {}

    def __len__(self) -> int:
        return len(self.entries)

    def entry_for(self, rel: str, key: list[Any] | None) -> dict[str, Any] | None:
        """The previous entry of ``rel`` when ``key`` is the one recorded with it and not racy."""
        if key is None or self.keys.get(rel) != key:
            return None
        if key[0] == "stat" and max(key[2], key[3]) >= self.trusted_before:
            return None  # changed too close to (or after) the previous scan's start: read it
        previous = self.entries.get(rel)
        if previous is None:
            return None
        return {"file": rel, **{k: previous[k] for k in READ_FIELDS if k in previous}}
