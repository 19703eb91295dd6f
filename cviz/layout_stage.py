"""The `timeline_layout` and `category_layout` stages, and how `publish` pairs their versions.

Each layout is one step: arrangement (cviz.layouts) + mosaic (cviz.tiles.render_mosaic, cells
from the cell cache ``cache/cells/``, so a warm cache decodes nothing) + the lower Deep Zoom levels
(cviz.tiles.build_lower_levels) + ``layout.json`` (format ``cviz-layout/1``, docs/outputs.md), into
a new version folder ``published/<name>/layouts/<layout>/<ver>/``. It never writes into a live
folder and never touches the similarity version, so rebuilding one layout alone (``timeline_layout``
then ``publish``) leaves the live similarity map byte for byte as it was.

A stage records what it built (or that the collection has no such layout, and why) in
``collections/<name>/layouts/<layout>.json``; `publish` reads those records and names in
``current.json`` only the layout versions built from the same item list as the similarity
version it publishes (``items_sha256``: SHA-256 of ``json.dumps`` of items.json's ``fields.id``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cviz import layouts as arrange
from cviz.layouts import items_sha256
from cviz import thumbs
from cviz.catalogue import open_source, usable_items
from cviz.collection import LAYOUTS, CollectionConfig
from cviz.errors import CollectionError
from cviz.imaging import ImageRejected, decode
from cviz.paths import CollectionPaths
from cviz.mosaic import MOSAIC_BACKGROUND as BACKGROUND, Cell, render_mosaic
from cviz.stages.common import StageReport, changed_since_catalogue, run_config
from cviz.stages.common import timed as _timed  # seconds, items_per_s
from cviz.publish import TRASH_PREFIX, Version
from cviz.storage import Storage, read_source
from cviz.dzi import Pyramid, choose_tile_size
from cviz.levels import build_lower_levels
from cviz.viewer_data import MAX_CATEGORIES, build_items, parse_year

FORMAT = "cviz-layout/1"


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


def _absent(storage: Storage, name: str, layout: str, reason: str, items: int, sha: str, started: float) -> StageReport:
    storage.write_json(record_path(name, layout), {"layout": layout, "status": "absent", "reason": reason,
                                                    "items_sha256": sha})
    report = StageReport(values={"layout": layout, "built": False, "items": items, "reason": f"no {layout}: {reason}"})
    return _timed(report, started)


def empty_layout_trash(storage: Storage, name: str) -> int:
    """Delete the layout versions :func:`cviz.publish.remove_old_layout_versions` set aside."""
    removed = 0
    for layout in storage.list(layouts_folder(name)):
        folder = f"{layouts_folder(name)}/{layout}"
        for v in storage.list(folder):
            if v.startswith(TRASH_PREFIX):
                storage.remove_tree(f"{folder}/{v}")
                removed += 1
    return removed


def _config(storage: Storage, name: str, catalogue: dict[str, Any]) -> CollectionConfig:
    """This run's config snapshot (cviz.pipeline.run_config) from a catalogue already read."""
    snapshot = catalogue.get("config")
    return CollectionConfig.from_dict(snapshot) if snapshot else run_config(storage, name)


def arrange_items(storage: Storage, name: str, layout: str, catalogue: dict[str, Any] | None = None
                  ) -> tuple[arrange.Arrangement | arrange.Absent, list[dict], str]:
    """(arrangement or absence, usable items, items_sha256) for ``layout`` from this run's catalogue,
    config snapshot and t-SNE points. Years and category columns are items.json's own
    (cviz.viewer_data.build_items), so the layouts agree with what the viewer filters on."""
    paths = CollectionPaths(name)
    catalogue = catalogue if catalogue is not None else storage.read_json(paths.catalogue)
    config = _config(storage, name, catalogue)
    items = usable_items(catalogue)
    sha = items_sha256([e["file"] for e in items])
    setting = config.layouts.get(layout)
    if setting is False:
        return arrange.Absent(layout, f"turned off in collection.json (layouts.{layout}: false)"), items, sha
    column = (setting or {}).get("column")
    columns = (catalogue.get("metadata") or {}).get("columns", [])
    if column is not None and column not in columns:
        raise CollectionError(
            f"collection {name}: collection.json layouts.{layout}.column: {column!r} is not a column of the metadata "
            f"CSV (columns: {', '.join(columns) or 'none'}); fix collection.json (the published map is unchanged)")
    points = storage.read_npy(paths.tsne)
    if len(points) != len(items):
        raise CollectionError(f"collection {name}: tsne has {len(points)} rows for {len(items)} items; "
                              "re-materialize tsne, then the layouts")
    n = len(items)
    doc, _ = build_items(config, items, columns, [0] * n, {}, [""] * n)
    rows = [e.get("row") or {} for e in items]
    cell = tuple(config.tile_size)
    if layout == "timeline":
        if column is None:
            column = doc["date_column"]
            if column is None:
                return arrange.Absent(layout, "no date column (none of the metadata columns holds parseable years)"), items, sha
            years = doc["fields"]["year"]
        else:
            years = [parse_year(r.get(column, "")) for r in rows]
        return arrange.timeline(years, points, cell, column), items, sha
    if column is None:
        candidates = [c for c in config.label_columns if c in columns] + list(doc["category_columns"])
        if not candidates:
            return arrange.Absent(layout, "no category column (no label_columns entry and no column with 2 to "
                                          f"{MAX_CATEGORIES} distinct values)"), items, sha
        column = candidates[0]
    return arrange.category([r.get(column, "") for r in rows], points, cell, column), items, sha


