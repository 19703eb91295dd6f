"""The catalogue (`images` asset): every file found, which are usable, and why the others are not.

Each file is read once: its bytes give the content hash (the key of the feature cache and the
duplicate check) and are decoded at a small size to prove the image is whole. A rescan reads only
the files whose key (size, times, inode; or ETag) changed since the last catalogue
(cviz.ingest.catalogue_reuse). Metadata rows are joined here, by file name, so every later stage works
from one list of usable items.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cviz.errors import CollectionError, InvalidName
from cviz.ingest.catalogue_reuse import READER_VERSION, PreviousScan, listed_key, local_key
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.collection_metadata import check_label_columns, check_templates, read_metadata
from cviz.ingest.decode import IMAGE_SUFFIXES, ImageRejected, decode
from cviz.ingest.listing import CONFIG_FILES, SourceFile, list_sources, printable_name, source_url
from cviz.ingest.metadata_csv import MetadataTable
from cviz.paths import safe_relpath
from cviz.storage import filesystem_for, is_local, read_source

__all__ = ["CONFIG_FILES", "SourceFile", "build_catalogue", "describe_bytes", "list_sources", "open_source",
           "printable_name", "source_url", "usable_items"]

VALIDATE_SIDE = 64  # decode this small to prove an image is whole: cheap with JPEG draft


def open_source(catalogue: dict[str, Any], storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The filesystem and base path of a catalogue's images."""
    return filesystem_for(catalogue["base"], storage_options)


MAX_FILE_BYTES = 1 << 30  # a single image file beyond 1 GiB is refused unread


def _not_a_regular_file(fs: Any, path: str) -> tuple[str | None, os.stat_result | None]:
    """Why ``path`` must not be read (or None), and its stat. Local files only: a named pipe would
    block the read forever, a symlink loop or a folder named ``x.jpg`` cannot be read, and a
    many-GB file would be read into memory whole."""
    if not is_local(fs):
        return None, None
    try:
        st = os.stat(path)  # follows symlinks: a loop raises ELOOP here
    except OSError as exc:
        return f"cannot read: {exc.strerror or type(exc).__name__}", None
    if not stat.S_ISREG(st.st_mode):
        kind = "folder" if stat.S_ISDIR(st.st_mode) else "named pipe" if stat.S_ISFIFO(st.st_mode) else "device or socket"
        return f"not a regular file ({kind})", st
    if st.st_size > MAX_FILE_BYTES:
        return f"file is {st.st_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES >> 20} MiB limit for one image", st
    return None, st


@dataclass
class _Scan:
    """One scan's reuse state: the previous catalogue, and the keys and reuses of this scan
    (filled from the worker threads; each file is one dict/set item)."""
    previous: PreviousScan = field(default_factory=PreviousScan)
    keys: dict[str, list[Any]] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)


def _inspect(fs: Any, src: SourceFile, scan: _Scan | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"file": printable_name(src.rel), "status": "skipped", "reason": None}
    if entry["file"] != src.rel:
        entry["reason"] = "file name is not valid UTF-8 (shown with \\x escapes): rename it to use it"
        return entry
    suffix = posixpath.splitext(src.rel)[1].lower()
    if suffix not in IMAGE_SUFFIXES:
        entry["reason"] = f"not an image file type ({suffix or 'no suffix'})"
        return entry
    try:
        safe = safe_relpath(src.rel)
    except InvalidName as exc:
        safe = None
        entry["reason"] = f"unsafe file name: {exc}"
    if safe is not None and safe != src.rel:
        entry["reason"] = f"unsafe file name: {src.rel!r} is not a plain relative path"
    if entry["reason"]:
        return entry  # e.g. an S3 key holding '..': reading it would name another object
    problem, st = _not_a_regular_file(fs, src.path)
    if problem:
        entry["reason"] = problem
        return entry
    if scan is not None:
        key = local_key(st) if st is not None else listed_key(src.info)  # taken before any read
        if key is not None:
            scan.keys[src.rel] = key
        known = scan.previous.entry_for(src.rel, key)
        if known is not None:
            scan.reused.add(src.rel)
            return known
        scan.read.add(src.rel)
    try:
        data = read_source(fs, src.path)  # transient S3 errors retried, then StorageUnavailable
    except (OSError, PermissionError) as exc:
        entry["reason"] = f"cannot read: {exc.strerror or type(exc).__name__}"
        return entry
    entry.update(describe_bytes(data, src.rel))
    return entry


def describe_bytes(data: bytes, name: str) -> dict[str, Any]:
    """An image's verdict from its bytes (the catalogue entry's READ_FIELDS): content hash, and usable
    with its size and format, or skipped with the decoder's reason. Decodes at ``VALIDATE_SIDE`` only."""
    out: dict[str, Any] = {"status": "skipped", "reason": None, "bytes": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}
    try:
        _, info = decode(data, max_side=VALIDATE_SIDE, name=name)
    except ImageRejected as exc:
        out["reason"] = str(exc)
        return out
    out.update(status="usable", width=info.width, height=info.height, format=info.format, mode=info.mode)
    if info.frames > 1:
        out["note"] = f"{info.frames} frames; the first is used"
    return out


