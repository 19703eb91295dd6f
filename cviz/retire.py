"""Retiring a collection on purpose (removing its drop folder never does this).

Two steps, so a retired map can be kept for the record: ``unlist`` takes it off the viewer's home
page (``published/index.json``) and leaves every file; ``delete_outputs`` also removes its published
map and its intermediates. The feature cache is shared by content hash and is left alone.
The Dagster partition is removed separately (see README, "Retiring a collection").
"""

from __future__ import annotations

from cviz.paths import INDEX, CollectionPaths
from cviz.storage import Storage


def unlist(storage: Storage, name: str) -> bool:
    """Remove ``name`` from ``published/index.json``; True if it was listed."""
    CollectionPaths(name)  # validates the name
    try:
        index = storage.read_json(INDEX)
    except FileNotFoundError:
        return False
    before = index.get("collections", [])
    after = [c for c in before if c.get("name") != name]
    if len(after) == len(before):
        return False
    index["collections"] = after
    storage.write_json(INDEX, index)
    return True


def delete_outputs(storage: Storage, name: str) -> list[str]:
    """Unlist, then delete ``published/<name>/`` and ``collections/<name>/``; returns what was removed."""
    paths = CollectionPaths(name)
    unlist(storage, name)
    removed = []
    for rel in (paths.published, paths.base):
        if storage.exists(rel):
            storage.remove_tree(rel)
            removed.append(rel)
    return removed
