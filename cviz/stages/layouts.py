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

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from cviz.arrange import layouts as arrange
from cviz.arrange.layout_update import PreviousLayout, group_keys, kept_share, update_layout
from cviz.arrange.layouts import items_sha256
from cviz.errors import CollectionError
from cviz.ingest.catalogue import open_source, usable_items
from cviz.ingest.collection import LAYOUTS, CollectionConfig
from cviz.ingest.decode import ImageRejected, decode
from cviz.paths import CollectionPaths
from cviz.publish.items import MAX_CATEGORIES, layout_columns, parse_year
from cviz.publish.layout_versions import layout_version_folder, layouts_folder, read_record, record_path
from cviz.publish.versions import TRASH_PREFIX
from cviz.render import cells
from cviz.render.dzi import Pyramid, choose_tile_size, read_dzi
from cviz.render.levels import build_lower_levels
from cviz.render.mosaic import MOSAIC_BACKGROUND as BACKGROUND
from cviz.render.mosaic import Cell, render_mosaic
from cviz.render.tile_reuse import CellMap, Previous, render_key
from cviz.stages.common import StageReport, changed_since_catalogue, run_config
from cviz.stages.common import timed as _timed  # seconds, items_per_s
from cviz.storage import Storage, read_source

FORMAT = "cviz-layout/1"


def _absent(storage: Storage, name: str, layout: str, reason: str, items: int, sha: str, started: float) -> StageReport:
    storage.write_json(record_path(name, layout), {"layout": layout, "status": "absent", "reason": reason,
                                                    "items_sha256": sha})
    report = StageReport(values={"layout": layout, "built": False, "items": items, "reason": f"no {layout}: {reason}"})
    return _timed(report, started)


def empty_layout_trash(storage: Storage, name: str, only: str | None = None) -> int:
    """Delete the layout versions :func:`cviz.publish.versions.remove_old_layout_versions` set aside
    (``only``: of that layout alone, so two layout steps running at once never delete the same
    folder). A file another process holds open is left for the next build."""
    removed = 0
    for layout in storage.list(layouts_folder(name)):
        if only is not None and layout != only:
            continue
        folder = f"{layouts_folder(name)}/{layout}"
        for v in storage.list(folder):
            if v.startswith(TRASH_PREFIX):
                try:
                    storage.remove_tree(f"{folder}/{v}")
                except OSError:
                    continue
                removed += 1
    return removed


def _config(storage: Storage, name: str, catalogue: dict[str, Any]) -> CollectionConfig:
    """This run's config snapshot (cviz.stages.registry.run_config) from a catalogue already read."""
    snapshot = catalogue.get("config")
    return CollectionConfig.from_dict(snapshot) if snapshot else run_config(storage, name)


@dataclass
class LayoutInput:
    """What a layout is drawn from: the column and its per-item years or values, the t-SNE points."""

    column: str
    years: list[int | None] | None
    values: list[str] | None
    points: np.ndarray


def layout_input(storage: Storage, name: str, layout: str, catalogue: dict[str, Any],
                 with_points: bool = True) -> tuple[LayoutInput | arrange.Absent, list[dict], str]:
    """(input or absence, usable items, items_sha256) of ``layout`` from this run's catalogue and
    config snapshot. Years and category columns are items.json's own (cviz.publish.items), so the
    layouts agree with what the viewer filters on."""
    paths = CollectionPaths(name)
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
    rows = [e.get("row") or {} for e in items]
    date_column, category_columns = layout_columns(config, columns, rows)
    if layout == "timeline":
        column = column if column is not None else date_column
        if column is None:
            return arrange.Absent(layout, "no date column (none of the metadata columns holds parseable years)"), items, sha
        found = LayoutInput(column, [parse_year(r.get(column, "")) for r in rows], None, np.zeros((0, 2)))
    else:
        candidates = [c for c in config.label_columns if c in columns] + list(category_columns)
        if column is None and not candidates:
            return arrange.Absent(layout, "no category column (no label_columns entry and no column with 2 to "
                                          f"{MAX_CATEGORIES} distinct values)"), items, sha
        column = column if column is not None else candidates[0]
        found = LayoutInput(column, None, [r.get(column, "") for r in rows], np.zeros((0, 2)))
    if with_points:
        found.points = storage.read_npy(paths.tsne)
        if len(found.points) != len(items):
            raise CollectionError(f"collection {name}: tsne has {len(found.points)} rows for {len(items)} items; "
                                  "re-materialize tsne, then the layouts")
    return found, items, sha


