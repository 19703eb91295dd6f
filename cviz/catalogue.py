"""The catalogue (`images` asset): every file found, which are usable, and why the others are not.

Each file is read once: its bytes give the content hash (the key of the feature cache and the
duplicate check) and are decoded at a small size to prove the image is whole. Metadata rows are
joined here, by file name, so every later stage works from one list of usable items.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cviz.collection import CollectionConfig
from cviz.collection_metadata import check_label_columns, check_templates, read_metadata
from cviz.errors import CollectionError, InvalidName
from cviz.imaging import IMAGE_SUFFIXES, ImageRejected, decode
from cviz.metadata_csv import MetadataTable
from cviz.names import safe_relpath
from cviz.storage import filesystem_for, is_local, read_source

CONFIG_FILES = {"collection.json", "metadata.csv"}  # a drop folder's own files (cviz.drop_folder)
VALIDATE_SIDE = 64  # decode this small to prove an image is whole: cheap with JPEG draft


@dataclass
class SourceFile:
    rel: str  # relative to the collection's image folder
    path: str  # full path on the source filesystem


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
    if _is_glob(path) and not fs.exists(path):
        base = path
        while _is_glob(base):
            base = posixpath.dirname(base)
        found = sorted(p for p in fs.glob(path) if fs.isfile(p))
    else:
        if not fs.exists(path):
            raise CollectionError(f"image folder {images} does not exist")
        if fs.isfile(path):
            raise CollectionError(f"images must be a folder or a glob, not the file {images}")
        base = path
        found = sorted(fs.find(path, withdirs=False))
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
        files.append(SourceFile(rel, p))
    if outputs and skipped is not None:
        skipped.append({"file": "(cviz outputs)", "reason": f"{outputs} file(s) under the storage root's own output "
                        "folders (collections/, published/, cache/, ops/) are inside the image folder and not listed"})
    return fs, base, files


def source_url(fs: Any, path: str) -> str:
    """Re-attach the protocol so later stages can reopen the folder with filesystem_for()."""
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def open_source(catalogue: dict[str, Any], storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The filesystem and base path of a catalogue's images."""
    return filesystem_for(catalogue["base"], storage_options)


MAX_FILE_BYTES = 1 << 30  # a single image file beyond 1 GiB is refused unread


def _not_a_regular_file(fs: Any, path: str) -> str | None:
    """Why ``path`` must not be read, or None. Local files only: a named pipe would block the
    read forever, a symlink loop or a folder named ``x.jpg`` cannot be read, and a many-GB file
    would be read into memory whole."""
    if not is_local(fs):
        return None
    try:
        st = os.stat(path)  # follows symlinks: a loop raises ELOOP here
    except OSError as exc:
        return f"cannot read: {exc.strerror or type(exc).__name__}"
    if not stat.S_ISREG(st.st_mode):
        kind = "folder" if stat.S_ISDIR(st.st_mode) else "named pipe" if stat.S_ISFIFO(st.st_mode) else "device or socket"
        return f"not a regular file ({kind})"
    if st.st_size > MAX_FILE_BYTES:
        return f"file is {st.st_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES >> 20} MiB limit for one image"
    return None


def _inspect(fs: Any, src: SourceFile) -> dict[str, Any]:
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
    problem = _not_a_regular_file(fs, src.path)
    if problem:
        entry["reason"] = problem
        return entry
    try:
        data = read_source(fs, src.path)  # transient S3 errors retried, then StorageUnavailable
    except (OSError, PermissionError) as exc:
        entry["reason"] = f"cannot read: {exc.strerror or type(exc).__name__}"
        return entry
    entry["bytes"] = len(data)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    try:
        _, info = decode(data, max_side=VALIDATE_SIDE, name=src.rel)
    except ImageRejected as exc:
        entry["reason"] = str(exc)
        return entry
    entry.update(status="usable", width=info.width, height=info.height, format=info.format, mode=info.mode)
    if info.frames > 1:
        entry["note"] = f"{info.frames} frames; the first is used"
    return entry


def build_catalogue(config: CollectionConfig, storage_options: dict[str, Any] | None = None, workers: int = 4,
                    exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Scan, validate and join metadata; raise CollectionError when nothing is usable.

    ``exclude``: folders (paths on the images' filesystem) never listed: cviz's own outputs.
    """
    started = time.perf_counter()
    table = read_metadata(config, storage_options)
    notes = check_templates(config, table)
    check_label_columns(config, table)
    not_listed: list[dict[str, str]] = []
    fs, base, sources = list_sources(config.images, storage_options, exclude=exclude, skipped=not_listed)
    if not sources:
        raise CollectionError(f"collection {config.name}: no files found at {config.images}"
                              + (f" ({not_listed[-1]['reason']})" if not_listed else ""))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        entries = list(pool.map(lambda s: _inspect(fs, s), sources))

    usable, matched_rows = _join_rows(entries, table, config.filename_column)
    clashes = _flag_case_clashes(entries)
    if usable == 0:
        reasons = sorted({e["reason"] for e in entries})[:5]
        raise CollectionError(
            f"collection {config.name}: none of the {len(entries)} files is a usable image ({'; '.join(reasons)})"
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
        "seconds": round(time.perf_counter() - started, 3),
    }


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
