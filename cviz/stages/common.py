"""What every stage shares: its report, the collection's registered config and the run's snapshot
of it, the catalogue the `images` step wrote.

Each stage returns a plain ``StageReport`` (values, notes and pictures) that the Dagster asset turns
into metadata, so the assets stay a few lines long and the command line runs exactly this code
(through the same Dagster job).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cviz.embed.models.cache_dir import model_cache_dir as models_cache_dir
from cviz.errors import CollectionError
from cviz.ingest.catalogue import usable_items
from cviz.ingest.collection import CollectionConfig
from cviz.paths import MODEL_CACHE, OUTPUT_FOLDERS, CollectionPaths
from cviz.storage import Storage


@dataclass
class StageReport:
    values: dict[str, Any] = field(default_factory=dict)  # numbers and short texts
    pictures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG/JPEG bytes
    tables: dict[str, list] = field(default_factory=dict)  # name -> rows (shown as JSON)


def load_config(storage: Storage, name: str) -> CollectionConfig:
    paths = CollectionPaths(name)
    try:
        return CollectionConfig.from_dict(storage.read_json(paths.config))
    except FileNotFoundError:
        raise CollectionError(
            f"collection {name} is not registered: no {paths.config} under {storage.url()} "
            "(register it with `cviz add` or the register_collection job)"
        ) from None


def register(storage: Storage, config: CollectionConfig, wait_s: float | None = None, owner: str | None = None) -> None:
    """Write ``collection.json``. A changed config waits for a run that holds the collection's lock
    (then fails naming it, after ``wait_s``, default $CVIZ_LOCK_WAIT_S): a run never sees its
    settings change under it (it builds from the snapshot its `images` step took, see run_config).
    ``owner``: the run that registers and then builds it (``cviz run``, which already holds the lock)."""
    from cviz.stages import run_lock
    paths = CollectionPaths(config.name)
    try:
        if storage.read_json(paths.config) == config.to_dict():
            return
    except (FileNotFoundError, ValueError):
        pass
    lock = run_lock.CollectionLock(storage, config.name, owner or f"register-{uuid.uuid4().hex[:12]}")
    lock.acquire(wait_s)
    try:
        storage.write_json(paths.config, config.to_dict())
    finally:
        if owner is None:  # a run's own lock stays for its build
            lock.release()


def config_hash(config: CollectionConfig) -> str:
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def run_config(storage: Storage, name: str) -> CollectionConfig:
    """The collection's settings as the `images` step of this build read them (stored in the
    catalogue), so every later stage of a run uses one snapshot even if ``collection.json`` is
    re-registered meanwhile. A catalogue written before snapshots existed falls back to the file."""
    snapshot = read_catalogue(storage, name).get("config")
    return CollectionConfig.from_dict(snapshot) if snapshot else load_config(storage, name)


def timed(report: StageReport, started: float) -> StageReport:
    seconds = round(time.perf_counter() - started, 3)
    report.values["seconds"] = seconds
    # Plotted per partition (asset page, Overview → Metadata): throughput comparable across collections of any size.
    items = report.values.get("items", report.values.get("usable"))
    if isinstance(items, int) and not isinstance(items, bool) and seconds > 0:
        report.values.setdefault("items_per_s", round(items / seconds, 2))
    return report


def output_folders(storage: Storage) -> tuple[str, ...]:
    """cviz's own folders as paths on the storage's filesystem (what the catalogue never lists)."""
    return tuple(storage.path(f) for f in OUTPUT_FOLDERS)


def read_catalogue(storage: Storage, name: str) -> dict[str, Any]:
    return storage.read_json(CollectionPaths(name).catalogue)


def label_values(storage: Storage, name: str) -> dict[str, list[str]]:
    """The collection's label columns (for the agreement measures), one value per usable item."""
    columns = load_config(storage, name).label_columns
    if not columns:
        return {}
    items = usable_items(read_catalogue(storage, name))
    return {c: [str((e.get("row") or {}).get(c, "") or "") for e in items] for c in columns}


def changed_since_catalogue(name: str, exc: BaseException) -> CollectionError:
    """A source image the catalogue found usable is now unreadable: say which, and what to re-run."""
    what = getattr(exc, "file", None) or getattr(exc, "filename", None) or "an image"
    return CollectionError(
        f"collection {name}: {what}: {exc}; the file changed or vanished after the `images` asset ran: "
        "re-materialize images, then the rest (the published map is unchanged)"
    )


def model_cache_dir(storage: Storage) -> str:
    """Where the converted model is kept (cviz.embed.models.cache_dir: ``$CVIZ_MODEL_CACHE`` first)."""
    return models_cache_dir(storage.os_path(MODEL_CACHE))