def input_digest(storage: Storage, name: str, layout: str) -> str:
    """What a layout stage reads besides the t-SNE points, digested: the item list (ids and content
    hashes), the chosen column and its values, the config's layout settings and cell size. A title or
    any other column edited in the CSV leaves it unchanged, so the layout is skipped."""
    catalogue = storage.read_json(CollectionPaths(name).catalogue)
    found, items, _ = layout_input(storage, name, layout, catalogue, with_points=False)
    config = _config(storage, name, catalogue)
    parts: dict[str, Any] = {"items": [[e["file"], e["sha256"]] for e in items], "layouts": config.layouts,
                             "cell_size": list(config.cell_size)}
    if isinstance(found, arrange.Absent):
        parts["absent"] = found.reason
    else:
        parts.update(column=found.column, years=found.years, values=found.values)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def arrange_items(storage: Storage, name: str, layout: str, catalogue: dict[str, Any] | None = None,
                  previous: PreviousLayout | None = None) -> tuple[arrange.Arrangement | arrange.Absent, list[dict], str, str]:
    """(arrangement or absence, usable items, items_sha256, how it was arranged) for ``layout``.
    ``previous``: keep its cells for the items on it (cviz.arrange.layout_update), reflowing only when
    that cannot be done (the how says why)."""
    catalogue = catalogue if catalogue is not None else storage.read_json(CollectionPaths(name).catalogue)
    found, items, sha = layout_input(storage, name, layout, catalogue)
    if isinstance(found, arrange.Absent):
        return found, items, sha, "absent"
    how = "fresh"
    if previous is not None:
        if previous.extra.get("column") != found.column:
            how = f"reflowed: column changed from {previous.extra.get('column')!r} to {found.column!r}"
        else:
            groups = group_keys(layout, previous, found.years, found.values)
            kept = update_layout(previous, [e["file"] for e in items], groups, found.points)
            if not isinstance(kept, str):
                return kept, items, sha, "kept"
            how = f"reflowed: {kept}"
    cell = tuple(_config(storage, name, catalogue).cell_size)
    if layout == "timeline":
        assert found.years is not None
        return arrange.timeline(found.years, found.points, cell, found.column), items, sha, how
    assert found.values is not None
    return arrange.category(found.values, found.points, cell, found.column), items, sha, how


def previous_layout(storage: Storage, name: str, layout: str, cell: tuple[int, int]) -> tuple[PreviousLayout | None, str]:
    """The layout the last step built, as an update keeps it, or None and why."""
    record = read_record(storage, name, layout)
    if record is None or record.get("status") != "built":
        return None, "no previous layout built"
    version = str(record["version"])
    paths = CollectionPaths(name)
    try:
        doc = storage.read_json(paths.layout_doc(layout, version))
        ids = storage.read_json(CollectionPaths(name).layout_items(layout, version))["ids"]
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None, f"previous version {version} has no layout.json or layout_items.json"
    grid = doc["grid"]
    if (grid["cell_width"], grid["cell_height"]) != tuple(cell) or len(ids) != len(doc["cells"]):
        return None, f"previous version {version} has another cell size or item count"
    extra = {k: doc[k] for k in ("bin_years", "column") if k in doc}
    return PreviousLayout(layout, int(grid["cols"]), int(grid["rows"]), list(doc["labels"]), extra,
                          dict(zip(ids, (int(c) for c in doc["cells"])))), version


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


def _previous_tiles(storage: Storage, name: str, layout: str, version: str | None, render: str) -> tuple[Previous | None, str]:
    """The layout's last built version as a source of unchanged tiles (cviz.render.tile_reuse), or None and why."""
    if not version:
        return None, "no previous version"
    paths = CollectionPaths(name)
    try:
        pyramid = read_dzi(storage.read_bytes(paths.layout_dzi(layout, version)))
        cell_map = CellMap.from_json(storage.read_json(CollectionPaths(name).layout_cells(layout, version)))
    except FileNotFoundError:
        return None, f"previous version {version} has no map.dzi or cells.json"
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"previous version {version}: unreadable cells.json or map.dzi ({exc})"
    if cell_map.render != render:
        return None, f"render key changed since version {version}"
    return Previous(version, paths.layout_tiles(layout, version), pyramid.max_level, cell_map), ""


