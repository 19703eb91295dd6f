"""Checks on a collection's outputs, as plain functions: each returns a Verdict naming the
offending items, so the Dagster asset checks (and anyone else) show *which* item is wrong.

They re-derive what a viewer depends on from the stored files, independently of the code that
wrote them: the catalogue says which images are usable; the grid must give each exactly one cell;
the pyramid must hold every tile of every level its ``.dzi`` declares; ``items.json`` must list
each occupied cell once with its title/url templates rendered from the metadata row; the features
must be finite. The pyramid and items checks read the version this build made (the one
``mosaic.json`` names, which `publish` is about to switch live), never the live pointer: the
checks gate publishing, and a first build has no pointer yet.

Cost in N: O(N) over the grid and items; the pyramid check lists O(N / tile^2) tile names.
"""

from __future__ import annotations

import io
import posixpath
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from cviz.ingest.catalogue import usable_items
from cviz.ingest.collection import CollectionConfig
from cviz.paths import CollectionPaths
from cviz.publish.items import ITEMS_FORMAT, OWN_FIELDS, clip, viewer_url
from cviz.publish.versions import Version, read_item_table
from cviz.render.dzi import expected_tiles, files_folder, read_dzi, tile_path
from cviz.storage import Storage

MAX_OFFENDING = 100  # offending items listed in a verdict; ``counts`` has the totals
LAYOUT_FORMAT = "cviz-layout/1"  # cviz.stages.layouts.FORMAT


@dataclass
class Verdict:
    passed: bool
    offending: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    summary: str = ""


def _verdict(problems: list[dict[str, Any]], counts: dict[str, int], ok: str) -> Verdict:
    counts = dict(counts, offending=len(problems))
    if not problems:
        return Verdict(True, [], counts, ok)
    kinds = Counter(p["problem"] for p in problems)
    summary = ", ".join(f"{n} {k}" for k, n in kinds.most_common())
    return Verdict(False, problems[:MAX_OFFENDING], counts, summary)


def _usable(storage: Storage, name: str) -> list[dict[str, Any]]:
    return usable_items(storage.read_json(CollectionPaths(name).catalogue))


def built_version(storage: Storage, name: str) -> Version | None:
    """The version the last `mosaic` of this collection started (what this run is completing)."""
    try:
        return Version(name, storage.read_json(CollectionPaths(name).mosaic)["version"])
    except (FileNotFoundError, KeyError, TypeError):
        return None


# -- grid -------------------------------------------------------------------------------------
def verify_grid(storage: Storage, name: str, grid: dict[str, Any] | None = None) -> Verdict:
    """Every usable image has exactly one cell inside the grid, and no cell holds two images.

    ``grid``: another arrangement's ``{"cols", "rows", "cells"}`` (a layout's, cviz.stages.layouts)
    instead of grid.json."""
    items = _usable(storage, name)
    grid = grid if grid is not None else storage.read_json(CollectionPaths(name).grid)
    cells = [int(c) for c in grid["cells"]]
    n_cells = int(grid["cols"]) * int(grid["rows"])
    problems: list[dict[str, Any]] = []
    for i, e in enumerate(items):
        if i >= len(cells):
            problems.append({"problem": "image without a cell", "file": e["file"]})
        elif not 0 <= cells[i] < n_cells:
            problems.append({"problem": "cell outside the grid", "file": e["file"], "cell": cells[i]})
    if len(cells) > len(items):
        problems.append({"problem": "cells without an image", "count": len(cells) - len(items)})
    holders: dict[int, list[str]] = {}
    for e, c in zip(items, cells):
        holders.setdefault(c, []).append(e["file"])
    problems.extend({"problem": "cell shared", "cell": c, "files": files} for c, files in sorted(holders.items())
                    if len(files) > 1)
    return _verdict(problems, {"items": len(items), "cells": n_cells},
                    f"{len(items)} images in {len(items)} distinct cells of a {grid['cols']}x{grid['rows']} grid")


