"""The lower levels of a Deep Zoom pyramid, each built from the level above, streaming.

A band of level ``L-1`` is the 2x reduction (``Image.reduce(2)``, a box filter) of two bands of
level ``L``, so at most two bands per level are in memory (a few tens of MB at 100,000 items).
The first step (top to max-1) decodes the top tiles directly at half size (JPEG DCT scaling),
which halves the decode work and replaces the reduction. Levels ``max-3`` and below are encoded
4:4:4 (see :func:`cviz.render.dzi.encode_jpeg`).

Cost in N: each lower level is built from two bands of the one above: O(N) time over all
levels (each is a quarter of the one above), memory of two bands.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from cviz.render.dzi import Pyramid, cut_band, decode_jpeg, tile_path
from cviz.render.tile_writer import TileWriter
from cviz.storage import Storage

FULL_CHROMA_BELOW = 3  # levels max-3 and lower (cells of 1/8 size or less, 1/64 of the tiles): 4:4:4


@dataclass
class PyramidStats:
    levels: int
    tiles: int  # written by this call (levels below the start)


class _Levels:
    """Feeds bands of one level down to level 0; reads bands from storage to start."""

    def __init__(self, storage: Storage, folder: str, pyramid: Pyramid, start: int, writer: TileWriter,
                 pool: ThreadPoolExecutor, chunks: int) -> None:
        self.storage, self.folder, self.pyramid, self.start = storage, folder, pyramid, start
        self.writer, self.pool, self.chunks = writer, pool, max(1, chunks)
        self.tile = pyramid.tile_size
        self.top = pyramid.max_level
        self.waiting: dict[int, Image.Image] = {}  # level -> upper band of a pair, waiting for its partner
        self.next_row: dict[int, int] = {lv: 0 for lv in range(self.top + 1)}

    def read_tile(self, path: str, at_least: tuple[int, int] | None) -> Image.Image:
        return decode_jpeg(self.storage.read_bytes(path), at_least)

    def read_band(self, level: int, band_row: int) -> Image.Image:
        w, h = self.pyramid.level_size(level)
        tcols, _ = self.pyramid.tile_grid(level)
        band = Image.new("RGB", (w, min(self.tile, h - band_row * self.tile)))
        paths = [tile_path(level, c, band_row, self.folder) for c in range(tcols)]
        for c, im in enumerate(self.pool.map(lambda p: self.read_tile(p, None), paths)):
            band.paste(im, (c * self.tile, 0))
        return band

    def read_top_band_half(self, band_row: int) -> Image.Image:
        """Band ``band_row`` of level max-1, decoded at half scale from top bands 2r and 2r+1."""
        top, tile = self.top, self.tile
        w, h = self.pyramid.level_size(top - 1)
        tcols, trows = self.pyramid.tile_grid(top)
        band = Image.new("RGB", (w, min(tile, h - band_row * tile)))
        jobs = []
        for half, tr in enumerate((2 * band_row, 2 * band_row + 1)):
            if tr >= trows:
                break
            for c in range(tcols):
                fw, fh = self.pyramid.tile_box_size(top, c, tr)
                want = (math.ceil(fw / 2), math.ceil(fh / 2))
                jobs.append(((c * tile // 2, half * tile // 2), want, tile_path(top, c, tr, self.folder)))
        images = self.pool.map(lambda j: self.read_tile(j[2], j[1]), jobs)
        for (pos, want, _), im in zip(jobs, images):
            band.paste(im if im.size == want else im.resize(want, Image.Resampling.BOX), pos)
        return band

    def emit(self, level: int, band: Image.Image) -> None:
        """Write ``band`` as level ``level``'s next band (below ``start``), then feed the level below."""
        if level < self.start:
            tiles = list(cut_band(band, level, self.next_row[level], self.tile, self.folder))
            step = max(1, math.ceil(len(tiles) / self.chunks))  # both cores encode while the next band is read
            for k in range(0, len(tiles), step):
                self.writer.put(tiles[k:k + step], full_chroma=level <= self.top - FULL_CHROMA_BELOW)
        self.next_row[level] += 1
        if level == 0:
            return
        _, rows_here = self.pyramid.tile_grid(level)
        if level in self.waiting:
            upper = self.waiting.pop(level)
            pair = Image.new("RGB", (band.width, upper.height + band.height))
            pair.paste(upper, (0, 0))
            pair.paste(band, (0, upper.height))
            self.emit(level - 1, pair.reduce(2))
        elif self.next_row[level] == rows_here:
            self.emit(level - 1, band.reduce(2))  # last, unpaired band
        else:
            self.waiting[level] = band

    def run(self) -> None:
        top, start = self.top, self.start
        if start == 0:
            return
        if start < top or self.tile % 2:  # (an odd tile size: DCT half-scale decode misses whole pixels)
            for r in range(self.pyramid.tile_grid(start)[1]):
                self.emit(start, self.read_band(start, r))
            return
        self.next_row[top] = self.pyramid.tile_grid(top)[1]
        for r in range(self.pyramid.tile_grid(top - 1)[1]):
            self.emit(top - 1, self.read_top_band_half(r))


def build_lower_levels(storage: Storage, folder: str, pyramid: Pyramid, workers: int = 2,
                       start_level: int | None = None, max_pending: int | None = None) -> PyramidStats:
    """Build the levels below ``start_level`` (default: the top) from its tiles, down to level 0,
    two bands in memory per level. ``tiles`` counts what this wrote (levels below the start)."""
    start = pyramid.max_level if start_level is None else start_level
    with TileWriter(storage, workers, max_pending) as writer, ThreadPoolExecutor(max_workers=workers) as read_pool:
        _Levels(storage, folder, pyramid, start, writer, read_pool, 2 * workers).run()
    return PyramidStats(pyramid.max_level + 1, writer.written)
