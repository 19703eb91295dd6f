"""The mosaic and its Deep Zoom pyramid, built streaming, one band of tiles at a time.

Deep Zoom (the format OpenSeadragon reads): level ``L`` of an image ``W x H`` is
``ceil(W / 2^(max-L)) x ceil(H / 2^(max-L))`` with ``max = ceil(log2(max(W, H)))``; each level is cut
into ``tile_size`` square tiles ``<L>/<col>_<row>.jpg`` (edge tiles smaller; overlap 0 here).

The full-resolution mosaic is never held whole. The `mosaic` stage writes the top level's tiles,
one cell row at a time (both cores: rows run in a thread pool; Pillow releases the GIL while it
decodes, encodes and resizes). When cells are square and as large as a tile (the default), each
top-level tile *is* one cell, and a cell whose JPEG is already cached (cviz.thumbs) is copied
byte for byte: no decode, no encode. Otherwise the cells are pasted into bands of ``tile_size``
pixel rows and cut. The preview (whole mosaic, longest side 1024) is made from cells decoded at
1/8 scale (JPEG DCT scaling), so it costs almost nothing.

The `dzi` stage then builds each lower level from the one above: a band of level ``L-1`` is the 2x
reduction of two bands of level ``L``, so at most two bands per level are in memory (a few tens of
MB at 100,000 items). The first step (top to max-1) decodes the top tiles directly at half size
(JPEG DCT scaling), which halves the decode work and replaces the reduction.
"""

from __future__ import annotations

import io
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, Sequence

from PIL import Image

from cviz.storage import Storage

JPEG_QUALITY = 85
FULL_CHROMA_BELOW = 3  # levels max-3 and lower (cells of 1/8 size or less, 1/64 of the tiles): 4:4:4


@dataclass(frozen=True)
class Pyramid:
    width: int
    height: int
    tile_size: int
    overlap: int = 0
    format: str = "jpg"

    @property
    def max_level(self) -> int:
        return max(0, math.ceil(math.log2(max(self.width, self.height))))

    def level_size(self, level: int) -> tuple[int, int]:
        scale = 2 ** (self.max_level - level)
        return math.ceil(self.width / scale), math.ceil(self.height / scale)

    def tile_grid(self, level: int) -> tuple[int, int]:
        w, h = self.level_size(level)
        return math.ceil(w / self.tile_size), math.ceil(h / self.tile_size)

    def tile_count(self) -> int:
        return sum(c * r for c, r in (self.tile_grid(lv) for lv in range(self.max_level + 1)))

    def xml(self) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="{self.format}" '
            f'Overlap="{self.overlap}" TileSize="{self.tile_size}">\n'
            f'  <Size Width="{self.width}" Height="{self.height}"/>\n'
            "</Image>\n"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def choose_tile_size(cell_w: int, cell_h: int) -> int:
    """Cell-sized tiles when cells are square (top-level tiles are then the cells themselves)."""
    return cell_w if cell_w == cell_h and cell_w >= 64 else 256


def encode_jpeg(img: Image.Image, full_chroma: bool = False) -> bytes:
    """Baseline JPEG, quality 85, no Huffman optimisation (it costs a second pass for ~5%).

    ``full_chroma`` keeps colour at full resolution (4:4:4). Default 4:2:0 halves colour
    resolution, invisible within a photo but not on the zoomed-out levels, where every pixel
    is a different item: there 2x2 neighbours' colours would be averaged together.
    """
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=False, subsampling=0 if full_chroma else 2)
    return buf.getvalue()


def decode_jpeg(data: bytes, at_least: tuple[int, int] | None = None) -> Image.Image:
    """Decode to RGB; with ``at_least``, at the smallest DCT scale (1/2..1/8) still that large."""
    with Image.open(io.BytesIO(data)) as im:
        if at_least is not None:
            im.draft("RGB", at_least)
        return im.convert("RGB")


