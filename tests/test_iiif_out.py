"""IIIF out: the published map as a IIIF Image API 3.0 level-0 image. Every tile URL a IIIF client asks
for, as OpenSeadragon's IIIFTileSource builds it (ported here from openseadragon 6.1.1's
``getTileUrl`` for a version-3 service), is a linked Deep Zoom tile of the right pixel size."""

from __future__ import annotations

import math

import pytest

from cviz.publish.iiif_info import info_json, tile_links
from cviz.render.dzi import Pyramid


def osd_tile_urls(info: dict) -> set[str]:
    """The paths OpenSeadragon requests from ``info`` (IIIFTileSource.getTileUrl, version 3, level 0)."""
    width, height = info["width"], info["height"]
    tile = info["tiles"][0]["width"]
    factors = info["tiles"][0]["scaleFactors"]
    max_level = int(math.log2(max(factors)))
    out = set()
    for level in range(max_level + 1):
        scale = 2 ** (level - max_level)
        lw, lh = math.ceil(width * scale), math.ceil(height * scale)
        size_w, size_h = round(tile / scale), round(tile / scale)
        for x in range(math.ceil(lw / tile)):
            for y in range(math.ceil(lh / tile)):
                if lw < tile and lh < tile:
                    size = "max" if (lw, lh) == (width, height) else f"{lw},{lh}"
                    region = "full"
                else:
                    tx, ty = x * size_w, y * size_h
                    tw, th = min(size_w, width - tx), min(size_h, height - ty)
                    region = "full" if (x, y, tw, th) == (0, 0, width, height) else f"{tx},{ty},{tw},{th}"
                    sw, sh = min(tile, lw - x * tile), min(tile, lh - y * tile)
                    size = "max" if (sw, sh) == (width, height) else f"{sw},{sh}"
                out.add(f"{region}/{size}/0/default.jpg")
    return out


@pytest.mark.parametrize("width,height,tile", [(1792, 1664, 256), (1000, 700, 256), (256, 256, 256), (130, 2000, 128)])
def test_every_tile_a_iiif_client_requests_is_a_deep_zoom_tile(width: int, height: int, tile: int) -> None:
    p = Pyramid(width, height, tile)
    info = info_json(p, "https://maps.example.org/data/c/v/iiif")
    links = {f"{region}/{size}/0/default.jpg": (level, col, row) for level, col, row, region, size in tile_links(p)}
    assert len(links) == p.tile_count(), "two tiles at one IIIF path"
    assert osd_tile_urls(info) == set(links)
    for path, (level, col, row) in links.items():
        size = path.split("/")[1]
        w, h = (width, height) if size == "max" else map(int, size.split(","))
        assert (w, h) == p.tile_box_size(level, col, row), path
    assert info["profile"] == "level0" and info["tiles"][0]["scaleFactors"][-1] == 2 ** p.max_level
    assert all(f"full/{s['width']},{s['height']}/0/default.jpg" in links or (s["width"], s["height"]) == (width, height)
               for s in info["sizes"])


def test_tiles_with_overlap_are_refused() -> None:
    with pytest.raises(ValueError, match="without overlap"):
        list(tile_links(Pyramid(100, 100, 64, overlap=1)))
