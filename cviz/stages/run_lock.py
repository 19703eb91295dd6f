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

``collections/<name>/lock.json`` holds ``{"owner": <run id>, "run", "pid", "host", "acquired", "heartbeat"}``
(beside the collection's other intermediates, so a storage error on it names the collection's
folder); ``collections/<name>/lock-steps/<run id>/<step>`` records the run's finished steps.

The lock lives as long as its run. It is taken once per run: by the command line before it
registers the collection (``cviz run``), else by the run's first stage; every later stage of the
run re-enters it (same owner; they may be separate processes) and refreshes the heartbeat while it
works. It is released by whatever ends the run:
- success: the run's last step finds every step of the run finished and removes it;
- a step that fails for good (a user error, its last retry): it counts itself and the steps
  Dagster will skip below it as finished, so the last step of the run that does run removes it. A
  step that fails and will be retried leaves the lock and the run's markers alone (its retry
  finishes the step);
- an interrupt (SIGINT, SIGTERM, a terminated run): removed at once, the run stops;
- whoever ends the run outside a step: the CLI's ``finally``, the ``release_run_locks`` run-status
  sensors (cviz_assets/sensors.py) for runs that ended any other way.
A lock whose owner is dead is broken at once by the next run, without waiting: the process that
holds it is gone (same host, ``pid`` no longer running: kill -9, OOM), or the owner's run has
finished (``owner_done``, the Dagster instance's word). A lock whose heartbeat is older than
``stale_s`` belongs to a run that died where neither can be seen (another machine) and is taken
over.

Atomicity: on a local root the check-and-claim runs under ``fcntl.flock`` on a sibling file, so
two processes on the machine cannot both claim. On object storage there is no lock primitive
through fsspec: the claim is written, left to settle, and read back (best effort; rely on the
Dagster queue there).
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import socket
import threading
import time
from typing import Any, Callable, Iterable, Iterator

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
                 heartbeat_s: float | None = None, run: str | None = None,
                 owner_done: Callable[[dict[str, Any]], bool] | None = None) -> None:
        self.storage = storage
        self.name = validate_collection_name(name)
        self.owner = str(owner)
        self.run = str(run or owner)  # the run itself (a retried run shares its root run's ``owner``)
        self.owner_done = owner_done  # True when the holder's run is known to have ended
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
        """The holder is dead: its heartbeat is too old, its process is gone, or its run has ended."""
        if time.time() - float(info.get("heartbeat") or 0.0) > self.stale_s:
            return True
        if owner_process_gone(info):
            return True
        if self.owner_done is not None:
            try:
                return bool(self.owner_done(info))
            except Exception:  # the instance unreachable: only the heartbeat can tell
                return False
        return False

    # -- claiming ----------------------------------------------------------------------------
    def _mutex(self) -> contextlib.AbstractContextManager[None]:
        return self.storage.mutex(f"{self.rel}.mutex")

    def _record(self, acquired: float | None = None) -> dict[str, Any]:
        now = time.time()
        return {"owner": self.owner, "run": self.run, "pid": run_process_id(), "host": socket.gethostname(),
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
            f"({self.storage.url(self.rel)}) is taken over at once when its process is gone from this machine "
            f"or its run has ended, else {self.stale_s:.0f} s after its last heartbeat."
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

    def release(self, run: str | None = None) -> bool:
        """Remove the lock if it is still ours (and, given ``run``, still held by that run: a retry of
        a failed run shares its owner and must keep the lock it took meanwhile)."""
        with self._mutex():
            current = self.read()
            if current is None or current.get("owner") != self.owner:
                return False
            if run is not None and current.get("run") not in (None, run):
                return False
            self._clear_steps()
            self.storage.remove_tree(self.rel)
            return True

    # -- run bookkeeping ---------------------------------------------------------------------
    def _clear_steps(self) -> None:
        self.storage.remove_tree(self.steps_rel)

    def finish_step(self, step: str | Iterable[str], run_steps: list[str]) -> bool:
        """Record ``step`` (or several) as done; release the lock when all of ``run_steps`` are. True if released.

        Each step writes its marker before it lists the others, so of two steps finishing at once
        at least the later one sees both markers.
        """
        for name in [step] if isinstance(step, str) else list(step):
            self.storage.write_bytes(f"{self.steps_rel}/{self.owner}/{name}", b"")  # paths.lock_step
        done = set(self.storage.list(f"{self.steps_rel}/{self.owner}"))
        if set(run_steps) <= done:
            return self.release()
        return False


def run_process_id() -> int:
    """The process that lives as long as the run: this one, or the parent of a step process that
    Dagster's multiprocess executor started (the run worker), so that a step process ending is
    not taken for its run dying."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def owner_process_gone(info: dict[str, Any]) -> bool:
    """True when the lock's holder ran on this machine and its process no longer exists (kill -9)."""
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` runs on this machine (signal 0 checks without sending anything).

    A zombie (state ``Z`` in ``/proc/<pid>/stat``: dead, not yet reaped) counts as dead: a worker whose
    parent was killed is re-parented to PID 1, and a container's PID 1 that is no init never reaps it."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read(4096).rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (not Linux): signal 0 is all there is
        return True
    return state not in (b"Z", b"X")


def _is_interrupt(exc: BaseException) -> bool:
    """KeyboardInterrupt, SystemExit, Dagster's execution interrupt: not an ``Exception``."""
    return not isinstance(exc, Exception) or any(c.__name__ == "DagsterExecutionInterruptedError"
                                                 for c in type(exc).__mro__)


@contextlib.contextmanager
def hold(storage: Storage, name: str, owner: str, step: str, run_steps: list[str],
         wait_s: float | None = None, *, skipped_below: Iterable[str] = (),
         retried: Callable[[BaseException], bool] = lambda exc: False, run: str | None = None,
         owner_done: Callable[[dict[str, Any]], bool] | None = None) -> Iterator[CollectionLock]:
    """Run one stage of run ``owner`` under the collection's lock (see the module docstring).

    ``skipped_below``: the run's steps that do not run when this one fails (downstream of it);
    ``retried(exc)``: whether this failure will be retried (then the lock stays as it is).
    """
    lock = CollectionLock(storage, name, owner, run=run, owner_done=owner_done)
    lock.acquire(wait_s)
    try:
        with lock.heartbeat():
            yield lock
    except BaseException as exc:
        _after_failure(lock, exc, step, run_steps, skipped_below, retried)
        raise
    try:
        lock.finish_step(step, run_steps)
    except Exception as exc:  # the stage's work is done and written; only the bookkeeping failed
        log.warning("could not record step %s of run %s in the lock of %s (%s); the lock expires %.0f s after "
                    "its last heartbeat", step, owner, name, exc, lock.stale_s)


def _after_failure(lock: CollectionLock, exc: BaseException, step: str, run_steps: list[str],
                   skipped_below: Iterable[str], retried: Callable[[BaseException], bool]) -> None:
    """An interrupt ends the run: release now. A failure that will be retried: nothing (the retry
    finishes the step). A final failure: this step and those skipped below it count as finished."""
    try:
        if _is_interrupt(exc):
            lock.release()
        elif not retried(exc):
            lock.finish_step([step, *skipped_below], run_steps)
    except Exception as err:  # storage down: the stage's own error is the one to report
        log.warning("could not release the lock of %s (%s); it is broken when its run is seen ended, or %.0f s "
                    "after its last heartbeat", lock.name, err, lock.stale_s)


def describe(storage: Storage, name: str) -> str:
    """One line on who holds a collection's lock (for error messages and the CLI)."""
    info = CollectionLock(storage, name, "-").read()
    return "free" if info is None else json.dumps(info, sort_keys=True)