def build_catalogue(config: CollectionConfig, storage_options: dict[str, Any] | None = None, workers: int = 4,
                    exclude: tuple[str, ...] = (), previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Scan, validate and join metadata; raise CollectionError when nothing is usable.

    ``exclude``: folders (paths on the images' filesystem) never listed: cviz's own outputs.
    ``previous``: the last catalogue; files whose key is unchanged are not read again
    (cviz.ingest.catalogue_reuse).
    """
    started = time.perf_counter()
    scan_started_ns = time.time_ns()  # before any file is listed or stat'ed: the next scan's racy line
    table = read_metadata(config, storage_options)
    notes = check_templates(config, table)
    check_label_columns(config, table)
    not_listed: list[dict[str, str]] = []
    fs, base, sources = list_sources(config.images, storage_options, exclude=exclude, skipped=not_listed)
    if not sources:
        raise CollectionError(f"collection {config.name}: no files found at {config.images}"
                              + (f" ({not_listed[-1]['reason']})" if not_listed else ""))
    scan = _Scan(PreviousScan(previous, source_url(fs, base)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        entries = list(pool.map(lambda s: _inspect(fs, s, scan), sources))

    usable, matched_rows = _join_rows(entries, table, config.filename_column)
    clashes = _flag_case_clashes(entries)
    if usable == 0:
        named = "; ".join(f"{e['file']}: {e['reason']}" for e in entries[:5])
        more = f"; and {len(entries) - 5} more" if len(entries) > 5 else ""
        raise CollectionError(
            f"collection {config.name}: none of the {len(entries)} files is a usable image ({named}{more})"
        )
    skipped = not_listed + [{"file": e["file"], "reason": e["reason"]} for e in entries if e["status"] != "usable"]
    no_row = [e["file"] for e in entries if e["status"] == "usable" and table is not None and e["row"] is None]
    unmatched = sorted(set(table.rows) - matched_rows) if table else []
    return {
        "format": "cviz-catalogue/1",
        "collection": config.name,
        "images": config.images,
        "base": source_url(fs, base),
        "files": entries,
        "counts": {
            "found": len(entries),
            "usable": usable,
            "skipped": len(skipped),
            "duplicates": sum(1 for e in entries if e.get("duplicate_of")),
            "case_clashes": clashes,
            "images_without_row": len(no_row),
            "rows_without_image": len(unmatched),
            "csv_duplicate_rows": len(table.duplicates) if table else 0,
        },
        "skipped": skipped,
        "metadata": _metadata_summary(table, unmatched, no_row),
        "notes": notes,
        **_scan_record(scan, scan_started_ns),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _scan_record(scan: _Scan, started_ns: int) -> dict[str, Any]:
    """What the next scan needs to reuse this one's entries, and how much this one reused."""
    return {"reader": READER_VERSION, "scan_started_ns": started_ns, "file_keys": scan.keys,
            "scan": {"reused": len(scan.reused), "read": len(scan.read), "previous_entries": len(scan.previous)}}


def _join_rows(entries: list[dict[str, Any]], table: MetadataTable | None, filename_column: str) -> tuple[int, set[str]]:
    """Mark byte-identical duplicates and attach each usable file's metadata row, in place.
    Returns (usable files, filename values of the rows matched)."""
    first_by_hash: dict[str, str] = {}
    matched_rows: set[str] = set()
    usable = 0
    for e in entries:
        if e["status"] != "usable":
            continue
        usable += 1
        first = first_by_hash.setdefault(e["sha256"], e["file"])
        if first != e["file"]:
            e["duplicate_of"] = first
        row = table.lookup(e["file"]) if table else None
        if row is not None:
            matched_rows.add(row[filename_column])
        e["row"] = row
    return usable, matched_rows


def _metadata_summary(table: MetadataTable | None, unmatched: list[str], no_row: list[str]) -> dict[str, Any] | None:
    if table is None:
        return None
    return {"source": table.source, "encoding": table.encoding, "columns": table.columns, "rows": len(table.rows),
            "duplicates": table.duplicates, "blank_filename_lines": table.blank_filename_lines,
            "rows_without_image": unmatched, "images_without_row": no_row}


def _flag_case_clashes(entries: list[dict[str, Any]]) -> int:
    """Mark usable files whose names differ only by case (``Case.jpg``/``case.jpg``).

    Both stay in the map (they are different files here); the flag warns that they would collide
    on a case-insensitive disk (macOS, Windows) and that a CSV row matches only the exact spelling.
    """
    by_folded: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        if e["status"] == "usable":
            by_folded.setdefault(e["file"].casefold(), []).append(e)
    flagged = 0
    for group in by_folded.values():
        if len(group) > 1:
            for e in group:
                e["case_clash_with"] = [o["file"] for o in group if o is not e]
                flagged += 1
    return flagged


def usable_items(catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    """The usable entries, in catalogue order: row i of features/pca/tsne/grid is item i."""
    return [e for e in catalogue["files"] if e["status"] == "usable"]
