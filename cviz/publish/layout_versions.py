"""The layout versions the `<layout>_layout` steps recorded, for the checks and for `publish`.

Each extra layout (cviz/stages/layouts.py) records what it built in
``collections/<name>/layouts/<layout>.json``: a version and the item list it was drawn from, or its
absence and why. `publish` pairs a layout with the similarity version only when both were drawn
from the same item list (``items_sha256``), so the viewer never maps items to another list's cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cviz.arrange.layouts import items_sha256
from cviz.ingest.collection import LAYOUTS
from cviz.paths import CollectionPaths
from cviz.publish.versions import Version
from cviz.storage import Storage


def record_path(name: str, layout: str) -> str:
    return CollectionPaths(name).layout_record(layout)


def layouts_folder(name: str) -> str:
    return CollectionPaths(name).layouts


def layout_version_folder(name: str, layout: str, version: str) -> str:
    return CollectionPaths(name).layout_version(layout, version)


def read_record(storage: Storage, name: str, layout: str) -> dict[str, Any] | None:
    try:
        return storage.read_json(record_path(name, layout))
    except FileNotFoundError:
        return None


# -- checks -----------------------------------------------------------------------------------
@dataclass
class Built:
    """The layout version the last `<layout>_layout` step built (``absent`` when it recorded none)."""

    layout: str
    record: dict[str, Any] | None
    doc: dict[str, Any] | None = None
    folder: str | None = None
    problem: str = ""

    @property
    def absent(self) -> str | None:
        if self.record is not None and self.record.get("status") == "absent":
            return str(self.record.get("reason", ""))
        return None


def built_layout(storage: Storage, name: str, layout: str) -> Built:
    record = read_record(storage, name, layout)
    if record is None:
        return Built(layout, None, problem=f"no {record_path(name, layout)}: {layout}_layout has not run")
    if record.get("status") != "built":
        return Built(layout, record)
    folder = layout_version_folder(name, layout, str(record["version"]))
    doc_rel = CollectionPaths(name).layout_doc(layout, str(record["version"]))
    try:
        doc = storage.read_json(doc_rel)
    except FileNotFoundError:
        return Built(layout, record, folder=folder, problem=f"{doc_rel} missing")
    return Built(layout, record, doc, folder)


# -- publish ----------------------------------------------------------------------------------
@dataclass
class Pairing:
    """What `publish` puts under ``current.json``'s ``layouts``, and what it left out and why."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        return {"layouts": ", ".join(sorted(self.entries)) or "none",
                "layouts_left_out": "; ".join(f"{k}: {v}" for k, v in sorted(self.left_out.items())) or "none"}


def pair_layouts(storage: Storage, version: Version) -> Pairing:
    """The layout versions to publish beside the similarity ``version``: those built from the same
    item list (``items_sha256`` of its items.json) and complete; the others left out, with why."""
    name = version.name
    out = Pairing()
    try:
        ids = (storage.read_json(version.items).get("fields") or {}).get("id", [])
    except FileNotFoundError:  # an incomplete version: publish_version refuses it, saying so
        return out
    want = items_sha256(list(ids))
    for layout in LAYOUTS:
        b = built_layout(storage, name, layout)
        if b.absent is not None:
            out.left_out[layout] = f"absent: {b.absent}"
        elif b.problem:
            out.left_out[layout] = f"{b.problem}; materialize {layout}_layout"
        elif b.record.get("items_sha256") != want or b.doc.get("items_sha256") != want:
            out.left_out[layout] = f"built from another item list; materialize {layout}_layout"
        elif not storage.exists(CollectionPaths(name).layout_dzi(layout, b.record["version"])):
            out.left_out[layout] = f"version {b.record['version']} is incomplete; materialize {layout}_layout"
        else:
            paths, ver = CollectionPaths(name), b.record["version"]
            out.entries[layout] = {"dzi": paths.in_published(paths.layout_dzi(layout, ver)),
                                   "layout": paths.in_published(paths.layout_doc(layout, ver))}
    return out