def stage_layout(storage: Storage, name: str, layout: str, workers: int = 2,
                 progress: Callable[[int, int], None] | None = None) -> StageReport:
    """Build ``layout`` (``timeline`` or ``category``) into a new version folder and record it.

    A collection without the layout (no date column, no item with a year, no category column,
    turned off) records the absence and its reason and succeeds: `publish` leaves it out.
    """
    if layout not in LAYOUTS:
        raise CollectionError(f"layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    started = time.perf_counter()
    paths = CollectionPaths(name)
    catalogue = storage.read_json(paths.catalogue)
    found, items, sha = arrange_items(storage, name, layout, catalogue)
    if isinstance(found, arrange.Absent):
        return _absent(storage, name, layout, found.reason, len(items), sha, started)
    arranged_s = time.perf_counter() - started
    cw, ch = _config(storage, name, catalogue).tile_size
    cols, rows = found.cols, found.rows
    pyramid = Pyramid(cols * cw, rows * ch, choose_tile_size(cw, ch))
    empty_layout_trash(storage, name)  # layout versions the last publish retired (local roots)
    version = storage.new_version()
    folder = layout_version_folder(name, layout, version)
    fs, base = open_source(catalogue, storage.storage_options)
    counts = {"cells_cached": 0, "cells_decoded": 0}
    lock = threading.Lock()  # load_cell runs in render_mosaic's worker threads

    def count(key: str) -> None:
        with lock:
            counts[key] += 1
            done = counts["cells_cached"] + counts["cells_decoded"]
        if progress:
            progress(done, len(items))

    def load_cell(i: int, preview_size: tuple[int, int]) -> Cell:
        # The similarity mosaic's cell cache (cviz.thumbs): a warm cache decodes nothing.
        e = items[i]
        cached = thumbs.read_cell(storage, e["sha256"], (cw, ch), decode_at=preview_size)
        if cached is not None:
            count("cells_cached")
            return Cell(data=cached[0], small=cached[1])
        img, _ = decode(read_source(fs, f"{base}/{e['file']}"), name=e["file"], at_least=(0, max(cw, ch)))
        cell = thumbs.make_cell(img, (cw, ch), BACKGROUND)
        count("cells_decoded")
        return Cell(data=thumbs.write_cell(storage, e["sha256"], (cw, ch), cell), image=cell)

    item_at_cell = {int(c): i for i, c in enumerate(found.cells)}
    try:
        t0 = time.perf_counter()
        stats = render_mosaic(storage, f"{folder}/map_files", pyramid, cols, rows, (cw, ch), item_at_cell,
                              load_cell, BACKGROUND, workers)
        mosaic_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_lower_levels(storage, f"{folder}/map_files", pyramid, workers, start_level=stats.lowest_level)
        pyramid_s = time.perf_counter() - t0
        storage.write_bytes(f"{folder}/preview.jpg", stats.preview)
        storage.write_json(f"{folder}/layout.json", layout_document(found, name, sha, (cw, ch)), compact=True)
        storage.write_bytes(f"{folder}/map.dzi", pyramid.xml().encode())
    except BaseException as exc:
        try:
            storage.remove_tree(folder)  # nothing names it; give the space back
        except Exception:
            pass
        if isinstance(exc, (ImageRejected, FileNotFoundError)):
            raise changed_since_catalogue(name, exc) from exc
        raise
    storage.write_json(record_path(name, layout), {
        "layout": layout, "status": "built", "version": version, "items_sha256": sha,
        "config_sha256": str(catalogue.get("config_sha256", "")), "items": len(items),
    })
    report = StageReport(values={
        "layout": layout, "built": True, "version": version, "items": len(items), "cols": cols, "rows": rows,
        "empty_cells": cols * rows - len(items), "labels": len(found.labels), "column": found.extra.get("column", ""),
        **({"bin_years": found.extra["bin_years"]} if "bin_years" in found.extra else {}),
        "width": pyramid.width, "height": pyramid.height, "tiles": pyramid.tile_count(), **counts,
        "arrange_seconds": round(arranged_s, 3), "mosaic_seconds": round(mosaic_s, 3),
        "pyramid_seconds": round(pyramid_s, 3),
    })
    report.pictures[f"{layout}_preview"] = stats.preview
    report.tables["labels"] = [{k: lab[k] for k in ("text", "count")} for lab in found.labels][:200]
    return _timed(report, started)


def layout_document(found: arrange.Arrangement, name: str, sha: str, cell: tuple[int, int]) -> dict[str, Any]:
    """``layout.json`` (format ``cviz-layout/1``, docs/outputs.md): cells in items.json item order."""
    cw, ch = cell
    return {
        "format": FORMAT, "layout": found.layout, "collection": name, "items_sha256": sha,
        "grid": {"cols": found.cols, "rows": found.rows, "cell_width": cw, "cell_height": ch,
                 "width": found.cols * cw, "height": found.rows * ch},
        "dzi": "map.dzi",
        "cells": [int(c) for c in found.cells],
        "labels": found.labels,
        **found.extra,
    }


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
    try:
        doc = storage.read_json(f"{folder}/layout.json")
    except FileNotFoundError:
        return Built(layout, record, folder=folder, problem=f"{folder}/layout.json missing")
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
        elif not storage.exists(f"{b.folder}/map.dzi"):
            out.left_out[layout] = f"version {b.record['version']} is incomplete; materialize {layout}_layout"
        else:
            ver = b.record["version"]
            out.entries[layout] = {"dzi": f"layouts/{layout}/{ver}/map.dzi", "layout": f"layouts/{layout}/{ver}/layout.json"}
    return out
