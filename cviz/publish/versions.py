"""Publishing a collection's map so readers never see a half-written or unchecked one.

`mosaic` starts a new :class:`Version` folder, `dzi` and `metadata_json` fill it (never a live
one), the blocking asset checks verify *that* version, and only then the `publish` step switches
``published/<name>/current.json`` (a small JSON, replaced atomically) to it and updates
``published/index.json``. A failed check skips `publish`, so the previous map stays live by
construction. Old versions that no pointer names are removed, keeping the newest two so a reader
that loaded the previous pointer moments ago can finish.

The index is built from one small entry file per collection (``published/index.d/<name>.json``),
so two processes publishing different collections at once never lose each other's entry: each
writes its own entry, then rebuilds the index from all entries under a file lock (local) and
re-reads the entries after writing until they are unchanged (object storage, strongly consistent
listings: the last writer always sees every entry written before it).

Cost in N: O(1) per publish (the pointer and the index entry); retiring a version removes
its O(N / tile^2) tiles.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from cviz.errors import CollectionError
from cviz.publish.items_lazy import read_lazy
from cviz.paths import INDEX, INDEX_ENTRIES, INDEX_MUTEX, PUBLISHED, TRASH_PREFIX, CollectionPaths, index_entry
from cviz.storage import Storage

KEEP_VERSIONS = 2
# Entries of published/<name>/ that are not similarity versions: the item images, the extra layouts'
# own version folders (layouts/<layout>/<ver>/, cviz/stages/layouts.py) and the pointer.
NOT_VERSIONS = ("images", "layouts", "current.json")
LAYOUTS_DIR = "layouts"
INDEX_FORMAT = "cviz-index/1"


@dataclass(frozen=True)
class Version:
    """One version folder of a collection's published map, and every file in it.

    Written by `mosaic` (tiles of the top levels, ``preview.jpg``), `dzi` (lower levels,
    ``map.dzi``) and `metadata_json` (``items.json``); switched live by `publish` only.
    """

    name: str  # the collection
    id: str  # the folder name, e.g. 20261201T213000123456-1a2b3c4d (sorts in creation order)

    @property
    def folder(self) -> str:
        return CollectionPaths(self.name).version(self.id)

    @property
    def dzi(self) -> str:
        return CollectionPaths(self.name).dzi(self.id)

    @property
    def tiles(self) -> str:
        return CollectionPaths(self.name).tiles(self.id)

    @property
    def items(self) -> str:
        return CollectionPaths(self.name).items(self.id)

    @property
    def preview(self) -> str:
        return CollectionPaths(self.name).preview(self.id)

    @property
    def items_index(self) -> str:
        return CollectionPaths(self.name).items_index(self.id)

    def item_table(self, storage: Storage) -> str:
        """The item table this version publishes: ``items.json``, or ``items-index.json`` for a
        collection above ``CVIZ_VIEWER_LAZY_ABOVE`` items (cviz.publish.items_lazy)."""
        return self.items_index if storage.exists(self.items_index) and not storage.exists(self.items) else self.items

    def pointer_entries(self, storage: Storage | None = None) -> dict[str, str]:
        """What ``current.json`` holds for this version (paths relative to ``published/<name>``);
        ``storage`` tells items.json from items-index.json (without it: items.json)."""
        start = len(CollectionPaths(self.name).published) + 1
        items = self.item_table(storage) if storage is not None else self.items
        return {"dzi": self.dzi[start:], "items": items[start:], "preview": self.preview[start:]}

    def is_live(self, storage: Storage) -> bool:
        """True when ``current.json`` names any file of this version (readers may have it cached)."""
        pointer = read_pointer(storage, self.name)
        return any(str(pointer.get(k, "")).split("/", 1)[0] == self.id for k in ("dzi", "items", "preview", "mosaic"))

    def refuse_if_live(self, storage: Storage, stage: str) -> None:
        """A live version is immutable (CDNs cache it forever): no stage may write into it."""
        if self.is_live(storage):
            raise CollectionError(
                f"collection {self.name}: version {self.id} is the live map, and `{stage}` never writes into a "
                "live version; re-materialize mosaic (then dzi, metadata_json and publish) to build a new one, "
                "e.g. `cviz run` or the build_collection job"
            )

    def missing(self, storage: Storage) -> list[str]:
        """The files a complete version must hold that are not there yet."""
        return [rel for rel in (self.dzi, self.item_table(storage), self.preview) if not storage.exists(rel)]


def read_pointer(storage: Storage, name: str) -> dict[str, Any]:
    paths = CollectionPaths(name)
    try:
        return storage.read_json(paths.pointer)
    except FileNotFoundError:
        return {}


def live_version(storage: Storage, name: str) -> str:
    """The folder name of the live similarity-map version ("" when nothing is published)."""
    return str(read_pointer(storage, name).get("dzi", "")).split("/", 1)[0]


def switch_pointer(storage: Storage, name: str, **entries: str) -> dict[str, Any]:
    """Point ``entries`` (e.g. dzi="<ver>/map.dzi") at a fully written version; returns the pointer."""
    paths = CollectionPaths(name)
    pointer = read_pointer(storage, name)
    pointer.update(entries)
    pointer["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    storage.write_json(paths.pointer, pointer)
    remove_old_versions(storage, name, pointer)
    remove_old_layout_versions(storage, name, pointer)
    return pointer


def remove_old_versions(storage: Storage, name: str, pointer: dict[str, Any]) -> list[str]:
    """Retire versions no pointer names, keeping the newest ``KEEP_VERSIONS``.

    On a local root a stale version is only renamed into ``.trash-<ver>`` here (one rename, so
    publishing stays instant even when a version holds 100,000 tiles); :func:`empty_trash`, run by
    the next mosaic, deletes it. On S3, where a rename is a copy, it is deleted at once.
    """
    paths = CollectionPaths(name)
    live = {str(v).split("/", 1)[0] for k, v in pointer.items() if k in ("dzi", "items", "preview", "mosaic")}
    versions = [v for v in storage.list(paths.published) if v not in NOT_VERSIONS and not v.startswith(".")]
    stale = [v for v in sorted(versions)[:-KEEP_VERSIONS] if v not in live]
    for v in stale:
        storage.retire_folder(paths.version(v), paths.trash(v))
    return stale


def remove_old_layout_versions(storage: Storage, name: str, pointer: dict[str, Any]) -> list[str]:
    """The same for each extra layout's versions (``layouts/<layout>/<ver>``): keep the newest
    ``KEEP_VERSIONS`` and the one ``current.json``'s ``layouts`` names; set aside into
    ``layouts/<layout>/.trash-<ver>`` locally (emptied by the next build of that layout)."""
    base = CollectionPaths(name).layouts
    live = {str(e.get("dzi", "")).split("/")[2] for e in (pointer.get("layouts") or {}).values()
            if isinstance(e, dict) and str(e.get("dzi", "")).count("/") >= 3}
    stale = []
    for layout in storage.list(base):
        if layout.startswith("."):
            continue
        folder = f"{base}/{layout}"
        versions = sorted(v for v in storage.list(folder) if not v.startswith("."))
        for v in versions[:-KEEP_VERSIONS]:
            if v in live:
                continue
            storage.retire_folder(CollectionPaths(name).layout_version(layout, v),
                                  CollectionPaths(name).layout_trash(layout, v))
            stale.append(f"{LAYOUTS_DIR}/{layout}/{v}")
    return stale


def empty_trash(storage: Storage, name: str) -> int:
    """Delete the versions :func:`remove_old_versions` set aside; returns how many."""
    paths = CollectionPaths(name)
    trash = [v for v in storage.list(paths.published) if v.startswith(TRASH_PREFIX)]
    for v in trash:
        with contextlib.suppress(OSError):  # a file another process holds open: the next mosaic retries
            storage.remove_tree(f"{paths.published}/{v}")
    return len(trash)


def publish_version(storage: Storage, version: Version, items: int,
                    layouts: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """Make ``version`` the live map: refuse an incomplete one, switch the pointer, list it in the index.

    ``layouts``: the extra layouts' entries for ``current.json`` (cviz.publish.layout_versions.pair_layouts),
    switched in the same write; None leaves the pointer's ``layouts`` as it is."""
    missing = version.missing(storage)
    if missing:
        raise CollectionError(
            f"collection {version.name}: version {version.id} is incomplete (missing {', '.join(missing)}); "
            "re-materialize mosaic, dzi and metadata_json, then publish (the published map is unchanged)"
        )
    entries: dict[str, Any] = dict(version.pointer_entries(storage))
    if layouts is not None:
        entries["layouts"] = layouts
    pointer = switch_pointer(storage, version.name, **entries)
    update_index(storage, version.name, items)
    prune_item_images(storage, version.name)
    return pointer


