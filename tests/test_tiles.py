"""The streaming mosaic and pyramid against a mosaic assembled whole in memory (small sizes)."""

from __future__ import annotations

import io
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cviz.paths import CollectionPaths
from cviz.render import cells
from cviz.render.dzi import Pyramid, choose_tile_size, encode_jpeg, expected_tiles, tile_path
from cviz.render.levels import FULL_CHROMA_BELOW, build_lower_levels
from cviz.render.mosaic import Cell, render_mosaic
from cviz.stages import registry
from cviz.storage import Storage, open_storage

BG = (17, 17, 17)


def _cell_image(i: int, size: tuple[int, int]) -> Image.Image:
    """A smooth, distinct picture per item (JPEG-friendly, so errors measure our code, not JPEG)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.array([(37 * i) % 160, (91 * i) % 160, (53 * i) % 160])
    rgb = base + np.stack([xx * 90 // max(w - 1, 1), yy * 90 // max(h - 1, 1), (xx + yy) * 45 // max(w + h - 2, 1)], axis=2)
    rgb = rgb.astype(np.uint8)
    return Image.fromarray(rgb)


def _build(tmp_path: Path, n: int, cols: int, cell: tuple[int, int], cached: bool):
    storage = open_storage(str(tmp_path / "root"))
    cw, ch = cell
    rows = math.ceil(n / cols)
    pyramid = Pyramid(cols * cw, rows * ch, choose_tile_size(cw, ch))
    rng = np.random.default_rng(0)
    cells = rng.permutation(cols * rows)[:n]
    item_at_cell = {int(c): i for i, c in enumerate(cells)}
    jpegs = {i: encode_jpeg(_cell_image(i, cell)) for i in range(n)}

    def load_cell(i: int, small: tuple[int, int]) -> Cell:
        return Cell(data=jpegs[i]) if cached else Cell(image=_cell_image(i, cell))

    stats = render_mosaic(storage, "m", pyramid, cols, rows, cell, item_at_cell, load_cell, BG)
    lower = build_lower_levels(storage, "m", pyramid, start_level=stats.lowest_level)
    # The reference: the whole mosaic in memory, then plain 2x box reductions.
    full = Image.new("RGB", (pyramid.width, pyramid.height), BG)
    for c, i in item_at_cell.items():
        r, col = divmod(c, cols)
        full.paste(Image.open(io.BytesIO(jpegs[i])).convert("RGB") if cached else _cell_image(i, cell), (col * cw, r * ch))
    return storage, pyramid, stats, lower, full, jpegs, item_at_cell


def _level(storage: Storage, pyramid: Pyramid, level: int) -> Image.Image:
    w, h = pyramid.level_size(level)
    tc, tr = pyramid.tile_grid(level)
    out = Image.new("RGB", (w, h))
    t = pyramid.tile_size
    for r in range(tr):
        for c in range(tc):
            with Image.open(io.BytesIO(storage.read_bytes(tile_path(level, c, r, "m")))) as im:
                expect = (min(t, w - c * t), min(t, h - r * t))
                assert im.size == expect, f"tile {level}/{c}_{r} is {im.size}, expected {expect}"
                out.paste(im.convert("RGB"), (c * t, r * t))
    return out


@pytest.mark.parametrize("cell,cols,n,cached", [
    ((64, 64), 7, 45, True),      # tile == cell: cached JPEGs copied as the top level; even tile: half-scale decode
    ((64, 64), 6, 31, False),     # tile == cell, freshly decoded cells
    ((80, 48), 5, 23, False),     # non-square cells: banded top level, 256 tiles
    ((65, 65), 4, 15, True),      # odd tile size: full decode + reduce for max-1
])
def test_pyramid_matches_the_whole_mosaic(tmp_path: Path, cell, cols, n, cached) -> None:
    storage, pyramid, stats, lower, full, _, _ = _build(tmp_path, n, cols, cell, cached)
    listed = {f"{lv}/{name}" for lv in range(pyramid.max_level + 1) for name in storage.list(f"m/{lv}")}
    assert listed == set(expected_tiles(pyramid))
    assert stats.tiles + lower.tiles == pyramid.tile_count()
    top = _level(storage, pyramid, pyramid.max_level)
    assert np.abs(np.asarray(top, np.int16) - np.asarray(full, np.int16)).mean() < 3.0
    ref = full
    for level in range(pyramid.max_level - 1, -1, -1):
        ref = ref.reduce(2) if ref.width > 1 and ref.height > 1 else ref.resize(
            (max(1, math.ceil(ref.width / 2)), max(1, math.ceil(ref.height / 2))), Image.Resampling.BOX)
        got = _level(storage, pyramid, level)
        if got.size != ref.size:  # reduce() floors odd sizes; Deep Zoom levels round up
            ref = ref.resize(got.size, Image.Resampling.BOX)
        diff = np.abs(np.asarray(got, np.int16) - np.asarray(ref, np.int16)).mean()
        # Tiles are JPEGs: allow what JPEG itself costs on the reference level, plus a little.
        full_chroma = level <= pyramid.max_level - FULL_CHROMA_BELOW
        jpeg_only = Image.open(io.BytesIO(encode_jpeg(ref, full_chroma))).convert("RGB")
        budget = np.abs(np.asarray(jpeg_only, np.int16) - np.asarray(ref, np.int16)).mean() + 2.5
        assert diff < budget, f"level {level} differs from the 2x reduction by {diff:.1f} per channel (budget {budget:.1f})"
    preview = Image.open(io.BytesIO(stats.preview))
    assert max(preview.size) <= 1024
    small = full.resize(preview.size, Image.Resampling.BOX)
    assert np.abs(np.asarray(preview.convert("RGB"), np.int16) - np.asarray(small, np.int16)).mean() < 12.0


def test_cached_cells_are_copied_byte_for_byte(tmp_path: Path) -> None:
    storage, pyramid, _, _, _, jpegs, item_at_cell = _build(tmp_path, 20, 5, (64, 64), cached=True)
    for c, i in item_at_cell.items():
        r, col = divmod(c, 5)
        assert storage.read_bytes(tile_path(pyramid.max_level, col, r, "m")) == jpegs[i]


def test_cell_cache_rejects_broken_or_wrong_size_entries(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    sha = "ab" * 32
    assert cells.read_cell(storage, sha, (64, 64)) is None
    storage.write_bytes(cells.cached_cell_path(sha, (64, 64)), b"not a jpeg")
    assert cells.read_cell(storage, sha, (64, 64)) is None
    storage.write_bytes(cells.cached_cell_path(sha, (64, 64)), encode_jpeg(Image.new("RGB", (32, 64))))
    assert cells.read_cell(storage, sha, (64, 64)) is None
    good = cells.write_cell(storage, sha, (64, 64), Image.new("RGB", (64, 64), (200, 10, 10)))
    data, small = cells.read_cell(storage, sha, (64, 64), decode_at=(8, 8))
    assert data == good and small.size == (8, 8)


def test_second_mosaic_decodes_no_source_image(tmp_path: Path, met_sample_root: Path) -> None:
    """The cell cache: a re-run reads cells, never the original images, and gives the same top level."""
    root = tmp_path / "root"
    shutil.copytree(met_sample_root, root)
    storage = open_storage(str(root))
    paths = CollectionPaths("met-sample")
    live = storage.read_json(paths.pointer)["dzi"].split("/")[0]
    storage.remove_file(paths.cells(live))  # no tile reuse (tests/test_incremental_pyramid.py): every cell is read
    first = registry.stage_mosaic(storage, "met-sample")
    assert first.values["tiles_reused"] == 0
    n = first.values["items"]
    assert first.values["cells_cached"] + first.values["cells_decoded"] == n
    second = registry.stage_mosaic(storage, "met-sample")
    assert (second.values["cells_cached"], second.values["cells_decoded"]) == (n, 0)
    top = Pyramid(**storage.read_json(paths.mosaic)["pyramid"]).max_level
    v1, v2 = first.values["version"], second.values["version"]
    names = storage.list(f"{paths.version(v1)}/map_files/{top}")
    assert names and names == storage.list(f"{paths.version(v2)}/map_files/{top}")
    for name in names:
        assert storage.read_bytes(f"{paths.version(v1)}/map_files/{top}/{name}") == \
            storage.read_bytes(f"{paths.version(v2)}/map_files/{top}/{name}")


def test_features_hook_fills_what_the_mosaic_reads(tmp_path: Path) -> None:
    """derive_from_decoded (to be called where features decode each image) writes the cached cell
    and item image; the mosaic's cache lookup then finds a whole, correctly sized cell."""
    storage = open_storage(str(tmp_path))
    sha = "cd" * 32
    img = _cell_image(3, (300, 200))
    cells.derive_from_decoded(storage, sha, img, (64, 64), BG, item_image_path="pub/images/x.jpg")
    data, cell = cells.read_cell(storage, sha, (64, 64))
    assert cell.size == (64, 64)
    assert cell.getpixel((32, 5)) == pytest.approx(BG, abs=6)  # letterboxed: 300x200 in a square cell
    with Image.open(io.BytesIO(storage.read_bytes("pub/images/x.jpg"))) as item:
        assert item.size == (300, 200)  # already below 512: not enlarged
    cells.derive_from_decoded(storage, sha, _cell_image(9, (64, 64)), (64, 64), BG)
    assert cells.read_cell(storage, sha, (64, 64))[0] == data, "an existing entry was rewritten"