# -- pyramid ----------------------------------------------------------------------------------
def verify_pyramid(storage: Storage, name: str, dzi_rel: str | None = None, grid: dict[str, Any] | None = None) -> Verdict:
    """The published .dzi declares the grid's size, and every tile of every level is there at its size.

    ``dzi_rel`` and ``grid``: another arrangement's pyramid and grid (a layout's) instead of the
    similarity version's and grid.json."""
    paths = CollectionPaths(name)
    version = built_version(storage, name) if dzi_rel is None else None
    if dzi_rel is None and version is None:
        return _verdict([{"problem": "no built version", "file": paths.mosaic}], {}, "")
    dzi_rel = dzi_rel or version.dzi
    try:
        pyramid = read_dzi(storage.read_bytes(dzi_rel))
    except FileNotFoundError:
        return _verdict([{"problem": "dzi missing", "file": dzi_rel}], {}, "")
    except (ET.ParseError, ValueError, TypeError) as exc:
        return _verdict([{"problem": "dzi unreadable", "file": dzi_rel, "error": str(exc)}], {}, "")
    problems: list[dict[str, Any]] = []
    grid = grid if grid is not None else storage.read_json(paths.grid)
    want = (int(grid["cols"]) * int(grid["cell_width"]), int(grid["rows"]) * int(grid["cell_height"]))
    if (pyramid.width, pyramid.height) != want:
        problems.append({"problem": "declared size differs from the grid", "declared": [pyramid.width, pyramid.height],
                         "grid": list(want)})
    folder = files_folder(dzi_rel)
    found = storage.find(folder)
    expected = list(expected_tiles(pyramid))
    expected_set = set(expected)
    problems.extend({"problem": "tile missing", "tile": t} for t in expected if t not in found)
    problems.extend({"problem": "unexpected tile", "tile": t} for t in sorted(found - expected_set))
    # Pixel sizes: the first and the last (edge) tile of each level, a few reads per level.
    for level in range(pyramid.max_level + 1):
        tc, tr = pyramid.tile_grid(level)
        for c, r in {(0, 0), (tc - 1, tr - 1)}:
            rel = tile_path(level, c, r, fmt=pyramid.format)
            if rel not in found:
                continue
            size = pyramid.tile_box_size(level, c, r)
            with Image.open(io.BytesIO(storage.read_bytes(f"{folder}/{rel}"))) as im:
                if im.size != size:
                    problems.append({"problem": "tile of the wrong size", "tile": rel, "size": list(im.size),
                                     "expected": list(size)})
    return _verdict(problems, {"levels": pyramid.max_level + 1, "tiles": len(expected), "tiles_found": len(found)},
                    f"{len(expected)} tiles in {pyramid.max_level + 1} levels, {pyramid.width}x{pyramid.height}, "
                    f"{f'version {version.id}' if version else posixpath.dirname(dzi_rel)}")


