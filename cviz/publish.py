"""Publishing a collection's map so readers never see a half-written one.

Each `dzi`/`metadata_json` materialization writes a new version folder completely, then switches
``published/<name>/current.json`` (a small JSON, replaced atomically) to it, then updates
``published/index.json``. Old versions that no pointer names are removed, keeping the newest two so
a reader that loaded the previous pointer moments ago can finish.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from cviz.paths import INDEX, CollectionPaths
from cviz.storage import Storage

KEEP_VERSIONS = 2


def read_pointer(storage: Storage, name: str) -> dict[str, Any]:
    paths = CollectionPaths(name)
    try:
        return storage.read_json(paths.pointer)
    except FileNotFoundError:
        return {}


def switch_pointer(storage: Storage, name: str, **entries: str) -> dict[str, Any]:
    """Point ``entries`` (e.g. dzi="<ver>/map.dzi") at a fully written version; returns the pointer."""
    paths = CollectionPaths(name)
    pointer = read_pointer(storage, name)
    pointer.update(entries)
    pointer["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    storage.write_json(paths.pointer, pointer)
    remove_old_versions(storage, name, pointer)
    return pointer


TRASH_PREFIX = ".trash-"


def remove_old_versions(storage: Storage, name: str, pointer: dict[str, Any]) -> list[str]:
    """Retire versions no pointer names, keeping the newest ``KEEP_VERSIONS``.

    On a local root a stale version is only renamed into ``.trash-<ver>`` here (one rename, so
    publishing stays instant even when a version holds 100,000 tiles); :func:`empty_trash`, run by
    the next mosaic, deletes it. On S3, where a rename is a copy, it is deleted at once.
    """
    paths = CollectionPaths(name)
    live = {str(v).split("/", 1)[0] for k, v in pointer.items() if k in ("dzi", "items", "preview", "mosaic")}
    versions = [v for v in storage.list(paths.published) if v not in ("images", "current.json") and not v.startswith(".")]
    stale = [v for v in sorted(versions)[:-KEEP_VERSIONS] if v not in live]
    for v in stale:
        if storage.local:
            os.replace(storage.path(paths.version(v)), storage.path(f"{paths.published}/{TRASH_PREFIX}{v}"))
        else:
            storage.remove_tree(paths.version(v))
    return stale


def empty_trash(storage: Storage, name: str) -> int:
    """Delete the versions :func:`remove_old_versions` set aside; returns how many."""
    paths = CollectionPaths(name)
    trash = [v for v in storage.list(paths.published) if v.startswith(TRASH_PREFIX)]
    for v in trash:
        shutil.rmtree(storage.path(f"{paths.published}/{v}"), ignore_errors=True)
    return len(trash)


def update_index(storage: Storage, name: str, items: int) -> None:
    """Add or refresh a collection's entry in ``published/index.json`` (the viewer's home page)."""
    try:
        index = storage.read_json(INDEX)
    except FileNotFoundError:
        index = {"format": "cviz-index/1", "collections": []}
    pointer = read_pointer(storage, name)
    entry = {
        "name": name,
        "items": items,
        "preview": f"{name}/{pointer['preview']}" if pointer.get("preview") else None,
        "current": f"{name}/current.json",
        "updated": pointer.get("updated"),
    }
    others = [c for c in index.get("collections", []) if c.get("name") != name]
    index["collections"] = sorted(others + [entry], key=lambda c: c["name"])
    storage.write_json(INDEX, index)