def _render(storage: Storage, name: str, layout: str, version: str, found: arrange.Arrangement,
            items: list[dict[str, Any]], catalogue: dict[str, Any], cell: tuple[int, int], sha: str, workers: int,
            progress: Callable[[int, int], None] | None, previous_version: str | None = None
            ) -> tuple[Any, dict[str, Any], float, float]:
    """Mosaic (linking the previous version's unchanged tiles), lower levels, preview, layout.json,
    the item ids and cells.json the next update reuses, and map.dzi last, of one layout version."""
    paths, (cw, ch) = CollectionPaths(name), cell
    pyramid = Pyramid(found.cols * cw, found.rows * ch, choose_tile_size(cw, ch))
    source = _CellSource(storage, catalogue, items, cell, progress)
    item_at_cell = {int(c): i for i, c in enumerate(found.cells)}
    cell_map = CellMap.of(found.cols, found.rows, item_at_cell, [e["sha256"] for e in items],
                          render_key(pyramid.tile_size, cell, BACKGROUND))
    previous, why = _previous_tiles(storage, name, layout, previous_version, cell_map.render)
    tiles = paths.layout_tiles(layout, version)
    t0 = time.perf_counter()
    stats = render_mosaic(storage, tiles, pyramid, found.cols, found.rows, cell, item_at_cell, source, BACKGROUND,
                          workers, cells=cell_map, previous=previous)
    mosaic_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_lower_levels(storage, tiles, pyramid, workers, start_level=stats.lowest_level)
    pyramid_s = time.perf_counter() - t0
    storage.write_bytes(paths.layout_preview(layout, version), stats.preview)
    storage.write_json(paths.layout_doc(layout, version), layout_document(found, name, sha, cell), compact=True)
    storage.write_json(CollectionPaths(name).layout_items(layout, version),
                       {"format": "cviz-layout-items/1", "ids": [e["file"] for e in items]}, compact=True)
    storage.write_json(CollectionPaths(name).layout_cells(layout, version), cell_map.to_json(), compact=True)
    storage.write_bytes(paths.layout_dzi(layout, version), pyramid.xml().encode())
    reuse = {"tiles_written": stats.tiles - stats.reused, "tiles_reused": stats.reused,
             "reused_from": previous.version if previous is not None and stats.reused else f"none: {why or 'no tile unchanged'}"}
    return stats, {**source.counts, **reuse}, mosaic_s, pyramid_s


def stage_layout(storage: Storage, name: str, layout: str, workers: int = 2,
                 progress: Callable[[int, int], None] | None = None, keep_previous: bool = False) -> StageReport:
    """Build ``layout`` (``timeline`` or ``category``) into a new version folder and record it.

    A collection without the layout (no date column, no item with a year, no category column,
    turned off) records the absence and its reason and succeeds: `publish` leaves it out.
    ``keep_previous``: items on the previous version keep their cells and new ones take free cells
    of their bin or block (cviz.arrange.layout_update); a full bin or block reflows the map. Either
    way the tiles that show what the previous version's showed are linked from it, not drawn.
    """
    if layout not in LAYOUTS:
        raise CollectionError(f"layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    started = time.perf_counter()
    catalogue = storage.read_json(CollectionPaths(name).catalogue)
    cw, ch = _config(storage, name, catalogue).cell_size
    before, previous_version = previous_layout(storage, name, layout, (cw, ch))
    found, items, sha, how = arrange_items(storage, name, layout, catalogue, before if keep_previous else None)
    if isinstance(found, arrange.Absent):
        return _absent(storage, name, layout, found.reason, len(items), sha, started)
    arranged_s = time.perf_counter() - started
    version = storage.new_version()
    try:
        # The versions the last publish retired (local roots: ~15,000 tiles each at 13,000 items) are
        # deleted in a thread beside the render, as the mosaic stage does, joined before returning.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cviz-layout-trash") as pool:
            emptied = pool.submit(empty_layout_trash, storage, name, layout)
            stats, counts, mosaic_s, pyramid_s = _render(storage, name, layout, version, found, items, catalogue,
                                                         (cw, ch), sha, workers, progress,
                                                         previous_version if before is not None else None)
        counts["retired_versions_deleted"] = emptied.result()
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
    return _timed(_report(layout, found, items, version, (cw, ch), stats, counts, how, before,
                          {"arrange_seconds": arranged_s, "mosaic_seconds": mosaic_s, "pyramid_seconds": pyramid_s}),
                  started)


def _report(layout: str, found: arrange.Arrangement, items: list[dict[str, Any]], version: str, cell: tuple[int, int],
            stats: Any, counts: dict[str, Any], how: str, before: PreviousLayout | None,
            seconds: dict[str, float]) -> StageReport:
    cols, rows = found.cols, found.rows
    pyramid = Pyramid(cols * cell[0], rows * cell[1], choose_tile_size(*cell))
    same, was = kept_share(before, [e["file"] for e in items], found.cells) if before is not None else (0, 0)
    report = StageReport(values={
        "layout": layout, "built": True, "version": version, "items": len(items), "cols": cols, "rows": rows,
        "empty_cells": cols * rows - len(items), "labels": len(found.labels), "column": found.extra.get("column", ""),
        **({"bin_years": found.extra["bin_years"]} if "bin_years" in found.extra else {}),
        "width": pyramid.width, "height": pyramid.height, "tiles": pyramid.tile_count(), **counts,
        "arranged": how, "items_in_place": same, "items_before": was,
        **{k: round(v, 3) for k, v in seconds.items()},
    })
    report.pictures[f"{layout}_preview"] = stats.preview
    report.tables["labels"] = [{k: lab[k] for k in ("text", "count")} for lab in found.labels][:200]
    return report


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