# -- items.json -------------------------------------------------------------------------------
def verify_items(storage: Storage, name: str, layout: dict[str, Any] | None = None) -> Verdict:
    """items.json has one entry per occupied cell, each usable image once, and every title/url is
    its template rendered from the item's metadata row (a title falls back to the file name).

    ``layout``: a layout's ``layout.json`` instead (cviz.stages.layouts): every usable image resolves
    to exactly one cell of it, in items.json order (its ``items_sha256`` is the catalogue's item
    list), and every item sits inside exactly one label (bin or block) holding ``count`` items."""
    if layout is not None:
        return _verify_layout_items(storage, name, layout)
    paths = CollectionPaths(name)
    version = built_version(storage, name)
    if version is None:
        return _verdict([{"problem": "no built version", "file": paths.mosaic}], {}, "")
    items_rel = version.item_table(storage)
    try:
        doc = read_item_table(storage, version)
    except FileNotFoundError:
        return _verdict([{"problem": "items.json missing", "file": items_rel}], {}, "")
    catalogue = storage.read_json(paths.catalogue)
    snapshot = catalogue.get("config")  # the run's config snapshot (pipeline.run_config)
    config = CollectionConfig.from_dict(snapshot or storage.read_json(paths.config))
    usable = usable_items(catalogue)
    grid = storage.read_json(paths.grid)
    cell_of = {e["file"]: int(c) for e, c in zip(usable, grid["cells"])}
    row_of = {e["file"]: e.get("row") or {} for e in usable}
    fields = doc.get("fields", {})
    ids = list(fields.get("id", []))
    count = int(doc.get("count", -1))
    problems: list[dict[str, Any]] = []
    if doc.get("format") != ITEMS_FORMAT:
        problems.append({"problem": "unknown format", "format": doc.get("format"), "expected": ITEMS_FORMAT})
    problems.extend({"problem": "own field missing", "field": k} for k in OWN_FIELDS if k not in fields)
    problems.extend({"problem": "not an own field", "field": k} for k in sorted(set(fields) - set(OWN_FIELDS)))
    values_of = doc.get("values", {})
    for where, table in (("fields", fields), ("values", values_of)):
        for key, values in sorted(table.items()):
            if len(values) != count:
                problems.append({"problem": "field length differs from count", "field": f"{where}.{key}",
                                 "length": len(values), "count": count})
    named = set(doc.get("columns", [])) | set(doc.get("category_columns", [])) | ({doc["date_column"]} if doc.get("date_column") else set())
    problems.extend({"problem": "column without values", "column": c} for c in sorted(named - set(values_of)))
    problems.extend({"problem": "id listed twice", "id": i} for i, n in Counter(ids).items() if n > 1)
    problems.extend({"problem": "unknown id", "id": i} for i in ids if i not in cell_of)
    listed = set(ids)
    problems.extend({"problem": "image missing from items.json", "id": f} for f in cell_of if f not in listed)
    cells = list(fields.get("cell", []))
    problems.extend({"problem": "cell listed twice", "cell": c} for c, n in Counter(cells).items() if n > 1)
    problems.extend(_resolved_problems(ids, cells, cell_of, row_of, config, fields))
    return _verdict(problems, {"items": len(ids), "occupied_cells": len(set(cells))},
                    f"{len(ids)} items, one per occupied cell, titles and urls resolved, version {version.id}")


def _resolved_problems(ids: list[str], cells: list[int], cell_of: dict[str, int], row_of: dict[str, dict],
                       config: CollectionConfig, fields: dict[str, list]) -> list[dict[str, Any]]:
    """Each listed item at its grid cell, with its title and url rendered from its own metadata row."""
    problems: list[dict[str, Any]] = []
    title_t, url_t = config.title_template, config.url_template
    titles, urls = fields.get("title", []), fields.get("url", [])
    for i, item_id in enumerate(ids):
        if item_id not in cell_of:
            continue
        if i < len(cells) and cells[i] != cell_of[item_id]:
            problems.append({"problem": "cell differs from the grid", "id": item_id, "cell": cells[i],
                             "grid_cell": cell_of[item_id]})
        row = row_of[item_id]
        want_title = clip(title_t.render(row).strip() or item_id.rsplit("/", 1)[-1])  # as cviz.publish.items bounds it
        want_url = viewer_url(url_t.render(row).strip())
        for what, want, got in (("title", want_title, titles[i] if i < len(titles) else None),
                                ("url", want_url, urls[i] if i < len(urls) else None)):
            if got != want:
                problems.append({"problem": f"{what} not resolved from its template", "id": item_id,
                                 "field": what, "found": got, "expected": want})
    return problems


