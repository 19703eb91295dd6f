"""Progress of long stages (features, the first mosaic): never silent for minutes.

A stage calls a :class:`Progress` with ``(done, total)`` as often as it likes. It writes one log
line at every tenth of the work (the Dagster step log: ``features: 1,300/13,000 images (10%),
251 images/s, 47 s left``) and passes every update to the listeners registered in this process:
``cviz run`` registers one that draws a bar (:mod:`cviz_assets.cli`). Plain Python, no Dagster import.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

Listener = Callable[["Update"], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class Update:
    stage: str
    done: int
    total: int
    rate: float | None  # items/s since the stage started counting
    seconds_left: float | None
    unit: str = "images"

    def line(self) -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        bits = [f"{self.stage}: {self.done:,}/{self.total:,} {self.unit} ({pct:.0f}%)"]
        if self.rate:
            bits.append(f"{self.rate:,.0f} {self.unit}/s")
        if self.seconds_left is not None and self.done < self.total:
            bits.append(f"{self.seconds_left:,.0f} s left")
        return ", ".join(bits)


def add_listener(fn: Listener) -> None:
    with _lock:
        _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    with _lock:
        if fn in _listeners:
            _listeners.remove(fn)


@dataclass
class Progress:
    """``Progress("features", log=context.log.info)(done, total)``; thread-safe."""

    stage: str
    log: Callable[[str], None] | None = None
    unit: str = "images"
    steps: int = 10  # log lines over the whole stage
    _started: float | None = field(default=None, repr=False)
    _first_done: int = field(default=0, repr=False)
    _logged_step: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        with self._lock:
            if self._started is None:  # rates from the first report (cached items arrive at once)
                self._started, self._first_done = now, done
                rate = None
            else:
                elapsed = now - self._started
                rate = (done - self._first_done) / elapsed if elapsed > 0 and done > self._first_done else None
            left = (total - done) / rate if rate else None
            update = Update(self.stage, done, total, rate, left, self.unit)
            step = int(self.steps * done / total) if total else self.steps
            if self.log is not None and step > self._logged_step:
                self._logged_step = step
                self.log(update.line())  # under the lock: two threads' lines never come out of order
        with _lock:
            listeners = list(_listeners)
        for fn in listeners:
            try:
                fn(update)
            except Exception:  # a broken display must not fail the stage
                pass
