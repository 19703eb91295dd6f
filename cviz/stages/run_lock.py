"""One run at a time per collection: a lock file under the storage root, held by a run id.

Why a lock in storage, and not only Dagster: two runs of one collection must never interleave
their outputs (run B's grid read by run A's items.json), and runs reach the storage root from
everywhere: the Dagster daemon, ``dg.materialize`` in tests, the ``cviz`` command line, other
machines. Dagster's run queue holds back a second run of the same partition (dagster.yaml:
``concurrency.runs.tag_concurrency_limits`` on ``dagster/partition`` with
``applyLimitPerUniqueValue``) and is the friendly first line: the second run waits in the queue.
A Dagster concurrency pool cannot do this per collection (a pool limits all partitions together),
and neither reaches runs that bypass the queue. This lock is the guarantee underneath: it waits
``$CVIZ_LOCK_WAIT_S`` and then fails clearly.

``collections/<name>/lock.json`` holds ``{"owner": <run id>, "pid", "host", "acquired", "heartbeat"}``
(beside the collection's other intermediates, so a storage error on it names the collection's
folder); ``collections/<name>/lock-steps/<run id>/<step>`` records the run's finished steps.
Every stage of a run takes it with the run id as owner (re-entrant across the run's stages, which
may be separate processes), refreshes the heartbeat while it works, and records that it finished;
the stage that finds every step of its run finished removes the lock. A stage that fails removes
it too (the rest of its run is skipped). A lock whose heartbeat is older than ``stale_s`` belongs
to a run that died (kill -9, lost machine) and is taken over.

Atomicity: on a local root the check-and-claim runs under ``fcntl.flock`` on a sibling file, so
two processes on the machine cannot both claim. On object storage there is no lock primitive
through fsspec: the claim is written, left to settle, and read back (best effort; rely on the
Dagster queue there).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from typing import Any, Iterator

from cviz.errors import CollectionBusy
from cviz.paths import CollectionPaths, validate_collection_name
from cviz.settings import settings
from cviz.storage import Storage

log = logging.getLogger("cviz.stages.run_lock")

HEARTBEAT_S = 5.0
SETTLE_S = 0.5  # object storage: wait before reading a claim back


class CollectionLock:
    """The lock of collection ``name``, claimed on behalf of ``owner`` (a Dagster run id)."""

    def __init__(self, storage: Storage, name: str, owner: str, stale_s: float | None = None,
                 heartbeat_s: float | None = None) -> None:
        self.storage = storage
        self.name = validate_collection_name(name)
        self.owner = str(owner)
        self.stale_s = settings().lock_stale_s if stale_s is None else stale_s  # no heartbeat this long: dead
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else min(HEARTBEAT_S, self.stale_s / 4)
        paths = CollectionPaths(name)
        self.rel = paths.lock
        self.steps_rel = paths.lock_steps

    # -- reading -----------------------------------------------------------------------------
    def read(self) -> dict[str, Any] | None:
        try:
            info = self.storage.read_json(self.rel)
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            return {"owner": "?", "heartbeat": 0.0}  # a torn lock file counts as stale
        return info if isinstance(info, dict) else {"owner": "?", "heartbeat": 0.0}

    def is_stale(self, info: dict[str, Any]) -> bool:
        return time.time() - float(info.get("heartbeat") or 0.0) > self.stale_s

    # -- claiming ----------------------------------------------------------------------------
    def _mutex(self) -> contextlib.AbstractContextManager[None]:
        return self.storage.mutex(f"{self.rel}.mutex")

    def _record(self, acquired: float | None = None) -> dict[str, Any]:
        now = time.time()
        return {"owner": self.owner, "pid": os.getpid(), "host": socket.gethostname(),
                "acquired": acquired or now, "heartbeat": now}

    def try_acquire(self) -> dict[str, Any] | None:
        """Claim the lock if it is free, stale or already ours; else return the holder's record."""
        with self._mutex():
            current = self.read()
            if current is not None and current.get("owner") != self.owner and not self.is_stale(current):
                return current
            if current is None or current.get("owner") != self.owner:
                self._clear_steps()  # a new holder: forget a dead run's finished steps
            acquired = current.get("acquired") if current and current.get("owner") == self.owner else None
            self.storage.write_json(self.rel, self._record(acquired))
            if not self.storage.exclusive_mutex:
                time.sleep(SETTLE_S)
                after = self.read()
                if after is None or after.get("owner") != self.owner:
                    return after or {"owner": "?", "heartbeat": time.time()}
        return None

    def acquire(self, wait_s: float | None = None, poll_s: float = 0.5) -> None:
        """Claim the lock, waiting up to ``wait_s`` for another run; raise CollectionBusy after that."""
        wait_s = settings().lock_wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        while True:
            holder = self.try_acquire()
            if holder is None:
                return
            if time.monotonic() >= deadline:
                raise CollectionBusy(self._busy_message(holder, wait_s))
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())) or poll_s)

    def _busy_message(self, holder: dict[str, Any], waited: float) -> str:
        age = time.time() - float(holder.get("heartbeat") or 0.0)
        return (
            f"collection {self.name} is being built by another run ({holder.get('owner')}, pid {holder.get('pid')} "
            f"on {holder.get('host')}, last heartbeat {age:.0f} s ago); waited {waited:.0f} s. Outputs of two "
            f"runs are never mixed: let that run finish and re-run this one. If that run is dead, its lock "
            f"({self.storage.url(self.rel)}) is taken over {self.stale_s:.0f} s after its last heartbeat."
        )

    # -- holding -----------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Renew the heartbeat; False (and nothing written) if another run has taken the lock."""
        with self._mutex():
            current = self.read()
            if current is None or current.get("owner") != self.owner:
                return False
            self.storage.write_json(self.rel, self._record(current.get("acquired")))
            return True

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Refresh the heartbeat every ``heartbeat_s`` in a thread while the body runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_s):
                try:
                    if not self.refresh():
                        return
                except Exception:  # a failed heartbeat must not kill the stage; staleness is the cost
                    pass

        thread = threading.Thread(target=beat, name=f"cviz-lock-{self.name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def release(self) -> bool:
        """Remove the lock if it is still ours."""
        with self._mutex():
            current = self.read()
            if current is None or current.get("owner") != self.owner:
                return False
            self._clear_steps()
            self.storage.remove_tree(self.rel)
            return True

    # -- run bookkeeping ---------------------------------------------------------------------
    def _clear_steps(self) -> None:
        self.storage.remove_tree(self.steps_rel)

    def finish_step(self, step: str, run_steps: list[str]) -> bool:
        """Record ``step`` as done; release the lock when all of ``run_steps`` are. True if released.

        Each step writes its marker before it lists the others, so of two steps finishing at once
        at least the later one sees both markers.
        """
        self.storage.write_bytes(f"{self.steps_rel}/{self.owner}/{step}", b"")  # paths.lock_step
        done = set(self.storage.list(f"{self.steps_rel}/{self.owner}"))
        if set(run_steps) <= done:
            return self.release()
        return False


@contextlib.contextmanager
def hold(storage: Storage, name: str, owner: str, step: str, run_steps: list[str],
         wait_s: float | None = None) -> Iterator[CollectionLock]:
    """Run one stage of run ``owner`` under the collection's lock (see the module docstring)."""
    lock = CollectionLock(storage, name, owner)
    lock.acquire(wait_s)
    try:
        with lock.heartbeat():
            yield lock
    except BaseException:
        try:
            lock.release()  # the rest of this run is skipped: let the next run start now
        except Exception as exc:  # storage down: the stage's own error is the one to report
            log.warning("could not release the lock of %s (%s); it expires %.0f s after its last heartbeat",
                        name, exc, lock.stale_s)
        raise
    try:
        lock.finish_step(step, run_steps)
    except Exception as exc:  # the stage's work is done and written; only the bookkeeping failed
        log.warning("could not record step %s of run %s in the lock of %s (%s); the lock expires %.0f s after "
                    "its last heartbeat", step, owner, name, exc, lock.stale_s)


def describe(storage: Storage, name: str) -> str:
    """One line on who holds a collection's lock (for error messages and the CLI)."""
    info = CollectionLock(storage, name, "-").read()
    return "free" if info is None else json.dumps(info, sort_keys=True)