def _verify_layout_items(storage: Storage, name: str, doc: dict[str, Any]) -> Verdict:
    from cviz.arrange.layouts import items_sha256

    ids = [e["file"] for e in _usable(storage, name)]
    grid = doc.get("grid") or {}
    cells = [int(c) for c in doc.get("cells", [])]
    cols, rows = int(grid.get("cols", 0)), int(grid.get("rows", 0))
    problems: list[dict[str, Any]] = []
    if doc.get("format") != LAYOUT_FORMAT:
        problems.append({"problem": "unknown format", "format": doc.get("format"), "expected": LAYOUT_FORMAT})
    if doc.get("items_sha256") != items_sha256(ids):
        problems.append({"problem": "built from another item list", "items_sha256": doc.get("items_sha256")})
    if len(cells) != len(ids):
        problems.append({"problem": "cell count differs from the items", "cells": len(cells), "items": len(ids)})
    for key, want in (("width", cols * int(grid.get("cell_width", 0))), ("height", rows * int(grid.get("cell_height", 0)))):
        if grid.get(key) != want:
            problems.append({"problem": f"grid {key} differs from its cells", "found": grid.get(key), "expected": want})
    problems.extend({"problem": "cell listed twice", "cell": c} for c, n in Counter(cells).items() if n > 1)
    problems.extend({"problem": "cell outside the grid", "id": i, "cell": c} for i, c in zip(ids, cells)
                    if not 0 <= c < cols * rows)
    c = np.asarray(cells[:len(ids)], dtype=np.int64)
    cx, cy = c % max(cols, 1), c // max(cols, 1)
    labelled = np.zeros(len(c), dtype=np.int64)
    for lab in doc.get("labels", []):
        x, y, w, h = (int(lab.get(k, 0)) for k in ("x", "y", "w", "h"))
        inside = (cx >= x) & (cx < x + w) & (cy >= y) & (cy < y + h)
        labelled += inside
        if int(inside.sum()) != int(lab.get("count", -1)):
            problems.append({"problem": "label count differs from the items inside it", "label": lab.get("text"),
                             "count": lab.get("count"), "inside": int(inside.sum())})
    problems.extend({"problem": "item outside every label", "id": ids[k]} for k in np.flatnonzero(labelled == 0))
    problems.extend({"problem": "item inside two labels", "id": ids[k]} for k in np.flatnonzero(labelled > 1))
    return _verdict(problems, {"items": len(ids), "occupied_cells": len(set(cells)), "labels": len(doc.get("labels", []))},
                    f"{len(ids)} items, each in one cell and one of {len(doc.get('labels', []))} labels, "
                    f"{doc.get('layout')} layout")


# -- features ---------------------------------------------------------------------------------
def verify_features(storage: Storage, name: str) -> Verdict:
    """One finite feature row per usable image (a NaN/inf row would poison PCA and t-SNE)."""
    items = _usable(storage, name)
    x = storage.read_npy(CollectionPaths(name).features)
    problems: list[dict[str, Any]] = []
    if x.ndim != 2 or x.shape[0] != len(items):
        problems.append({"problem": "row count differs from usable images", "rows": int(x.shape[0]) if x.ndim else 0,
                         "usable": len(items)})
    if x.ndim == 2:
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        problems.extend({"problem": "non-finite row", "row": int(r), "file": items[r]["file"] if r < len(items) else None}
                        for r in bad)
    return _verdict(problems, {"rows": int(x.shape[0]) if x.ndim else 0, "dimension": int(x.shape[1]) if x.ndim == 2 else 0},
                    f"{x.shape[0]} finite rows")


# -- near-duplicates --------------------------------------------------------------------------
def verify_duplicates(storage: Storage, name: str) -> Verdict:
    """The built version's duplicates.json lists no group of near-identical items (cviz.publish.duplicates).

    A WARN, not a failure: the map is right with duplicates in it, but a curator wants to see them
    (two scans of one photograph, a copy, a crop). Each group is one offending entry naming its
    files and its largest distance."""
    version = built_version(storage, name)
    if version is None:
        return _verdict([{"problem": "no built version", "file": CollectionPaths(name).mosaic}], {}, "")
    rel = CollectionPaths(name).duplicates(version.id)
    try:
        doc = storage.read_json(rel)
    except FileNotFoundError:
        return _verdict([{"problem": "duplicates.json missing", "file": rel}], {}, "")
    groups, ids = doc.get("groups") or [], doc.get("ids") or []
    distances = doc.get("max_distance") or [None] * len(groups)
    problems = [{"problem": "near-duplicates", "files": ids[g] if g < len(ids) else groups[g], "items": len(groups[g]),
                 "max_distance": distances[g] if g < len(distances) else None} for g in range(len(groups))]
    counts = {"groups": len(groups), "items_in_groups": sum(len(g) for g in groups)}
    verdict = _verdict(problems, counts, f"no near-duplicates (cosine distance <= {doc.get('threshold')})")
    if problems:
        verdict.summary = (f"{len(groups)} group{'s' if len(groups) != 1 else ''} of near-duplicates "
                           f"({counts['items_in_groups']} items; first: {', '.join(map(str, problems[0]['files']))})")
    return verdict
