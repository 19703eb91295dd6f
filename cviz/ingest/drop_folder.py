"""One drop folder (``<drop root>/<collection>/``): its fingerprint (what changed) and the collection
config it describes. cviz.ingest.drop decides, tick by tick, which folders to build."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from typing import Any

from cviz.errors import CvizError
from cviz.ingest.catalogue import source_url
from cviz.ingest.collection import CollectionConfig, drop_fields, renamed_fields
from cviz.ingest.collection_metadata import check_templates, read_metadata
from cviz.ingest.metadata_csv import read_metadata_bytes
from cviz.paths import validate_collection_name
from cviz.settings import settings

CONFIG_FILE = "collection.json"
METADATA_FILE = "metadata.csv"
CONFIG_FIELDS = drop_fields()  # what collection.json in a drop folder may set; name, images and metadata come from the folder


# -- one folder ----------------------------------------------------------------------------
@dataclass
class FolderScan:
    name: str
    url: str  # the folder as a URL filesystem_for() reopens (local path or s3://...)
    fingerprint: str = ""
    files: int = 0
    newest_mtime: float = 0.0
    has_metadata: bool = False
    config_text: bytes | None = None
    error: str | None = None


def _mtime(info: dict[str, Any]) -> float:
    """Modification time of an fsspec info dict (local: ``mtime``; S3: ``LastModified``)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return 0.0


def scan_folder(fs: Any, root: str, name: str) -> FolderScan:
    """Fingerprint one collection folder. Never raises for an unreadable file: sets ``error``."""
    path = f"{root}/{name}"
    scan = FolderScan(name=name, url=source_url(fs, path))
    try:
        found = fs.find(path, withdirs=False, detail=True)
    except (OSError, PermissionError) as exc:
        scan.error = f"cannot list {path}: {exc}"
        return scan
    digest = hashlib.sha256()
    newest = 0.0
    for full in sorted(found):
        info = found[full]
        rel = full[len(path) + 1:] if full.startswith(path + "/") else posixpath.basename(full)
        size = int(info.get("size") or 0)
        mtime = _mtime(info)
        newest = max(newest, mtime)
        # Hidden files count too: an in-progress rsync writes ".name.XXXXXX" before renaming.
        digest.update(f"{rel}\x00{size}\x00{mtime:.6f}\n".encode("utf-8", "surrogateescape"))
        if rel in (CONFIG_FILE, METADATA_FILE):
            try:  # a named pipe, a device or a huge file here must not block the scan of every folder
                content = _read(fs, full, f"{name}/{rel}", rel)
            except CvizError as exc:
                scan.error = str(exc)
                return scan
            except (OSError, PermissionError) as exc:
                scan.error = f"cannot read {name}/{rel}: {exc}"
                return scan
            digest.update(hashlib.sha256(content).digest())
            if rel == CONFIG_FILE:
                scan.config_text = content
            else:
                scan.has_metadata = True
    scan.files = len(found)
    scan.newest_mtime = newest
    scan.fingerprint = digest.hexdigest()
    return scan


def _read(fs: Any, full: str, source: str, rel: str) -> bytes:
    """A drop folder's metadata CSV (``$CVIZ_METADATA_MAX_BYTES``) or collection.json, a few fields
    (``$CVIZ_DROP_CONFIG_MAX_BYTES``, 1 MiB: a 300 MB one took a tick over 60 s and 3.5 GB to parse)."""
    if rel == CONFIG_FILE:
        return read_metadata_bytes(fs, full, source, what="collection config", limit=settings().drop_config_max_bytes,
                                   limit_name="$CVIZ_DROP_CONFIG_MAX_BYTES")
    return read_metadata_bytes(fs, full, source)


def parse_config(text: bytes, source: str) -> dict[str, Any]:
    """``collection.json`` as a JSON object, or CvizError saying what is wrong with it: never a
    RecursionError (200,000 nested ``[``) or a traceback from whatever the file holds."""
    try:
        options = json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CvizError(f"{source} is not UTF-8 text (byte {exc.start}): save it as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise CvizError(f"{source} is not valid JSON: {exc}") from None
    except RecursionError:
        raise CvizError(f"{source} is nested too deeply to be a collection config (a JSON object of a few "
                        "fields is expected)") from None
    if not isinstance(options, dict):
        raise CvizError(f"{source} must hold a JSON object, not {type(options).__name__}")
    return options


def drop_config(scan: FolderScan, storage_options: dict[str, Any] | None = None) -> CollectionConfig:
    """The collection a drop folder describes, validated like ``cviz add`` (templates vs CSV header).

    Raises CvizError naming the folder and the field at fault.
    """
    options: dict[str, Any] = {}
    if scan.config_text is not None:
        options = renamed_fields(parse_config(scan.config_text, f"{scan.name}/{CONFIG_FILE}"))
        unknown = sorted(set(options) - set(CONFIG_FIELDS))
        if unknown:
            raise CvizError(f"{scan.name}/{CONFIG_FILE}: unknown or folder-set field(s) {unknown}; "
                            f"allowed: {list(CONFIG_FIELDS)} (name, images and metadata come from the folder)")
    # A folder whose collection.json names a IIIF manifest or an image-URL column is the collection's
    # description, not its images: the images come over HTTP(S) (the URL CSV is the folder's metadata.csv).
    remote = bool(options.get("iiif_manifest") or options.get("image_url_column"))
    others = scan.files - 1 - int(scan.has_metadata)
    if remote and others > 0:
        raise CvizError(f"drop folder {scan.name}: {CONFIG_FILE} takes the images from URLs (iiif_manifest or "
                        f"image_url_column) but the folder also holds {others} other file(s): remove them, or "
                        "remove that field to build from the folder's images")
    spec = dict(options, name=scan.name, images=None if remote else scan.url,
                metadata=f"{scan.url}/{METADATA_FILE}" if scan.has_metadata else None)
    try:
        config = CollectionConfig.from_dict(spec)
        check_templates(config, read_metadata(config, storage_options))
    except CvizError as exc:
        raise CvizError(f"drop folder {scan.name}: {exc}") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise CvizError(f"drop folder {scan.name}/{CONFIG_FILE}: {type(exc).__name__}: {exc}"[:2000]) from None
    return config



def list_collection_folders(fs: Any, root: str) -> tuple[list[str], list[str]]:
    """(valid collection folder names, problems). Hidden entries and plain files are ignored."""
    entries = fs.ls(root, detail=True)
    names, problems = [], []
    for e in entries:
        if e.get("type") != "directory":
            continue
        base = posixpath.basename(e["name"].rstrip("/"))
        if not base or base.startswith("."):
            continue
        try:
            names.append(validate_collection_name(base))
        except CvizError as exc:
            problems.append(f"skipped folder {base!r}: {exc}")
    return sorted(names), problems
