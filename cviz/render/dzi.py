"""The Deep Zoom format (what OpenSeadragon reads): the pyramid's geometry, its XML, its tile paths.

Level ``L`` of an image ``W x H`` is ``ceil(W / 2^(max-L)) x ceil(H / 2^(max-L))`` with
``max = ceil(log2(max(W, H)))``; each level is cut into ``tile_size`` square tiles
``<name>_files/<L>/<col>_<row>.<format>`` (edge tiles smaller; overlap 0 here). Reference:
Microsoft, "Deep Zoom file format overview" (DZI schema ``http://schemas.microsoft.com/deepzoom/2008``).
Tiles are baseline JPEG (:func:`encode_jpeg`).

Cost in N: tiling is O(N) over all levels; :func:`expected_tiles` lists O(N / tile^2) names.
"""

from __future__ import annotations

import io
import math
import posixpath
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

from PIL import Image

from cviz.paths import tile_rel

JPEG_QUALITY = 85
DZI_NS = "{http://schemas.microsoft.com/deepzoom/2008}"


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

    def tile_box_size(self, level: int, col: int, row: int) -> tuple[int, int]:
        """Pixel size of tile (col, row) of ``level``: ``tile_size`` square except at the edges."""
        w, h = self.level_size(level)
        return min(self.tile_size, w - col * self.tile_size), min(self.tile_size, h - row * self.tile_size)

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


def tile_path(level: int, col: int, row: int, folder: str = "", fmt: str = "jpg") -> str:
    """The one builder of a tile's path: ``<folder>/<level>/<col>_<row>.<fmt>`` (relative to the
    pyramid's ``_files`` folder when ``folder`` is empty)."""
    rel = tile_rel(level, col, row, fmt)  # the one tile-path f-string lives in cviz/paths.py
    return f"{folder}/{rel}" if folder else rel


def files_folder(dzi_path: str) -> str:
    """The tiles folder a ``.dzi`` names implicitly: ``map.dzi`` -> ``map_files``."""
    return posixpath.splitext(dzi_path)[0] + "_files"


def read_dzi(data: bytes) -> Pyramid:
    """Parse a ``.dzi`` (ValueError/ET.ParseError/TypeError on a malformed one)."""
    root = ET.fromstring(data)
    size = root.find(f"{DZI_NS}Size")
    if size is None:
        raise ValueError("no <Size> element")
    return Pyramid(int(size.get("Width")), int(size.get("Height")), int(root.get("TileSize")),
                   int(root.get("Overlap", 0)), root.get("Format", "jpg"))


def choose_tile_size(cell_w: int, cell_h: int) -> int:
    """Cell-sized tiles when cells are square (top-level tiles are then the cells themselves)."""
    return cell_w if cell_w == cell_h and cell_w >= 64 else 256


def expected_tiles(pyramid: Pyramid) -> Sequence[str]:
    """Every tile path (relative to ``map_files``) a complete pyramid has."""
    out = []
    for lv in range(pyramid.max_level + 1):
        tc, tr = pyramid.tile_grid(lv)
        out.extend(tile_path(lv, c, r, fmt=pyramid.format) for r in range(tr) for c in range(tc))
    return out


def cut_band(band: Image.Image, level: int, band_row: int, tile: int, folder: str) -> Iterator[tuple[str, Image.Image]]:
    """The tiles of one band (a full-width strip ``tile`` rows high, or less at the bottom)."""
    for col in range(math.ceil(band.width / tile)):
        box = (col * tile, 0, min((col + 1) * tile, band.width), band.height)
        yield tile_path(level, col, band_row, folder), band.crop(box)


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
