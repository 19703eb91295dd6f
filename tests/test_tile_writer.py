"""The one tile writer keeps memory flat when storage writes lag (issue 13, point 5).

Before, two of the three tile writers submitted every band to a thread pool with no bound on the
backlog, so with slow (S3) writes the encoded-but-unwritten tiles grew with the mosaic. These
tests slow the storage down and count what was handed over but not yet written.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cviz.dzi import Pyramid, choose_tile_size, encode_jpeg, tile_path
from cviz.levels import build_lower_levels
from cviz.mosaic import Cell, render_mosaic
from cviz.storage import Storage
from cviz.tile_io import TileWriter


class SlowStorage(Storage):
    """A local storage whose writes take ``delay`` seconds each; counts files written."""

    def __init__(self, root: str, delay: float) -> None:
        super().__init__(root)
        self.delay = delay
        self.files = 0
        self.count_lock = threading.Lock()

    def write_bytes(self, rel: str, data: bytes) -> None:
        time.sleep(self.delay)
        super().write_bytes(rel, data)
        with self.count_lock:
            self.files += 1

    def write_many(self, items, workers: int = 8) -> int:  # noqa: ANN001 - same as Storage
        n = 0
        for rel, data in items:
            self.write_bytes(rel, data)
            n += 1
        return n


def test_put_waits_while_max_pending_batches_are_unwritten(tmp_path: Path) -> None:
    storage = SlowStorage(str(tmp_path), delay=0.01)
    peak = 0
    with TileWriter(storage, workers=2, max_pending=3) as writer:
        for b in range(40):
            writer.put([(f"t/{b}_{k}.jpg", b"x") for k in range(2)])
            peak = max(peak, b + 1 - storage.files // 2)  # batches handed over, not yet written
    assert storage.files == 80 and writer.written == 80
    assert peak <= 3 + 1  # the bound (+1: a batch whose second file is being written)


def test_a_write_error_reaches_the_producer(tmp_path: Path) -> None:
    class Full(Storage):
        def write_bytes(self, rel: str, data: bytes) -> None:
            raise OSError(28, "No space left on device", rel)

    with pytest.raises(OSError, match="No space left"):
        with TileWriter(Full(str(tmp_path)), workers=2, max_pending=2) as writer:
            for b in range(50):
                writer.put([(f"t/{b}.jpg", b"x")])


@pytest.mark.parametrize("cell", [(64, 64), (48, 40)])  # cell tiles (and level max-1), and bands
def test_slow_storage_keeps_the_mosaic_backlog_bounded(tmp_path: Path, cell: tuple[int, int]) -> None:
    storage = SlowStorage(str(tmp_path), delay=0.004)
    cols, rows = 8, 40
    cw, ch = cell
    pyramid = Pyramid(cols * cw, rows * ch, choose_tile_size(cw, ch))
    jpeg = encode_jpeg(Image.new("RGB", cell, (200, 90, 30)))
    loaded = 0
    backlog = 0
    lock = threading.Lock()

    def load_cell(i: int, small: tuple[int, int]) -> Cell:
        nonlocal loaded, backlog
        with lock:
            loaded += 1
            backlog = max(backlog, loaded - storage.files)
        return Cell(data=jpeg)

    stats = render_mosaic(storage, "m", pyramid, cols, rows, cell, {i: i for i in range(cols * rows)}, load_cell,
                          (17, 17, 17), workers=2, max_pending=2)
    assert loaded == cols * rows and storage.files == stats.tiles
    # Cell rows in flight (4 x workers) plus the writer's bound, a row of tiles each: far below the
    # 320 cells an unbounded writer lets the (instant) loads run ahead of the writes.
    assert backlog <= (4 * 2 + 2 + 2 + 2) * cols, backlog


def test_slow_storage_keeps_the_lower_levels_backlog_bounded(tmp_path: Path) -> None:
    fast = Storage(str(tmp_path))
    pyramid = Pyramid(64 * 32, 64 * 32, 64)
    tile = encode_jpeg(Image.fromarray(np.full((64, 64, 3), 120, np.uint8)))
    for r in range(32):
        for c in range(32):
            fast.write_bytes(tile_path(pyramid.max_level, c, r, "m"), tile)
    storage = SlowStorage(str(tmp_path), delay=0.003)
    peak = 0
    real_put = TileWriter.put

    def put(self: TileWriter, tiles, full_chroma: bool = False) -> None:  # noqa: ANN001
        nonlocal peak
        real_put(self, tiles, full_chroma)
        peak = max(peak, self.written - storage.files)

    TileWriter.put = put
    try:
        stats = build_lower_levels(storage, "m", pyramid, workers=2, max_pending=2)
    finally:
        TileWriter.put = real_put
    assert stats.tiles == pyramid.tile_count() - 32 * 32 == storage.files
    assert peak <= 2 * 16 + 8, peak  # two batches (of up to half a 32-tile band) + in-progress writes
