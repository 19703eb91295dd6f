"""The full-resolution mosaic, written streaming as the top level of its Deep Zoom pyramid.

The mosaic is never held whole: cell rows are loaded in a thread pool (both cores; Pillow releases
the GIL while it decodes, encodes and resizes) and consumed in order. When cells are square and as
large as a tile (the default), each top-level tile *is* one cell, and a cell whose JPEG is already
cached (cviz.render.cells) is copied byte for byte: no decode, no encode; the same rows, decoded at half
size (JPEG DCT scaling), then make level max-1 too, so the `dzi` stage starts one level lower.
Otherwise the cells are pasted into bands of ``tile_size`` pixel rows and cut. Either way one
:class:`~cviz.render.tile_writer.TileWriter` writes the tiles, with a bound on what is waiting to be written.
The preview (whole mosaic, longest side 1024) is made from cells decoded at 1/8 scale.
Square cells whose side is a multiple of 4 take the block path instead (cviz.render.mosaic_blocks: levels
max..max-2, and reuse of the previous version's unchanged tiles).

Cost in N: O(N) cell reads and tile writes; memory of ``max_pending`` bands or blocks, never of
the whole mosaic (a 1,000,000-item map of 32 px cells is 32,000 px square).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from PIL import Image

from cviz.render import mosaic_blocks
from cviz.render.cells import Cell, MosaicStats
from cviz.render.dzi import Pyramid, cut_band, encode_jpeg, tile_path
from cviz.render.tile_writer import Tile, TileWriter, in_order
from cviz.storage import Storage

if TYPE_CHECKING:
    from cviz.render.tile_reuse import CellMap, Previous

MOSAIC_BACKGROUND = (17, 17, 17)  # empty cells and letterbox bars: dark, as the viewer's page


@dataclass
class _Plan:
    """How one mosaic is cut: cell tiles (cell == tile) or bands, and the preview's cell size."""
    pyramid: Pyramid
    folder: str
    cols: int
    rows: int
    cell: tuple[int, int]
    background: tuple[int, int, int]
    scale: float  # preview / mosaic
    small_cell: tuple[int, int]  # cells decoded at this size for the preview (and level max-1)
    cell_tiles: bool
    with_half: bool

    @classmethod
    def make(cls, pyramid: Pyramid, folder: str, cols: int, rows: int, cell: tuple[int, int],
             background: tuple[int, int, int], preview_side: int) -> "_Plan":
        cw, ch = cell
        scale = min(1.0, preview_side / max(pyramid.width, pyramid.height))
        small = (max(1, math.ceil(cw * scale)), max(1, math.ceil(ch * scale)))
        cell_tiles = pyramid.tile_size == cw == ch
        with_half = cell_tiles and cw % 2 == 0 and pyramid.max_level >= 1
        if with_half:  # the same decode then also gives level max-1 (cells at half size)
            small = (cw // 2, ch // 2)
        return cls(pyramid, folder, cols, rows, cell, background, scale, small, cell_tiles, with_half)

    @property
    def band_level(self) -> int | None:
        """The level the row strips are cut into bands of (None: cell tiles only)."""
        if self.cell_tiles:
            return self.pyramid.max_level - 1 if self.with_half else None
        return self.pyramid.max_level


@dataclass
class _Row:
    tiles: list[Tile]  # top-level tiles as they are (cell-tile path)
    strip: Image.Image | None  # pixels for the band level
    preview_y: int
    preview: Image.Image


def _preview_strip(plan: _Plan, r: int, cells: list[Cell | None], width: int) -> tuple[int, Image.Image]:
    sw, sh = plan.small_cell
    strip = Image.new("RGB", (plan.cols * sw, sh), plan.background)
    for c, cell in enumerate(cells):
        if cell is not None:
            px = cell.pixels(plan.small_cell)
            strip.paste(px.resize((sw, sh), Image.Resampling.BOX) if px.size != (sw, sh) else px, (c * sw, 0))
    ch = plan.cell[1]
    y0, y1 = round(r * ch * plan.scale), round((r + 1) * ch * plan.scale)
    return y0, strip.resize((width, max(1, y1 - y0)), Image.Resampling.BOX)


def _strip(plan: _Plan, cells: list[Cell | None], size: tuple[int, int]) -> Image.Image:
    """The row's cells side by side at ``size`` (the full cell, or half of it for level max-1)."""
    w, h = size
    strip = Image.new("RGB", (plan.cols * w, h), plan.background)
    for c, cell in enumerate(cells):
        if cell is None:
            continue
        if size == plan.cell:
            px = cell.pixels()
        else:
            px = cell.small if cell.small is not None else cell.pixels(size)
            if px.size != size:
                px = px.resize(size, Image.Resampling.BOX)
        strip.paste(px, (c * w, 0))
    return strip


def _render_row(plan: _Plan, r: int, cells: list[Cell | None], empty: bytes | None, preview_width: int) -> _Row:
    tiles: list[Tile] = []
    strip = None
    if plan.cell_tiles:
        top = plan.pyramid.max_level
        for c, cell in enumerate(cells):
            data = empty if cell is None else cell.data if cell.data is not None else encode_jpeg(cell.image)
            tiles.append((tile_path(top, c, r, plan.folder), data))
        if plan.with_half:
            strip = _strip(plan, cells, (plan.cell[0] // 2, plan.cell[1] // 2))
    else:
        strip = _strip(plan, cells, plan.cell)
    y0, preview = _preview_strip(plan, r, cells, preview_width)
    return _Row(tiles, strip, y0, preview)


class _BandCutter:
    """Collects full-width row strips into bands of ``tile_size`` pixel rows of one level and cuts
    each full band into tiles (cell rows and tile bands need not align: non-square cells)."""

    def __init__(self, pyramid: Pyramid, level: int, folder: str, background: tuple[int, int, int],
                 chunks: int) -> None:
        self.pyramid, self.level, self.folder, self.background = pyramid, level, folder, background
        self.width, self.height = pyramid.level_size(level)
        self.chunks = max(1, chunks)
        self.row, self.y = 0, 0
        self.band = self._new_band()

    def _new_band(self) -> Image.Image:
        tile = self.pyramid.tile_size
        return Image.new("RGB", (self.width, max(1, min(tile, self.height - self.row * tile))), self.background)

    def add(self, strip: Image.Image) -> Iterator[list[tuple[str, Image.Image]]]:
        """Paste ``strip`` below what is there; yield the tiles of each band it completes, in chunks."""
        y = 0
        while y < strip.height:
            take = min(strip.height - y, self.band.height - self.y)
            self.band.paste(strip.crop((0, y, strip.width, y + take)), (0, self.y))
            y += take
            self.y += take
            if self.y == self.band.height:
                tiles = list(cut_band(self.band, self.level, self.row, self.pyramid.tile_size, self.folder))
                step = max(1, math.ceil(len(tiles) / self.chunks))
                yield from (tiles[k:k + step] for k in range(0, len(tiles), step))
                self.row, self.y = self.row + 1, 0
                self.band = self._new_band()


def render_mosaic(
    storage: Storage,
    folder: str,
    pyramid: Pyramid,
    cols: int,
    rows: int,
    cell_size: tuple[int, int],
    item_at_cell: dict[int, int],
    load_cell: Callable[[int, tuple[int, int]], Cell],
    background: tuple[int, int, int],
    workers: int = 2,
    preview_side: int = 1024,
    max_pending: int | None = None,
    cells: "CellMap | None" = None,
    previous: "Previous | None" = None,
) -> MosaicStats:
    """Write the top pyramid level under ``folder`` (``<folder>/<max_level>/c_r.jpg``), and level
    max-1 on the cell-tile path.

    ``item_at_cell`` maps a flat cell index (row * cols + col) to an item; ``load_cell(item,
    preview_cell_size)`` returns that item's cell (called from ``workers`` threads).
    ``max_pending``: batches of tiles waiting to be written at most (TileWriter's default).
    Square cells as large as a tile (a multiple of 4): levels max..max-2, block by block, tiles that
    ``cells`` and ``previous`` show unchanged linked from ``previous`` (cviz.render.mosaic_blocks).
    """
    if mosaic_blocks.applies(pyramid, cell_size):
        return mosaic_blocks.render_top_levels(storage, folder, pyramid, cols, rows, item_at_cell, load_cell,
                                               background, workers, preview_side, max_pending, cells, previous)
    plan = _Plan.make(pyramid, folder, cols, rows, cell_size, background, preview_side)
    scale = plan.scale
    preview = Image.new("RGB", (max(1, round(pyramid.width * scale)), max(1, round(pyramid.height * scale))), background)
    side = pyramid.tile_size
    empty = encode_jpeg(Image.new("RGB", (side, side), background)) if plan.cell_tiles else None

    def row(r: int) -> _Row:
        items = (item_at_cell.get(r * cols + c) for c in range(cols))
        cells = [load_cell(i, plan.small_cell) if i is not None else None for i in items]
        return _render_row(plan, r, cells, empty, preview.width)

    level = plan.band_level
    with TileWriter(storage, workers, max_pending) as writer, ThreadPoolExecutor(max_workers=workers) as pool:
        bands = _BandCutter(pyramid, level, folder, background, 2 * workers) if level is not None else None
        for out in in_order(pool, row, range(rows), 4 * workers):
            preview.paste(out.preview, (0, out.preview_y))
            writer.put(out.tiles)
            if bands is not None and out.strip is not None:
                for chunk in bands.add(out.strip):
                    writer.put(chunk)
    lowest = pyramid.max_level - 1 if plan.with_half else pyramid.max_level
    return MosaicStats(writer.written, encode_jpeg(preview), lowest)