def read_small_file(storage: Storage, rel: str) -> bytes:
    """``storage.read_bytes`` with a plain ``open()`` for a local root: at 100,000 tiles fsspec's
    per-call overhead (about 0.15 ms) is a sizeable share of the work."""
    if storage.local:
        with open(storage.path(rel), "rb") as f:
            return f.read()
    return storage.read_bytes(rel)


def _cut_band(band: Image.Image, level: int, band_row: int, tile: int, folder: str) -> Iterator[tuple[str, Image.Image]]:
    for col in range(math.ceil(band.width / tile)):
        box = (col * tile, 0, min((col + 1) * tile, band.width), band.height)
        yield f"{folder}/{level}/{col}_{band_row}.jpg", band.crop(box)


@dataclass
class Cell:
    """One item's cell: its JPEG (when cached) and/or its decoded pixels; data or image is set.

    ``small`` optionally carries the cell already decoded at preview size (a cached cell is
    validated by exactly that cheap 1/8-scale decode, so the preview reuses it).
    """

    data: bytes | None = None
    image: Image.Image | None = None
    small: Image.Image | None = None

    def pixels(self, at_least: tuple[int, int] | None = None) -> Image.Image:
        if at_least is not None and self.small is not None:
            return self.small
        if self.image is not None:
            return self.image
        assert self.data is not None
        return decode_jpeg(self.data, at_least)


@dataclass
class MosaicStats:
    tiles: int
    cells: int
    seconds: float
    preview: bytes  # JPEG of the whole mosaic, longest side <= preview_side
    lowest_level: int  # levels lowest_level .. max_level are written (max-1 too on the cell-tile path)