def prune_item_images(storage: Storage, name: str) -> int:
    """Delete ``published/<name>/images/*`` that no remaining version's ``items.json`` names (the
    512 px copies of images since removed from the collection); returns how many.

    Versions kept for readers of the previous pointer keep their images. A version folder without
    ``items.json`` (a run that died before it) names none: its next `mosaic` rewrites what it lacks.
    """
    paths = CollectionPaths(name)
    keep: set[str] = set()
    for v in storage.list(paths.published):
        if v in NOT_VERSIONS or v.startswith("."):
            continue
        try:
            doc = read_item_table(storage, Version(name, v))
        except FileNotFoundError:
            continue
        except ValueError:
            return 0  # an unreadable items.json: keep everything rather than guess
        keep.update(str(p).rsplit("/", 1)[-1] for p in (doc.get("fields") or {}).get("image", []))
    if not keep:
        return 0
    stale = [f for f in storage.list(paths.item_images) if f not in keep and not f.startswith(".")]
    for f in stale:
        storage.remove_tree(f"{paths.item_images}/{f}")
    return len(stale)


def _entry_rel(name: str) -> str:
    return index_entry(name)  # validates the name: it becomes a file name


def _index_mutex(storage: Storage) -> contextlib.AbstractContextManager[None]:
    """Exclusive across processes where the backend can (a local flock); nothing on object storage."""
    return storage.mutex(INDEX_MUTEX)


