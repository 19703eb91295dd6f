"""Data versions of a collection's stages, computed from the files they wrote (cviz.stages.stamps says how
they are used: a stage is skipped when its inputs' versions, settings and code are unchanged).

A stage's data version is a digest of its output files' paths and contents (``output_files``); tile
trees are represented by the small files that complete them. ``images`` is the exception: its version
is the catalogue's content (``catalogue_version``), never the scan time.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cviz.ingest.catalogue import usable_items
from cviz.paths import CollectionPaths
from cviz.publish.versions import Version
from cviz.storage import Storage


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()



def catalogue_version(catalogue: dict[str, Any]) -> str:
    """The ``images`` data version: usable items (file, content hash, size, row), CSV columns, config."""
    return digest({
        "items": usable_items(catalogue),
        "columns": (catalogue.get("metadata") or {}).get("columns", []),
        "config_sha256": catalogue.get("config_sha256", ""),
    })


def built_version_id(storage: Storage, name: str) -> str | None:
    try:
        return str(storage.read_json(CollectionPaths(name).mosaic)["version"])
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None


def output_files(storage: Storage, name: str, stage: str) -> list[str] | None:
    """The files whose content is ``stage``'s data version (None: the stage has no version built).

    Tile trees are represented by the small files that complete them (a version's ``map.dzi`` and
    ``preview.jpg``); the ``pyramid_complete`` check verifies every tile, and a failed check
    removes the stamps so the stage runs again."""
    paths = CollectionPaths(name)
    if stage in ("features", "pca", "tsne", "grid"):
        return {
            "features": [paths.features],
            "pca": [paths.pca, paths.pca_items],  # pca_items names the fit (a digest of pca_basis.npy)
            "tsne": [paths.tsne, paths.tsne_items, paths.knn],
            "grid": [paths.grid, paths.grid_items],
        }[stage]
    if stage.endswith("_layout"):
        return _layout_files(storage, paths, stage[: -len("_layout")])
    version = built_version_id(storage, name)
    if version is None:
        return None
    return {
        "mosaic": [paths.mosaic, paths.preview(version)],
        "dzi": [paths.dzi(version)],
        "metadata_json": [Version(name, version).item_table(storage), paths.regions(version), paths.neighbours(version),
                          paths.vocabulary(version), paths.duplicates(version)],
        "publish": [paths.mosaic],  # with the condition that its version is live (``_live``)
    }[stage]


def _layout_files(storage: Storage, paths: CollectionPaths, layout: str) -> list[str] | None:
    """A layout step's record (built or absent, and why), and the built version's layout.json and map.dzi."""
    try:
        record = storage.read_json(paths.layout_record(layout))
    except (FileNotFoundError, ValueError):
        return None
    if record.get("status") != "built":
        return [paths.layout_record(layout)]
    version = str(record.get("version"))
    return [paths.layout_record(layout), paths.layout_doc(layout, version), paths.layout_dzi(layout, version)]


def _files_version(storage: Storage, files: list[str]) -> str | None:
    entries = []
    for rel in files:
        try:
            entries.append([rel, hashlib.sha256(storage.read_bytes(rel)).hexdigest()])
        except FileNotFoundError:
            return None
    return digest(entries)


class Versions:
    """Data versions of one collection's stages, computed from storage once per use (cached)."""

    def __init__(self, storage: Storage, name: str) -> None:
        self.storage, self.name = storage, name
        self._cache: dict[str, str | None] = {}
        self._catalogue: dict[str, Any] | None = None

    def catalogue(self) -> dict[str, Any]:
        if self._catalogue is None:
            self._catalogue = self.storage.read_json(CollectionPaths(self.name).catalogue)
        return self._catalogue

    def get(self, key: str) -> str | None:
        """A stage's data version (or ``items``/``labels``/``<layout>_input``); None when it has not been built."""
        if key not in self._cache:
            self._cache[key] = self._compute(key)
        return self._cache[key]

    def _compute(self, key: str) -> str | None:
        if key in ("images", "items", "labels"):
            try:
                catalogue = self.catalogue()
            except FileNotFoundError:
                return None
            if key == "images":
                return catalogue_version(catalogue)
            items = usable_items(catalogue)
            if key == "items":
                return digest([e["sha256"] for e in items])
            columns = list((catalogue.get("config") or {}).get("label_columns") or [])
            return digest({c: [str((e.get("row") or {}).get(c, "") or "") for e in items] for c in columns})
        if key.endswith("_input"):  # a layout's own inputs (cviz.stages.layouts.input_digest)
            from cviz.stages.layouts import input_digest

            try:
                return input_digest(self.storage, self.name, key[: -len("_input")])
            except FileNotFoundError:
                return None
        files = output_files(self.storage, self.name, key)
        return None if files is None else _files_version(self.storage, files)
