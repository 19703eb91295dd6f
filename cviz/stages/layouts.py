"""The `timeline_layout` and `category_layout` stages, and how `publish` pairs their versions.

Each layout is one step: arrangement (cviz.arrange.layouts) + mosaic (cviz.tiles.render_mosaic, cells
from the cell cache ``cache/cells/``, so a warm cache decodes nothing) + the lower Deep Zoom levels
(cviz.tiles.build_lower_levels) + ``layout.json`` (format ``cviz-layout/1``, docs/outputs.md), into
a new version folder ``published/<name>/layouts/<layout>/<ver>/``. It never writes into a live
folder and never touches the similarity version, so rebuilding one layout alone (``timeline_layout``
then ``publish``) leaves the live similarity map byte for byte as it was.

A stage records what it built (or that the collection has no such layout, and why) in
``collections/<name>/layouts/<layout>.json``; `publish` reads those records and names in
``current.json`` only the layout versions built from the same item list as the similarity
version it publishes (``items_sha256``: SHA-256 of ``json.dumps`` of items.json's ``fields.id``).

Cost in N: arrangement O(N log N) (sorts by bin and by t-SNE position); the mosaic and the
pyramid stream as the similarity map's do (O(N) time, memory of a band), cells from the cell
cache.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from cviz.arrange import layouts as arrange
from cviz.arrange.layouts import items_sha256
from cviz.errors import CollectionError
from cviz.ingest.catalogue import open_source, usable_items
from cviz.ingest.collection import LAYOUTS, CollectionConfig
from cviz.ingest.decode import ImageRejected, decode
from cviz.paths import CollectionPaths
from cviz.publish.items import MAX_CATEGORIES, build_items, parse_year
from cviz.publish.layout_versions import layout_version_folder, layouts_folder, record_path
from cviz.publish.versions import TRASH_PREFIX
from cviz.render import cells
from cviz.render.dzi import Pyramid, choose_tile_size
from cviz.render.levels import build_lower_levels
from cviz.render.mosaic import MOSAIC_BACKGROUND as BACKGROUND
from cviz.render.mosaic import Cell, render_mosaic
from cviz.stages.common import StageReport, changed_since_catalogue, run_config
from cviz.stages.common import timed as _timed  # seconds, items_per_s
from cviz.storage import Storage, read_source

FORMAT = "cviz-layout/1"


def _absent(storage: Storage, name: str, layout: str, reason: str, items: int, sha: str, started: float) -> StageReport:
    storage.write_json(record_path(name, layout), {"layout": layout, "status": "absent", "reason": reason,
                                                    "items_sha256": sha})
    report = StageReport(values={"layout": layout, "built": False, "items": items, "reason": f"no {layout}: {reason}"})
    return _timed(report, started)


def empty_layout_trash(storage: Storage, name: str) -> int:
    """Delete the layout versions :func:`cviz.publish.versions.remove_old_layout_versions` set aside."""
    removed = 0
    for layout in storage.list(layouts_folder(name)):
        folder = f"{layouts_folder(name)}/{layout}"
        for v in storage.list(folder):
            if v.startswith(TRASH_PREFIX):
                storage.remove_tree(f"{folder}/{v}")
                removed += 1
    return removed


def _config(storage: Storage, name: str, catalogue: dict[str, Any]) -> CollectionConfig:
    """This run's config snapshot (cviz.stages.registry.run_config) from a catalogue already read."""
    snapshot = catalogue.get("config")
    return CollectionConfig.from_dict(snapshot) if snapshot else run_config(storage, name)


def arrange_items(storage: Storage, name: str, layout: str, catalogue: dict[str, Any] | None = None
                  ) -> tuple[arrange.Arrangement | arrange.Absent, list[dict], str]:
    """(arrangement or absence, usable items, items_sha256) for ``layout`` from this run's catalogue,
    config snapshot and t-SNE points. Years and category columns are items.json's own
    (cviz.publish.items.build_items), so the layouts agree with what the viewer filters on."""
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


class _CellSource:
    """Cells for a layout's mosaic from the similarity mosaic's cell cache (cviz.render.cells): a warm
    cache decodes nothing; a miss decodes the original once and fills the cache."""

    def __init__(self, storage: Storage, catalogue: dict[str, Any], items: list[dict[str, Any]],
                 cell: tuple[int, int], progress: Callable[[int, int], None] | None) -> None:
        self.storage, self.items, self.cell, self.progress = storage, items, cell, progress
        self.fs, self.base = open_source(catalogue, storage.storage_options)
        self.counts = {"cells_cached": 0, "cells_decoded": 0}
        self._lock = threading.Lock()  # called from render_mosaic's worker threads

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1
            done = self.counts["cells_cached"] + self.counts["cells_decoded"]
        if self.progress:
            self.progress(done, len(self.items))

    def __call__(self, i: int, preview_size: tuple[int, int]) -> Cell:
        e, (cw, ch) = self.items[i], self.cell
        cached = cells.read_cell(self.storage, e["sha256"], (cw, ch), decode_at=preview_size)
        if cached is not None:
            self._count("cells_cached")
            return Cell(data=cached[0], small=cached[1])
        img, _ = decode(read_source(self.fs, f"{self.base}/{e['file']}"), name=e["file"], at_least=(0, max(cw, ch)))
        cell = cells.make_cell(img, (cw, ch), BACKGROUND)
        self._count("cells_decoded")
        return Cell(data=cells.write_cell(self.storage, e["sha256"], (cw, ch), cell), image=cell)


def _render(storage: Storage, name: str, layout: str, version: str, found: arrange.Arrangement,
            items: list[dict[str, Any]], catalogue: dict[str, Any], cell: tuple[int, int], sha: str, workers: int,
            progress: Callable[[int, int], None] | None) -> tuple[Any, dict[str, int], float, float]:
    """Mosaic, lower levels, preview, layout.json and map.dzi of one layout version (map.dzi last)."""
    paths, (cw, ch) = CollectionPaths(name), cell
    pyramid = Pyramid(found.cols * cw, found.rows * ch, choose_tile_size(cw, ch))
    source = _CellSource(storage, catalogue, items, cell, progress)
    item_at_cell = {int(c): i for i, c in enumerate(found.cells)}
    tiles = paths.layout_tiles(layout, version)
    t0 = time.perf_counter()
    stats = render_mosaic(storage, tiles, pyramid, found.cols, found.rows, cell, item_at_cell, source, BACKGROUND, workers)
    mosaic_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_lower_levels(storage, tiles, pyramid, workers, start_level=stats.lowest_level)
    pyramid_s = time.perf_counter() - t0
    storage.write_bytes(paths.layout_preview(layout, version), stats.preview)
    storage.write_json(paths.layout_doc(layout, version), layout_document(found, name, sha, cell), compact=True)
    storage.write_bytes(paths.layout_dzi(layout, version), pyramid.xml().encode())
    return stats, source.counts, mosaic_s, pyramid_s


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
    try:
        stats, counts, mosaic_s, pyramid_s = _render(storage, name, layout, version, found, items, catalogue,
                                                     (cw, ch), sha, workers, progress)
    except BaseException as exc:
        try:
            storage.remove_tree(layout_version_folder(name, layout, version))  # nothing names it; give the space back
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
