"""Retiring a collection on purpose (removing its drop folder never does this).

Two steps, so a retired map can be kept for the record: ``unlist`` takes it off the viewer's home
page (``published/index.json``) and leaves every file; ``delete_outputs`` also removes its published
map and its intermediates. The feature cache is shared by content hash and is left alone.
The Dagster partition is removed separately (see README, "Retiring a collection").
"""

from __future__ import annotations

from cviz.paths import CollectionPaths
from cviz.publish import remove_from_index
from cviz.storage import Storage


def unlist(storage: Storage, name: str) -> bool:
    """Remove ``name`` from ``published/index.json``; True if it was listed."""
    CollectionPaths(name)  # validates the name
    return remove_from_index(storage, name)  # the index is built from one entry file per collection


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