def _in_order(pool: ThreadPoolExecutor, fn: Callable, items: Sequence, window: int) -> Iterator:
    """``pool.map(fn, items)`` with at most ``window`` results in flight (``map`` submits everything
    at once, so results a slower consumer has not taken yet would pile up in memory)."""
    pending: list = []
    it = iter(items)
    for x in it:
        pending.append(pool.submit(fn, x))
        if len(pending) >= window:
            break
    for x in it:
        yield pending.pop(0).result()
        pending.append(pool.submit(fn, x))
    for f in pending:
        yield f.result()


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
) -> MosaicStats:
    """Write the top pyramid level under ``folder`` (``<folder>/<max_level>/c_r.jpg``).

    ``item_at_cell`` maps a flat cell index (row * cols + col) to an item; ``load_cell(item,
    preview_cell_size)`` returns that item's cell (called from ``workers`` threads).
    """
    started = time.perf_counter()
    cw, ch = cell_size
    tile = pyramid.tile_size
    top = pyramid.max_level
    scale = min(1.0, preview_side / max(pyramid.width, pyramid.height))
    preview = Image.new("RGB", (max(1, round(pyramid.width * scale)), max(1, round(pyramid.height * scale))), background)
    # Cells for the preview are decoded at 1/2..1/8 scale: just large enough for their preview size.
    small_cell = (max(1, math.ceil(cw * scale)), max(1, math.ceil(ch * scale)))
    cell_tiles = tile == cw == ch
    with_half = cell_tiles and tile % 2 == 0 and top >= 1
    if with_half:  # the same decode then also gives level max-1 (cells at half size)
        small_cell = (cw // 2, ch // 2)

    def preview_strip(r: int, cells: list[Cell | None]) -> tuple[int, Image.Image]:
        sw, sh = small_cell
        strip = Image.new("RGB", (cols * sw, sh), background)
        for c, cell in enumerate(cells):
            if cell is not None:
                px = cell.pixels(small_cell)
                strip.paste(px.resize((sw, sh), Image.Resampling.BOX) if px.size != (sw, sh) else px, (c * sw, 0))
        y0, y1 = round(r * ch * scale), round((r + 1) * ch * scale)
        return y0, strip.resize((preview.width, max(1, y1 - y0)), Image.Resampling.BOX)

    def load(item: int) -> Cell:
        return load_cell(item, small_cell)

    if cell_tiles:
        written = _render_cell_tiles(storage, folder, pyramid, cols, rows, item_at_cell, load, background,
                                     workers, preview, preview_strip, with_half)
    else:
        written = _render_bands(storage, folder, pyramid, cols, rows, cell_size, item_at_cell, load,
                                background, workers, preview, preview_strip)
    lowest = top - 1 if with_half else top
    return MosaicStats(written, len(item_at_cell), time.perf_counter() - started, encode_jpeg(preview), lowest)


def _render_cell_tiles(storage: Storage, folder: str, pyramid: Pyramid, cols: int, rows: int,
                       item_at_cell: dict[int, int], load_cell: Callable[[int], Cell],
                       background: tuple[int, int, int], workers: int, preview: Image.Image,
                       preview_strip: Callable, with_half: bool) -> int:
    """Top level when tile == cell: tile (c, r) is cell (c, r); cached JPEGs are copied as they are.

    ``with_half``: cells come decoded at half size (JPEG DCT scaling, ``Cell.small``), and pairs
    of cell rows make the bands of level max-1, written here too, so the dzi stage starts from
    that level instead of reading and decoding every top-level tile again.
    """
    side = pyramid.tile_size
    top = pyramid.max_level
    half = side // 2
    empty = encode_jpeg(Image.new("RGB", (side, side), background))

    def row(r: int) -> tuple[tuple[int, Image.Image], Image.Image | None]:
        cells: list[Cell | None] = []
        out = []
        half_strip = Image.new("RGB", (cols * half, half), background) if with_half else None
        for c in range(cols):
            item = item_at_cell.get(r * cols + c)
            cell = load_cell(item) if item is not None else None
            cells.append(cell)
            if cell is None:
                data = empty
            elif cell.data is not None:
                data = cell.data
            else:
                data = encode_jpeg(cell.image)
            out.append((f"{folder}/{top}/{c}_{r}.jpg", data))
            if half_strip is not None and cell is not None:
                px = cell.small if cell.small is not None else cell.pixels((half, half))
                if px.size != (half, half):
                    px = px.resize((half, half), Image.Resampling.BOX)
                half_strip.paste(px, (c * half, 0))
        if storage.local:
            for path, data in out:
                storage.write_bytes(path, data)
        else:
            storage.write_many(out, 8)
        return preview_strip(r, cells), half_strip

    def encode_and_write(tiles: list[tuple[str, Image.Image]]) -> None:
        storage.write_many([(p, encode_jpeg(t)) for p, t in tiles], 4)

    written = cols * rows
    with ThreadPoolExecutor(max_workers=workers) as pool, ThreadPoolExecutor(max_workers=workers) as write_pool:
        pending = []
        upper: Image.Image | None = None
        band_row = 0

        def flush(band: Image.Image) -> None:
            nonlocal written, band_row
            tiles = list(_cut_band(band, top - 1, band_row, side, folder))
            step = max(1, math.ceil(len(tiles) / (2 * workers)))
            pending.extend(write_pool.submit(encode_and_write, tiles[k:k + step]) for k in range(0, len(tiles), step))
            written += len(tiles)
            band_row += 1

        for r, ((y0, strip), half_strip) in enumerate(_in_order(pool, row, range(rows), 4 * workers)):
            preview.paste(strip, (0, y0))
            if half_strip is None:
                continue
            if upper is None:
                upper = half_strip
                continue
            band = Image.new("RGB", (half_strip.width, 2 * half))
            band.paste(upper, (0, 0))
            band.paste(half_strip, (0, half))
            upper = None
            flush(band)
            if len(pending) > 64:  # bound the encoded-but-unwritten backlog
                for f in pending[:32]:
                    f.result()
                del pending[:32]
        if upper is not None:  # odd number of cell rows: the last band of level max-1 is half a tile
            flush(upper)
        for f in pending:
            f.result()
    return written


def _render_bands(storage: Storage, folder: str, pyramid: Pyramid, cols: int, rows: int,
                  cell_size: tuple[int, int], item_at_cell: dict[int, int], load_cell: Callable[[int], Cell],
                  background: tuple[int, int, int], workers: int, preview: Image.Image,
                  preview_strip: Callable) -> int:
    """Top level for any cell and tile size: cell rows pasted into bands of tile rows, then cut."""
    cw, ch = cell_size
    tile = pyramid.tile_size
    top = pyramid.max_level
    written = 0

    def render_cell_row(r: int) -> tuple[Image.Image, tuple[int, Image.Image]]:
        strip = Image.new("RGB", (cols * cw, ch), background)
        cells: list[Cell | None] = []
        for c in range(cols):
            item = item_at_cell.get(r * cols + c)
            cell = load_cell(item) if item is not None else None
            cells.append(cell)
            if cell is not None:
                strip.paste(cell.pixels(), (c * cw, 0))
        return strip, preview_strip(r, cells)

    def encode_and_write(tiles: list[tuple[str, Image.Image]]) -> None:
        storage.write_many([(p, encode_jpeg(t)) for p, t in tiles], 4)

    n_bands = math.ceil(pyramid.height / tile)
    with ThreadPoolExecutor(max_workers=workers) as decode_pool, ThreadPoolExecutor(max_workers=workers) as write_pool:
        strips = _in_order(decode_pool, render_cell_row, range(rows), 4 * workers)
        band = Image.new("RGB", (pyramid.width, min(tile, pyramid.height)), background)
        band_row, y_in_band = 0, 0
        pending = []
        for r, (strip, (py0, pstrip)) in enumerate(strips):
            preview.paste(pstrip, (0, py0))
            # Cell rows and tile bands need not align (non-square cells): copy the strip's pixel rows
            # into as many bands as it spans.
            y = 0
            while y < ch:
                take = min(ch - y, band.height - y_in_band)
                band.paste(strip.crop((0, y, strip.width, y + take)), (0, y_in_band))
                y += take
                y_in_band += take
                if y_in_band == band.height:
                    tiles = list(_cut_band(band, top, band_row, tile, folder))
                    pending.append(write_pool.submit(encode_and_write, tiles))
                    written += len(tiles)
                    band_row += 1
                    y_in_band = 0
                    if band_row < n_bands:
                        band = Image.new("RGB", (pyramid.width, min(tile, pyramid.height - band_row * tile)), background)
        for f in pending:
            f.result()
    return written


@dataclass
class PyramidStats:
    levels: int
    tiles: int
    seconds: float


def build_lower_levels(storage: Storage, folder: str, pyramid: Pyramid, workers: int = 2,
                       start_level: int | None = None) -> PyramidStats:
    """Build the levels below ``start_level`` (default: the top) from its tiles, down to level 0,
    two bands in memory per level."""
    started = time.perf_counter()
    top = pyramid.max_level
    start = top if start_level is None else start_level
    tile = pyramid.tile_size
    written = 0
    pending_band: dict[int, Image.Image] = {}  # level -> upper band of a pair, waiting for its partner
    next_row: dict[int, int] = {lv: 0 for lv in range(top + 1)}
    half_decode = tile % 2 == 0  # DCT half-scale decode lands each tile on whole pixels

    def read_tile(path: str, at_least: tuple[int, int] | None) -> Image.Image:
        return decode_jpeg(read_small_file(storage, path), at_least)

    def read_top_band_half(band_row: int, pool: ThreadPoolExecutor) -> Image.Image:
        """Band ``band_row`` of level max-1, decoded at half scale from top bands 2r and 2r+1."""
        w, h = pyramid.level_size(top - 1)
        tcols, trows = pyramid.tile_grid(top)
        tw, th = pyramid.level_size(top)
        height = min(tile, h - band_row * tile)
        band = Image.new("RGB", (w, height))
        jobs = []
        for half, tr in enumerate((2 * band_row, 2 * band_row + 1)):
            if tr >= trows:
                break
            for c in range(tcols):
                full = (min(tile, tw - c * tile), min(tile, th - tr * tile))
                want = (math.ceil(full[0] / 2), math.ceil(full[1] / 2))
                jobs.append(((c * tile // 2, half * tile // 2), want, f"{folder}/{top}/{c}_{tr}.jpg"))
        images = pool.map(lambda j: read_tile(j[2], j[1]), jobs)
        for (pos, want, _), im in zip(jobs, images):
            band.paste(im if im.size == want else im.resize(want, Image.Resampling.BOX), pos)
        return band

    def read_band(level: int, band_row: int, pool: ThreadPoolExecutor) -> Image.Image:
        w, h = pyramid.level_size(level)
        tcols, _ = pyramid.tile_grid(level)
        height = min(tile, h - band_row * tile)
        band = Image.new("RGB", (w, height))
        paths = [f"{folder}/{level}/{c}_{band_row}.jpg" for c in range(tcols)]
        for c, im in enumerate(pool.map(lambda p: read_tile(p, None), paths)):
            band.paste(im, (c * tile, 0))
        return band

    def encode_and_write(tiles: list[tuple[str, Image.Image]], full_chroma: bool) -> None:
        storage.write_many([(p, encode_jpeg(t, full_chroma)) for p, t in tiles], 4)

    with ThreadPoolExecutor(max_workers=workers) as write_pool, ThreadPoolExecutor(max_workers=workers) as read_pool:
        pending = []

        def emit(level: int, band: Image.Image) -> None:
            """Write ``band`` as level ``level``'s next band, then feed it to the level below."""
            nonlocal written
            if level < start:
                # Cut into ~4 chunks per band so both cores encode while the next band is read.
                tiles = list(_cut_band(band, level, next_row[level], tile, folder))
                step = max(1, math.ceil(len(tiles) / (2 * workers)))
                for k in range(0, len(tiles), step):
                    pending.append(write_pool.submit(encode_and_write, tiles[k:k + step], level <= top - FULL_CHROMA_BELOW))
                written += len(tiles)
            next_row[level] += 1
            if level == 0:
                return
            _, rows_here = pyramid.tile_grid(level)
            if level in pending_band:
                upper = pending_band.pop(level)
                pair = Image.new("RGB", (band.width, upper.height + band.height))
                pair.paste(upper, (0, 0))
                pair.paste(band, (0, upper.height))
                emit(level - 1, pair.reduce(2))
            elif next_row[level] == rows_here:
                emit(level - 1, band.reduce(2))  # last, unpaired band
            else:
                pending_band[level] = band

        if start == 0:
            pass
        elif start < top:
            _, start_rows = pyramid.tile_grid(start)
            for r in range(start_rows):
                emit(start, read_band(start, r, read_pool))
        elif half_decode:
            next_row[top] = pyramid.tile_grid(top)[1]
            _, rows_below = pyramid.tile_grid(top - 1)
            for r in range(rows_below):
                emit(top - 1, read_top_band_half(r, read_pool))
                if len(pending) > 64:  # bound the encoded-but-unwritten backlog
                    for f in pending[:32]:
                        f.result()
                    del pending[:32]
        else:
            _, top_rows = pyramid.tile_grid(top)
            for r in range(top_rows):
                emit(top, read_band(top, r, read_pool))
        for f in pending:
            f.result()
    return PyramidStats(top + 1, written, time.perf_counter() - started)  # written: levels < start only


def expected_tiles(pyramid: Pyramid) -> Sequence[str]:
    """Every tile path (relative to ``map_files``) a complete pyramid has."""
    out = []
    for lv in range(pyramid.max_level + 1):
        tc, tr = pyramid.tile_grid(lv)
        out.extend(f"{lv}/{c}_{r}.jpg" for r in range(tr) for c in range(tc))
    return out
