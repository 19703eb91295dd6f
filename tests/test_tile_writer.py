"""The one tile writer keeps memory flat when storage writes lag.

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

from cviz.render.dzi import Pyramid, choose_tile_size, encode_jpeg, tile_path
from cviz.render.levels import build_lower_levels
from cviz.render.mosaic import Cell, render_mosaic
from cviz.render.tile_writer import TileWriter
from cviz.storage import LocalStorage, open_storage


class SlowStorage(LocalStorage):
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
    class Full(LocalStorage):
        def write_bytes(self, rel: str, data: bytes) -> None:
            raise OSError(28, "No space left on device", rel)

    with pytest.raises(OSError, match="No space left"):
        with TileWriter(Full(str(tmp_path)), workers=2, max_pending=2) as writer:
            for b in range(50):
                writer.put([(f"t/{b}.jpg", b"x")])


class _Peak:
    """Wraps TileWriter.put: the most tiles handed over and not yet written, and the largest batch."""

    def __init__(self, storage: SlowStorage) -> None:
        self.storage, self.tiles, self.batch = storage, 0, 0

    def __enter__(self) -> "_Peak":
        real = self.real = TileWriter.put

        def put(writer: TileWriter, tiles, full_chroma: bool = False) -> None:  # noqa: ANN001
            real(writer, tiles, full_chroma)
            self.batch = max(self.batch, len(tiles))
            self.tiles = max(self.tiles, writer.written - self.storage.files)

        TileWriter.put = put
        return self

    def __exit__(self, *exc: object) -> None:
        TileWriter.put = self.real


@pytest.mark.parametrize("cell, cols, rows", [((64, 64), 8, 40),    # cell tiles (and level max-1)
                                              ((48, 40), 40, 40)])  # bands of 256-pixel tiles
def test_slow_storage_keeps_the_mosaic_backlog_bounded(tmp_path: Path, cell: tuple[int, int], cols: int,
                                                       rows: int) -> None:
    storage = SlowStorage(str(tmp_path), delay=0.004)
    cw, ch = cell
    pyramid = Pyramid(cols * cw, rows * ch, choose_tile_size(cw, ch))
    jpeg = encode_jpeg(Image.new("RGB", cell, (200, 90, 30)))
    with _Peak(storage) as peak:
        stats = render_mosaic(storage, "m", pyramid, cols, rows, cell, {i: i for i in range(cols * rows)},
                              lambda i, small: Cell(data=jpeg), (17, 17, 17), workers=2, max_pending=2)
    assert storage.files == stats.tiles > 40
    # The loads are instant and every write takes 4 ms: unbounded, the backlog is most of the tiles.
    assert peak.tiles <= 2 * peak.batch, (peak.tiles, peak.batch, stats.tiles)


def test_slow_storage_keeps_the_lower_levels_backlog_bounded(tmp_path: Path) -> None:
    fast = open_storage(str(tmp_path))
    pyramid = Pyramid(64 * 32, 64 * 32, 64)
    tile = encode_jpeg(Image.fromarray(np.full((64, 64, 3), 120, np.uint8)))
    for r in range(32):
        for c in range(32):
            fast.write_bytes(tile_path(pyramid.max_level, c, r, "m"), tile)
    storage = SlowStorage(str(tmp_path), delay=0.003)
    with _Peak(storage) as peak:
        stats = build_lower_levels(storage, "m", pyramid, workers=2, max_pending=2)
    assert stats.tiles == pyramid.tile_count() - 32 * 32 == storage.files
    assert peak.tiles <= 2 * peak.batch, (peak.tiles, peak.batch)  # two batches waiting at most


def test_an_error_in_the_producer_writes_no_batch_still_queued(tmp_path) -> None:  # noqa: ANN001
    """An interrupt (or any error) while tiles are queued: the batches not yet started are dropped,
    so a Ctrl-C stops the step now instead of after every queued write."""
    import threading

    import pytest

    from cviz.render.tile_writer import TileWriter
    from cviz.storage import open_storage

    store = open_storage(str(tmp_path))
    gate = threading.Event()
    real = store.write_batch

    def slow(items, concurrency=8):  # noqa: ANN001, ANN202
        gate.wait(5)
        return real(items, concurrency)

    store.write_batch = slow
    with pytest.raises(KeyboardInterrupt):
        with TileWriter(store, workers=1, max_pending=8) as writer:
            for i in range(6):
                writer.put([(f"t/{i}.jpg", b"x")])
            threading.Timer(0.2, gate.set).start()
            raise KeyboardInterrupt
    written = sorted(p.name for p in (tmp_path / "t").glob("*.jpg")) if (tmp_path / "t").exists() else []
    assert len(written) <= 1  # the batch already being written, at most
