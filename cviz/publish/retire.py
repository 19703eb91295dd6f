"""Retiring a collection on purpose (removing its drop folder never does this).

Two steps, so a retired map can be kept for the record: ``unlist`` takes it off the viewer's home
page (``published/index.json``) and leaves every file; ``delete_outputs`` also removes its published
map and its intermediates. The feature cache is shared by content hash and is left alone.
The Dagster partition is removed by the ``retire_collection`` job (cviz_assets/jobs_ops.py), which
calls ``retire`` below; ``partition_problems`` finds partitions that are no registered collection.
"""

from __future__ import annotations

from cviz.errors import InvalidName
from cviz.paths import CollectionPaths
from cviz.publish.versions import remove_from_index
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


def partition_problems(storage: Storage, keys: list[str]) -> list[dict[str, str]]:
    """Partitions that are not registered collections (added by hand in the UI: ``ghost``,
    ``Bad Key!``), each with what is wrong and the command that fixes it."""
    problems = []
    for key in keys:
        try:
            paths = CollectionPaths(key)
        except InvalidName as exc:
            problems.append({"partition": key, "problem": str(exc),
                             "fix": f"remove it: launch the retire_collection job with name {key!r} (confirm: the same)"})
            continue
        if not storage.exists(paths.config):
            problems.append({"partition": key, "problem": f"no {paths.config}: the collection is not registered",
                             "fix": f"register it: cviz add -id {key} -imagedir <folder> (or the register_collection "
                                    f"job), or remove it: launch retire_collection with name {key!r}"})
    return problems


def retire(storage: Storage, name: str, delete: bool) -> dict[str, object]:
    """What the ``retire_collection`` job does to storage: unlist, and with ``delete`` remove the
    published map and intermediates too. A name that is not a valid collection name (a stray
    partition) has nothing in storage: nothing is touched."""
    try:
        CollectionPaths(name)
    except InvalidName:
        return {"unlisted": False, "removed": []}
    if delete:
        listed = unlist(storage, name)
        return {"unlisted": listed, "removed": delete_outputs(storage, name)}
    return {"unlisted": unlist(storage, name), "removed": []}
