"""The three top pyramid levels of a cell-tile mosaic, built block by block, reusing what is unchanged.

When cells are square tiles whose side is a multiple of 4, one tile of level max-2 covers a block of
4 x 4 cells, and the block is all its three top levels need: level max is the cells themselves
(cached JPEGs copied byte for byte), a level max-1 tile is its 2 x 2 cells decoded at half size
(JPEG DCT scaling; empty cells are background), and the level max-2 tile is ``Image.reduce(2)`` of
its four max-1 tiles' pixels (before any JPEG encoding). The `dzi` stage then starts at max-2, with
a sixteenth of the tiles to read.

With a previous version (:class:`cviz.render.tile_reuse.Previous`), a tile that shows what the previous
version's tile showed is linked from it (``Storage.link_many``), not made: a block whose max-2 tile
is unchanged costs no cell read at all; a changed block half-decodes all its cells (its max-2 tile
needs every child's pixels). With no previous version every tile is made: one code path.
The preview is drawn from the written tiles of the smallest of these levels that is large enough,
decoded at a reduced DCT scale, so an update's preview is the same as a full render's.

Cost in N: O(N) (each cell is read once, each tile written once); memory of one block row.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from PIL import Image

from cviz.render.cells import Cell, MosaicStats
from cviz.render.dzi import Pyramid, decode_jpeg, encode_jpeg, tile_path
from cviz.render.tile_writer import Link, Tile, TileWriter, in_order
from cviz.storage import Storage

if TYPE_CHECKING:
    from cviz.render.tile_reuse import CellMap, Previous


def applies(pyramid: Pyramid, cell: tuple[int, int]) -> bool:
    """Cells are square tiles halving twice into whole pixels (else: cviz.render.mosaic's band path)."""
    return pyramid.tile_size == cell[0] == cell[1] and cell[0] % 4 == 0 and pyramid.max_level >= 2


def half_pixels(cell: Cell, size: tuple[int, int]) -> Image.Image:
    """The cell at half size: its JPEG decoded at 1/2 DCT scale (the loader's ``small`` is exactly
    that), so the pixels depend on the cell's bytes only, whether it was cached or just made."""
    px = cell.small if cell.small is not None and cell.small.size == size else None
    if px is None:
        px = decode_jpeg(cell.data, size) if cell.data is not None else cell.image
    return px if px.size == size else px.resize(size, Image.Resampling.BOX)


@dataclass
class _Blocks:
    pyramid: Pyramid
    folder: str
    cols: int
    rows: int
    item_at_cell: dict[int, int]
    load_cell: Callable[[int, tuple[int, int]], Cell]
    background: tuple[int, int, int]
    cells: "CellMap | None"
    previous: "Previous | None"

    def __post_init__(self) -> None:
        self.top, self.side = self.pyramid.max_level, self.pyramid.tile_size
        self.half = (self.side // 2, self.side // 2)
        self.empty = encode_jpeg(Image.new("RGB", (self.side, self.side), self.background))

    def same(self, depth: int, col: int, row: int) -> bool:
        return (self.previous is not None and self.cells is not None
                and self.previous.same_tile(self.cells, depth, col, row))

    def link(self, depth: int, col: int, row: int) -> Tile:
        assert self.previous is not None
        return tile_path(self.top - depth, col, row, self.folder), Link(self.previous.tile(depth, col, row))

    def span(self, depth: int, col: int, row: int, child_depth: int) -> list[tuple[int, int]]:
        """The tiles ``child_depth`` levels below the top inside tile (col, row) of depth ``depth``."""
        k = 1 << (depth - child_depth)
        tc, tr = self.pyramid.tile_grid(self.top - child_depth)
        return [(x, y) for y in range(row * k, min((row + 1) * k, tr)) for x in range(col * k, min((col + 1) * k, tc))]

    def block(self, at: tuple[int, int]) -> list[Tile]:
        """Every tile of block ``at`` (a level max-2 tile): linked where unchanged, else made."""
        bc, br = at
        if self.same(2, bc, br):
            return [self.link(d, x, y) for d in (0, 1) for x, y in self.span(2, bc, br, d)] + [self.link(2, bc, br)]
        cells: dict[tuple[int, int], Cell | None] = {}
        tiles: list[Tile] = []
        for x, y in self.span(2, bc, br, 0):
            i = self.item_at_cell.get(y * self.cols + x)
            cell = cells[(x, y)] = self.load_cell(i, self.half) if i is not None else None
            if self.same(0, x, y):
                tiles.append(self.link(0, x, y))
            else:
                data = self.empty if cell is None else cell.data if cell.data is not None else encode_jpeg(cell.image)
                tiles.append((tile_path(self.top, x, y, self.folder), data))
        w, h = self.pyramid.tile_box_size(self.top - 2, bc, br)
        four = Image.new("RGB", (2 * w, 2 * h), self.background)
        for x, y in self.span(2, bc, br, 1):
            half = self.half_tile(cells, x, y)
            four.paste(half, ((x - 2 * bc) * self.side, (y - 2 * br) * self.side))
            tiles.append(self.link(1, x, y) if self.same(1, x, y) else (tile_path(self.top - 1, x, y, self.folder), half))
        tiles.append((tile_path(self.top - 2, bc, br, self.folder), four.reduce(2)))
        return tiles

    def half_tile(self, cells: dict[tuple[int, int], Cell | None], col: int, row: int) -> Image.Image:
        """Level max-1 tile (col, row): its 2 x 2 cells at half size on the background."""
        tile = Image.new("RGB", self.pyramid.tile_box_size(self.top - 1, col, row), self.background)
        for x, y in self.span(1, col, row, 0):
            cell = cells[(x, y)]
            if cell is not None:
                tile.paste(half_pixels(cell, self.half), ((x - 2 * col) * self.half[0], (y - 2 * row) * self.half[1]))
        return tile


def preview_size(pyramid: Pyramid, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(pyramid.width, pyramid.height))
    return max(1, round(pyramid.width * scale)), max(1, round(pyramid.height * scale))


def preview_from_tiles(storage: Storage, folder: str, pyramid: Pyramid, lowest: int, size: tuple[int, int],
                       workers: int = 2) -> bytes:
    """The preview (``size``) from the written tiles of the smallest level from ``lowest`` up that is
    at least that large, each decoded at the smallest DCT scale that keeps it so (cheap decodes)."""
    top = pyramid.max_level
    level = next((lv for lv in range(lowest, top + 1)
                  if all(a >= b for a, b in zip(pyramid.level_size(lv), size))), top)
    (lw, lh), side = pyramid.level_size(level), pyramid.tile_size
    k = next(k for k in (8, 4, 2, 1) if side % k == 0 and math.ceil(lw / k) >= size[0] and math.ceil(lh / k) >= size[1])
    canvas = Image.new("RGB", (math.ceil(lw / k), math.ceil(lh / k)))
    tc, tr = pyramid.tile_grid(level)
    jobs = [(c, r) for r in range(tr) for c in range(tc)]

    def load(job: tuple[int, int]) -> Image.Image:
        bw, bh = pyramid.tile_box_size(level, *job)
        want = (math.ceil(bw / k), math.ceil(bh / k))
        im = decode_jpeg(storage.read_bytes(tile_path(level, *job, folder)), want)
        return im if im.size == want else im.resize(want, Image.Resampling.BOX)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for (c, r), im in zip(jobs, in_order(pool, load, jobs, 8 * max(1, workers))):
            canvas.paste(im, (c * side // k, r * side // k))
    if canvas.size != tuple(size):
        canvas = canvas.resize(size, Image.Resampling.BOX)
    return encode_jpeg(canvas)


def render_top_levels(storage: Storage, folder: str, pyramid: Pyramid, cols: int, rows: int,
                      item_at_cell: dict[int, int], load_cell: Callable[[int, tuple[int, int]], Cell],
                      background: tuple[int, int, int], workers: int = 2, preview_side: int = 1024,
                      max_pending: int | None = None, cells: "CellMap | None" = None,
                      previous: "Previous | None" = None) -> MosaicStats:
    """Levels max, max-1 and max-2 under ``folder``, block row by block row, then the preview."""
    blocks = _Blocks(pyramid, folder, cols, rows, item_at_cell, load_cell, background, cells, previous)
    tc, tr = pyramid.tile_grid(pyramid.max_level - 2)
    order = [(bc, br) for br in range(tr) for bc in range(tc)]
    with TileWriter(storage, workers, max_pending) as writer, ThreadPoolExecutor(max_workers=workers) as pool:
        for tiles in in_order(pool, blocks.block, order, 4 * workers):
            writer.put(tiles)
    lowest = pyramid.max_level - 2
    preview = preview_from_tiles(storage, folder, pyramid, lowest, preview_size(pyramid, preview_side), workers)
    return MosaicStats(writer.written, preview, lowest, writer.linked)
