"""The mosaic and its Deep Zoom pyramid, built streaming, one band of tiles at a time.

Deep Zoom (the format OpenSeadragon reads): level ``L`` of an image ``W x H`` is
``ceil(W / 2^(max-L)) x ceil(H / 2^(max-L))`` with ``max = ceil(log2(max(W, H)))``; each level is cut
into ``tile_size`` square tiles ``<L>/<col>_<row>.jpg`` (edge tiles smaller; overlap 0 here).

The full-resolution mosaic is never held whole. The `mosaic` stage renders it band by band (one
band = ``tile_size`` rows of pixels) straight into the top level's tiles; when the cell is square
and equals the tile size, each top-level tile is exactly one cell. The `dzi` stage then builds
each lower level from the one above: a band of level ``L-1`` is the 2x box reduction of two bands
of level ``L``, so at most two bands per level are in memory (a few tens of MB at 100,000 items).
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


def encode_jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return buf.getvalue()


def _cut_band(band: Image.Image, level: int, band_row: int, tile: int, folder: str) -> Iterator[tuple[str, Image.Image]]:
    for col in range(math.ceil(band.width / tile)):
        box = (col * tile, 0, min((col + 1) * tile, band.width), band.height)
        yield f"{folder}/{level}/{col}_{band_row}.jpg", band.crop(box)


@dataclass
class MosaicStats:
    tiles: int
    cells: int
    seconds: float
    preview: bytes  # JPEG of the whole mosaic, longest side <= preview_side


def render_mosaic(
    storage: Storage,
    folder: str,
    pyramid: Pyramid,
    cols: int,
    rows: int,
    cell_size: tuple[int, int],
    item_at_cell: dict[int, int],
    load_cell: Callable[[int], Image.Image],
    background: tuple[int, int, int],
    workers: int = 2,
    preview_side: int = 1024,
) -> MosaicStats:
    """Write the top pyramid level under ``folder`` (``<folder>/<max_level>/c_r.jpg``), band by band.

    ``item_at_cell`` maps a flat cell index (row * cols + col) to an item; ``load_cell(item)``
    returns that item's cell-sized image (decoding happens in ``workers`` threads).
    """
    started = time.perf_counter()
    cw, ch = cell_size
    tile = pyramid.tile_size
    top = pyramid.max_level
    scale = min(1.0, preview_side / max(pyramid.width, pyramid.height))
    preview = Image.new("RGB", (max(1, round(pyramid.width * scale)), max(1, round(pyramid.height * scale))), background)
    written = 0

    def render_cell_row(r: int) -> Image.Image:
        strip = Image.new("RGB", (cols * cw, ch), background)
        for c in range(cols):
            item = item_at_cell.get(r * cols + c)
            if item is not None:
                strip.paste(load_cell(item), (c * cw, 0))
        return strip

    n_bands = math.ceil(pyramid.height / tile)
    with ThreadPoolExecutor(max_workers=workers) as decode_pool, ThreadPoolExecutor(max_workers=4) as write_pool:
        strips = decode_pool.map(render_cell_row, range(rows))
        band = Image.new("RGB", (pyramid.width, min(tile, pyramid.height)), background)
        band_row, y_in_band = 0, 0
        pending = []
        for r, strip in enumerate(strips):
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
                    pending.append(write_pool.submit(storage.write_many, [(p, encode_jpeg(t)) for p, t in tiles], 4))
                    written += len(tiles)
                    y0 = band_row * tile
                    small = band.resize((preview.width, max(1, round(band.height * scale))), Image.Resampling.BOX)
                    preview.paste(small, (0, round(y0 * scale)))
                    band_row += 1
                    y_in_band = 0
                    if band_row < n_bands:
                        band = Image.new("RGB", (pyramid.width, min(tile, pyramid.height - band_row * tile)), background)
        for f in pending:
            f.result()
    return MosaicStats(written, len(item_at_cell), time.perf_counter() - started, encode_jpeg(preview))


@dataclass
class PyramidStats:
    levels: int
    tiles: int
    seconds: float


def build_lower_levels(storage: Storage, folder: str, pyramid: Pyramid, workers: int = 4) -> PyramidStats:
    """Build levels max-1 .. 0 from the top level's tiles, two bands in memory per level."""
    started = time.perf_counter()
    top = pyramid.max_level
    tile = pyramid.tile_size
    written = 0
    pending_band: dict[int, Image.Image] = {}  # level -> upper band of a pair, waiting for its partner
    next_row: dict[int, int] = {lv: 0 for lv in range(top + 1)}

    def read_band(level: int, band_row: int) -> Image.Image:
        w, h = pyramid.level_size(level)
        tcols, _ = pyramid.tile_grid(level)
        height = min(tile, h - band_row * tile)
        band = Image.new("RGB", (w, height))
        paths = [f"{folder}/{level}/{c}_{band_row}.jpg" for c in range(tcols)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for c, data in enumerate(pool.map(storage.read_bytes, paths)):
                with Image.open(io.BytesIO(data)) as im:
                    band.paste(im.convert("RGB"), (c * tile, 0))
        return band

    with ThreadPoolExecutor(max_workers=workers) as write_pool:
        pending = []

        def emit(level: int, band: Image.Image) -> None:
            """Write ``band`` as level ``level``'s next band, then feed it to the level below."""
            nonlocal written
            if level < top:
                tiles = list(_cut_band(band, level, next_row[level], tile, folder))
                pending.append(write_pool.submit(storage.write_many, [(p, encode_jpeg(t)) for p, t in tiles], 4))
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

        _, top_rows = pyramid.tile_grid(top)
        for r in range(top_rows):
            emit(top, read_band(top, r))
        for f in pending:
            f.result()
    return PyramidStats(top + 1, written, time.perf_counter() - started)


def expected_tiles(pyramid: Pyramid) -> Sequence[str]:
    """Every tile path (relative to ``map_files``) a complete pyramid has."""
    out = []
    for lv in range(pyramid.max_level + 1):
        tc, tr = pyramid.tile_grid(lv)
        out.extend(f"{lv}/{c}_{r}.jpg" for r in range(tr) for c in range(tc))
    return out