def _read_entries(storage: Storage) -> list[dict[str, Any]]:
    entries = []
    for fname in storage.list(INDEX_ENTRIES):
        if not fname.endswith(".json") or fname.startswith("."):
            continue
        try:
            entries.append(storage.read_json(f"{INDEX_ENTRIES}/{fname}"))
        except FileNotFoundError:  # removed (unlisted) since the listing
            continue
    return sorted(entries, key=lambda c: c["name"])


def _legacy_entries(storage: Storage) -> None:
    """An index written before entry files existed: give each of its collections an entry file once."""
    if any(f.endswith(".json") and not f.startswith(".") for f in storage.list(INDEX_ENTRIES)):
        return
    try:
        index = storage.read_json(INDEX)
    except FileNotFoundError:
        return
    if index.get("built_from") == "index.d":  # built from entries: an empty entry folder means "none"
        return
    for c in index.get("collections", []):
        if isinstance(c, dict) and isinstance(c.get("name"), str):
            storage.write_json(_entry_rel(c["name"]), c)


def rebuild_index(storage: Storage, attempts: int = 5, migrate: bool = True) -> dict[str, Any]:
    """Write ``published/index.json`` from the entry files, until a re-read finds them unchanged."""
    with _index_mutex(storage):
        if migrate:
            _legacy_entries(storage)
        entries = _read_entries(storage)
        for _ in range(attempts):
            index = {"format": INDEX_FORMAT, "built_from": "index.d", "collections": entries}
            storage.write_json(INDEX, index)
            again = _read_entries(storage)
            if again == entries:
                break
            entries = again
        return index


def update_index(storage: Storage, name: str, items: int) -> None:
    """Add or refresh a collection's entry in ``published/index.json`` (the viewer's home page)."""
    pointer = read_pointer(storage, name)
    entry = {
        "name": name,
        "items": items,
        "preview": f"{name}/{pointer['preview']}" if pointer.get("preview") else None,
        "current": CollectionPaths(name).pointer[len(PUBLISHED) + 1:],  # relative to published/
        "updated": pointer.get("updated"),
    }
    with _index_mutex(storage):
        _legacy_entries(storage)
        storage.write_json(_entry_rel(name), entry)
    rebuild_index(storage)


def remove_from_index(storage: Storage, name: str) -> bool:
    """Take ``name`` off the index (its entry file, then the index); True if it was listed."""
    rel = _entry_rel(name)
    with _index_mutex(storage):
        _legacy_entries(storage)
        listed = storage.exists(rel)
        if listed:
            storage.remove_tree(rel)
    rebuild_index(storage, migrate=False)  # migrated above; the entry removed may have been the last
    return listed


def read_item_table(storage: Storage, version: Version) -> dict[str, Any]:
    """A version's items.json document, put back together from its lazy tables when it has those."""
    if version.item_table(storage) == version.items_index:
        return read_lazy(storage, version.folder)
    return storage.read_json(version.items)
