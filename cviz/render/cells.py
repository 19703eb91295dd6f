"""Cell-sized thumbnails (and the viewer's item images), cached by image content hash.

Decoding a full-size image is the mosaic's main cost (several ms each; 100,000 of them are minutes
on two cores), and the features stage already decodes every image once. Caching the cell under
``cache/cells/<w>x<h>/<sha256[:2]>/<sha256>.jpg`` means each image is decoded for the mosaic at
most once per cell size: re-runs, updates that add a few images, and (with the hook in
:func:`derive_from_decoded`) the features stage's own decode fill it. A cached cell that does not
decode, or has the wrong size, is recomputed, never used.

When cells are square and as large as the Deep Zoom tile, a cached cell's JPEG is byte for byte
the top pyramid level's tile for its cell, so the mosaic copies it without decoding or encoding.

Cost in N: O(1) per item (a cell and an item image, a few kB each); O(N) files in the cache.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image

from cviz.ingest.decode import fit_cell
from cviz.paths import cell_cache, item_cache
from cviz.render.dzi import decode_jpeg
from cviz.storage import Storage


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
    preview: bytes  # JPEG of the whole mosaic, longest side <= preview_side
    lowest_level: int  # levels lowest_level .. max_level are written (max-1 too on the cell-tile path)
    reused: int = 0  # of ``tiles``: linked from the previous version (cviz.render.mosaic_blocks)


CELL_QUALITY = 85
ITEM_IMAGE_SIDE = 512


def cached_cell_path(sha256: str, size: tuple[int, int]) -> str:
    """Where the cell-sized thumbnail of the image with this content hash is cached."""
    return cell_cache(sha256, size)


def encode(img: Image.Image, quality: int = CELL_QUALITY) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_cell(img: Image.Image, size: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    """The whole image letterboxed into a ``size`` cell (see cviz.ingest.decode.fit_cell)."""
    return fit_cell(img, size, background)


def read_cell(storage: Storage, sha256: str, size: tuple[int, int],
              decode_at: tuple[int, int] | None = None) -> tuple[bytes, Image.Image] | None:
    """(JPEG bytes, decoded RGB cell) from the cache, or None when absent or unusable.

    ``decode_at``: decode at the smallest DCT scale (down to 1/8) still at least that large: the
    check that the entry is whole costs a fraction of a full decode, and the small picture is
    what a preview needs.
    """
    try:
        data = storage.read_bytes(cached_cell_path(sha256, size))
    except (FileNotFoundError, OSError):
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size != tuple(size) or im.format != "JPEG":
                return None
            if decode_at is not None:
                im.draft("RGB", decode_at)
            cell = im.convert("RGB")
    except Exception:
        return None
    return data, cell


def write_cell(storage: Storage, sha256: str, size: tuple[int, int], cell: Image.Image) -> bytes:
    data = encode(cell)
    storage.write_bytes(cached_cell_path(sha256, size), data)
    return data


def item_image(img: Image.Image, side: int = ITEM_IMAGE_SIDE) -> bytes:
    """The viewer panel's larger copy: longest side at most ``side``."""
    big = img.copy()
    big.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return encode(big)


def item_image_rel(sha256: str) -> str:
    """The viewer's item image, relative to the collection's ``published/<name>`` folder."""
    return f"images/{sha256[:16]}.jpg"


def item_key(sha256: str, side: int = ITEM_IMAGE_SIDE) -> str:
    return item_cache(sha256, side)


def read_item_image(storage: Storage, sha256: str, side: int = ITEM_IMAGE_SIDE) -> bytes | None:
    """The cached item image's JPEG bytes, or None when absent or not a whole JPEG."""
    try:
        data = storage.read_bytes(item_key(sha256, side))
    except (FileNotFoundError, OSError):
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG" or max(im.size) > side:
                return None
            im.load()
    except Exception:
        return None
    return data


def derive_from_decoded(storage: Storage, sha256: str, img: Image.Image, size: tuple[int, int],
                        background: tuple[int, int, int], item_image_path: str | None = None) -> None:
    """Hook for a stage that has already decoded the image (features): fill the cell cache, and
    write the viewer's item image at ``item_image_path`` when given and missing (the features stage
    passes :func:`item_key`, a cache the mosaic copies from, so it never writes into ``published/``).

    Cheap next to the decode (thumbnails of an image already in memory plus small JPEG encodes);
    entries already present are left alone. For a full-quality item image the decode should keep
    at least ``ITEM_IMAGE_SIDE`` pixels on the longest side.
    """
    need_item = item_image_path is not None and not storage.exists(item_image_path)
    need_cell = not storage.exists(cached_cell_path(sha256, size))
    if need_item or need_cell:
        # One resample to the item size, then the cell from that (half the cost of two from the decode).
        small = img
        if max(img.size) > ITEM_IMAGE_SIDE and max(size) <= ITEM_IMAGE_SIDE:
            small = img.copy()
            small.thumbnail((ITEM_IMAGE_SIDE, ITEM_IMAGE_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
        if need_item:
            storage.write_bytes(item_image_path, encode(small))
        if need_cell:
            write_cell(storage, sha256, size, make_cell(small, size, background))


class CellLoader:
    """The mosaic's ``load_cell(item, preview_size)``: each item's cell from the cache when it is
    there (no decode of the source), else decoded once, caching the cell; the viewer's item image
    is written under ``published`` when missing, copied from the features stage's cache if it made
    one. Thread safe (the mosaic calls it from its workers); ``counts`` says what it did.
    """

    def __init__(self, storage: Storage, items: list[dict[str, Any]], size: tuple[int, int], published: str,
                 existing: set[str], background: tuple[int, int, int],
                 decode_original: Callable[[dict[str, Any], int], Image.Image],
                 progress: Callable[[int, int], None] | None = None, item_side: int = ITEM_IMAGE_SIDE) -> None:
        self.storage, self.items, self.size, self.published = storage, items, tuple(size), published
        self.existing, self.background, self.decode_original = existing, background, decode_original
        self.progress, self.item_side = progress, item_side
        self.counts = {"new_item_images": 0, "cells_decoded": 0, "cells_cached": 0}
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1
            done = self.counts["cells_decoded"] + self.counts["cells_cached"]
        if self.progress and key != "new_item_images":
            self.progress(done, len(self.items))

    def _write_item_image(self, rel: str, data: bytes) -> None:
        self.storage.write_bytes(f"{self.published}/{rel}", data)
        self._count("new_item_images")

    def __call__(self, i: int, preview_size: tuple[int, int]) -> Cell:
        e = self.items[i]
        sha = e["sha256"]
        item_rel = item_image_rel(sha)
        have_item = item_rel.rsplit("/", 1)[1] in self.existing
        if not have_item:  # made by the features stage's decode: copied, not decoded again
            made = read_item_image(self.storage, sha, self.item_side)
            if made is not None:
                self._write_item_image(item_rel, made)
                have_item = True
        cached = read_cell(self.storage, sha, self.size, decode_at=preview_size) if have_item else None
        if cached is not None:
            self._count("cells_cached")
            return Cell(data=cached[0], small=cached[1])
        # The features stage decodes each new original once and fills both caches (derive_from_decoded);
        # this decode happens only for images it did not decode (cached features, another cell size).
        img = self.decode_original(e, max(self.item_side, *self.size))
        if not have_item:
            self._write_item_image(item_rel, item_image(img, self.item_side))
        cell = make_cell(img, self.size, self.background)
        data = write_cell(self.storage, sha, self.size, cell)
        self._count("cells_decoded")
        return Cell(data=data, image=cell)
