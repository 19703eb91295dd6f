"""Which tiles of a new pyramid version are the previous version's, byte for byte.

An update (``keep_previous`` grid) leaves almost every item in its cell, so almost every tile of
the three top levels shows exactly what it showed before. Each version records, in
``<version>/cells.json``, what each grid cell shows (its item's content hash, or "" when empty)
and a *render key* (everything else a tile's bytes depend on: sizes, background, JPEG settings,
Pillow, :data:`RENDER_VERSION`). A tile ``d`` levels below the top at ``(c, r)`` covers the cells
of a ``2^d`` square; it is reused when that square, clipped to the grid, is the same in both
grids and every cell in it shows the same item. Levels are matched by depth from the top,
since the top level's number changes with the mosaic's size.

Cost in N: O(N) comparisons of cell contents per block; a hard link per unchanged tile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

import PIL

from cviz.paths import CollectionPaths
from cviz.render import cells, dzi
from cviz.storage import Storage

RENDER_VERSION = 1  # bump on any change to how the top tiles are made (cviz.render.mosaic, cviz.render.mosaic_blocks)
KEY_CHARS = 16  # of the sha256: 64 bits, no accidental collision among millions of items
REUSE_DEPTHS = 3  # the mosaic stage writes the levels max, max-1 and max-2


def render_key(tile_size: int, cell: tuple[int, int], background: tuple[int, int, int]) -> str:
    """Everything but the cells' contents that the top tiles' bytes depend on, hashed."""
    parts = [RENDER_VERSION, tile_size, list(cell), list(background), cells.CELL_QUALITY, dzi.JPEG_QUALITY,
             PIL.__version__]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def cell_content_key(sha256: str) -> str:
    """What a cell shows, as cells.json records it: a prefix of its item's content hash."""
    return sha256[:KEY_CHARS]


@dataclass(frozen=True)
class CellMap:
    """What each cell of a ``cols`` x ``rows`` grid shows (row-major keys, "" = empty) and how it was drawn."""

    cols: int
    rows: int
    keys: Sequence[str]
    render: str

    @classmethod
    def of(cls, cols: int, rows: int, item_at_cell: dict[int, int], shas: Sequence[str], render: str) -> "CellMap":
        keys = [""] * (cols * rows)
        for cell, item in item_at_cell.items():
            keys[cell] = cell_content_key(shas[item])
        return cls(cols, rows, keys, render)

    def to_json(self) -> dict[str, Any]:
        return {"format": "cviz-cells/1", "render_key": self.render, "cols": self.cols, "rows": self.rows,
                "keys": list(self.keys)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "CellMap":
        cols, rows, keys = int(doc["cols"]), int(doc["rows"]), list(doc["keys"])
        if len(keys) != cols * rows:
            raise ValueError(f"cells.json has {len(keys)} keys for {cols} x {rows} cells")
        return cls(cols, rows, keys, str(doc["render_key"]))

    def footprint(self, depth: int, col: int, row: int) -> tuple[int, int, int, int]:
        """The cells (x0, y0, x1, y1) that tile (col, row) ``depth`` levels below the top covers."""
        span = 1 << depth
        x0, y0 = col * span, row * span
        return x0, y0, min(x0 + span, self.cols), min(y0 + span, self.rows)


@dataclass(frozen=True)
class Previous:
    """The version to take unchanged tiles from: its tiles folder, top level and cells."""

    version: str
    folder: str
    max_level: int
    cells: CellMap

    def same_tile(self, new: CellMap, depth: int, col: int, row: int) -> bool:
        """True when the tile shows exactly what the previous version's tile at the same place shows."""
        old = self.cells
        box = new.footprint(depth, col, row)
        if old.footprint(depth, col, row) != box or box[0] >= box[2] or box[1] >= box[3]:
            return False
        x0, y0, x1, y1 = box
        return all(old.keys[y * old.cols + x0:y * old.cols + x1] == new.keys[y * new.cols + x0:y * new.cols + x1]
                   for y in range(y0, y1))

    def tile(self, depth: int, col: int, row: int) -> str:
        return dzi.tile_path(self.max_level - depth, col, row, self.folder)


def find_previous(storage: Storage, name: str, live: str, render: str) -> tuple[Previous | None, str]:
    """The live version ``live`` (named by ``current.json``; "" when none) when it is complete and drawn
    the same way; else None and why."""
    paths = CollectionPaths(name)
    if not live:
        return None, "no previous version"
    try:
        pyramid = dzi.read_dzi(storage.read_bytes(paths.dzi(live)))
        cell_map = CellMap.from_json(storage.read_json(paths.cells(live)))
    except FileNotFoundError:
        return None, f"previous version {live} has no map.dzi or cells.json"
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"previous version {live}: unreadable cells.json or map.dzi ({exc})"
    if cell_map.render != render:
        return None, f"render key changed since version {live}"
    return Previous(live, paths.tiles(live), pyramid.max_level, cell_map), ""
