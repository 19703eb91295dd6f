"""Reading and writing many small files (tiles, cached cells) at storage speed, memory bounded.

:class:`TileWriter` is the one writer of pyramid tiles: encoding and writing run in a small
thread pool (Pillow releases the GIL while it encodes), and at most ``max_pending`` batches are
handed over and not yet written: a producer that outruns the storage (S3 writes lagging) waits
instead of piling encoded tiles up in memory. A :class:`Link` tile is linked or copied from
another version (``Storage.link_many``), not written.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from PIL import Image

from cviz.render.dzi import encode_jpeg
from cviz.storage import Storage


@dataclass(frozen=True)
class Link:
    """A tile taken unchanged from another (immutable) version: ``src`` is that tile's path."""
    src: str


Tile = tuple[str, bytes | Image.Image | Link]


class TileWriter:
    """Encode (when given pixels) and write batches of tiles in ``workers`` threads.

    ``put`` blocks while ``max_pending`` batches are still unwritten; the first write error is
    raised by the next ``put`` or by ``close``. Use as a context manager.
    """

    def __init__(self, storage: Storage, workers: int = 2, max_pending: int | None = None,
                 concurrency: int = 8) -> None:
        self.storage = storage
        self.max_pending = max_pending or 4 * max(1, workers)
        self.concurrency = concurrency  # parallel requests per batch on an object store
        self.written = 0  # tiles handed over (links included)
        self.linked = 0
        self._slots = threading.BoundedSemaphore(self.max_pending)
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._futures: list[Future] = []
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers))

    def put(self, tiles: Sequence[Tile], full_chroma: bool = False) -> None:
        """Hand over one batch (paths with JPEG bytes, images to encode, or links)."""
        self._raise_error()
        if not tiles:
            return
        self._slots.acquire()
        try:
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._pool.submit(self._write, list(tiles), full_chroma))
        except BaseException:
            self._slots.release()
            raise
        self.written += len(tiles)
        self.linked += sum(isinstance(t, Link) for _, t in tiles)

    def _write(self, tiles: list[Tile], full_chroma: bool) -> None:
        try:
            if self._error is not None:
                return
            links = [(t.src, p) for p, t in tiles if isinstance(t, Link)]
            out = [(p, t if isinstance(t, bytes) else encode_jpeg(t, full_chroma))
                   for p, t in tiles if not isinstance(t, Link)]
            if links:
                self.storage.link_many(links, self.concurrency)
            if out:
                self.storage.write_batch(out, self.concurrency)  # local: in turn; object store: in parallel
        except BaseException as exc:
            with self._lock:
                self._error = self._error or exc
        finally:
            self._slots.release()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait for every batch; raise the first write error."""
        self._pool.shutdown(wait=True)
        self._raise_error()

    def __enter__(self) -> "TileWriter":
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None = None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:  # the caller's error (or an interrupt) is the one to report: write no batch still queued
            with self._lock:
                self._error = self._error or exc or RuntimeError("stopped")
            self._pool.shutdown(wait=True, cancel_futures=True)


def in_order(pool: ThreadPoolExecutor, fn: Callable, items: Sequence, window: int) -> Iterator:
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
