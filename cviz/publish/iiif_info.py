"""The published map as a IIIF Image API 3.0 level-0 image: ``iiif/info.json`` beside ``map.dzi``.

A level-0 ("static") image service answers only the requests its ``info.json`` announces: the
tiles at the listed ``scaleFactors`` and the whole-image ``sizes`` (IIIF Image API 3.0, sections 5
and 6; Compliance 3.0, level 0). Deep Zoom's pyramid already holds exactly those pixels: with
overlap 0, tile ``(c, r)`` of DZI level ``L`` is the Image API region ``x,y,w,h`` with
``x = c*T*s``, ``y = r*T*s``, ``w = min(T*s, W-x)``, ``h = min(T*s, H-y)`` at scale factor
``s = 2^(max-L)``, scaled to ``ceil(w/s), ceil(h/s)``, which is the DZI tile's own size (both are
``ceil`` of the level's size minus whole tiles). So nothing is encoded again: each IIIF path is a
hard link to the DZI tile with the same pixels (a copy on object stores), under
``iiif/{region}/{size}/0/default.jpg`` with the canonical region and size of section 4.7
(``full`` when the region is the whole image; ``max`` when the size is the full size; else
``w,h``): the URLs OpenSeadragon's IIIFTileSource, Mirador and the Universal Viewer request for a
level-0 3.0 service.

The ``id`` of a level-0 service must be the absolute URL it is served at; cviz writes the
viewer's (``$CVIZ_VIEWER_URL/data/<name>/<ver>/iiif``). A map served from elsewhere needs that one
field rewritten; the viewer itself keeps reading ``map.dzi``.

Cost: one link per DZI tile (about 1.33 times the top level's tile count), no pixel work.
"""

from __future__ import annotations

from typing import Any, Iterator

from cviz.paths import CollectionPaths, tile
from cviz.render.dzi import Pyramid
from cviz.storage import Storage

CONTEXT = "http://iiif.io/api/image/3/context.json"


def region_and_size(p: Pyramid, level: int, col: int, row: int) -> tuple[str, str]:
    """The canonical Image API 3.0 region and size of DZI tile ``(level, col, row)`` of ``p``."""
    s = 2 ** (p.max_level - level)
    t = p.tile_size * s
    x, y = col * t, row * t
    w, h = min(t, p.width - x), min(t, p.height - y)
    tw, th = p.tile_box_size(level, col, row)
    region = "full" if (x, y, w, h) == (0, 0, p.width, p.height) else f"{x},{y},{w},{h}"
    size = "max" if (tw, th) == (p.width, p.height) else f"{tw},{th}"
    return region, size


def tile_links(p: Pyramid) -> Iterator[tuple[int, int, int, str, str]]:
    """(level, col, row, region, size) for every tile of the pyramid."""
    if p.overlap:
        raise ValueError("a IIIF level-0 layout needs Deep Zoom tiles without overlap")
    for level in range(p.max_level + 1):
        cols, rows = p.tile_grid(level)
        for col in range(cols):
            for row in range(rows):
                yield (level, col, row, *region_and_size(p, level, col, row))


def info_json(p: Pyramid, service_id: str) -> dict[str, Any]:
    """The level-0 ``info.json``: every DZI level as a scale factor, whole-image sizes where one tile holds the level."""
    sizes = []
    for level in range(p.max_level + 1):
        w, h = p.level_size(level)
        if w <= p.tile_size and h <= p.tile_size:
            sizes.append({"width": w, "height": h})
    return {
        "@context": CONTEXT, "id": service_id.rstrip("/"), "type": "ImageService3",
        "protocol": "http://iiif.io/api/image", "profile": "level0", "width": p.width, "height": p.height,
        "tiles": [{"width": p.tile_size, "height": p.tile_size,
                   "scaleFactors": [2 ** k for k in range(p.max_level + 1)]}],
        "sizes": sizes, "preferredFormats": [p.format],
    }


def write_level0(storage: Storage, name: str, version: str, p: Pyramid, service_id: str) -> int:
    """Link every DZI tile of ``version`` to its IIIF path, then write ``info.json`` (last: its presence
    says the layout is complete). Returns the number of tiles linked."""
    paths = CollectionPaths(name)
    tiles = paths.tiles(version)
    pairs = [(tile(tiles, level, col, row, p.format), paths.iiif_tile(version, region, size))
             for level, col, row, region, size in tile_links(p)]
    storage.link_many(pairs)
    storage.write_json(paths.iiif_info(version), info_json(p, service_id))
    return len(pairs)
