"""Is a run that the instance still calls in progress really alive? Judged from its collection's lock.

Why: with Dagster's default run launcher (a run worker process beside the code server), nothing
watches the worker. ``kill -9`` of the daemon's process group, an out-of-memory kill or a lost
machine leaves the run STARTED for ever: run monitoring only fails runs stuck in STARTING (the
launcher cannot report a worker's health), and the one-run-per-collection queue limit then holds
every later run of that collection in QUEUED. Every stage of a collection run holds the collection's
lock (cviz.stages.run_lock) and refreshes its heartbeat every few seconds, so the lock says whether
the worker still works:

- the run's worker process (known when Dagster's default run launcher started it on this machine)
  no longer exists: dead now; while it exists, alive, whatever the lock says;
- otherwise, the lock is the run's and its heartbeat is older than ``stale_s``: dead;
- the run holds no lock (killed before its first stage took it, or stuck launching) and nothing
  happened in it (no event, no heartbeat) for ``idle_s``: dead.

Between two stages of a live run the lock stays held (only the run's last stage releases it), and a
run waiting for another run's lock fails by itself after ``$CVIZ_LOCK_WAIT_S`` (30 s), well inside
``idle_s``: neither is judged dead. Plain functions; the sensor that acts on the verdict is
``cviz_assets/run_health.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cviz.settings import settings
from cviz.stages.run_lock import CollectionLock, pid_alive
from cviz.storage import Storage


@dataclass(frozen=True)
class Verdict:
    """``dead``; ``reason`` (one line, for the run's failure event and the alert); ``held_lock``:
    the run held the collection's lock (it had started work), so releasing the lock frees the collection."""

    dead: bool
    reason: str = ""
    held_lock: bool = False


def judge(lock: dict[str, Any] | None, owner: str, last_sign: float, now: float, stale_s: float, idle_s: float,
          worker_pid: int | None = None) -> Verdict:
    """The verdict on one in-progress run.

    Parameters
    ----------
    lock : the collection's lock record (``CollectionLock.read``), or None when there is none.
    owner : the run's lock owner (its root run id, as ``cviz_assets.collection_lock.lock_owner``).
    last_sign : epoch seconds of the run's last sign of life known to the instance (start, last event).
    now : epoch seconds now.
    stale_s : a held lock whose heartbeat is older than this belongs to a dead worker (``CVIZ_LOCK_STALE_S``).
    idle_s : a run without the lock and without any sign of life for this long is dead.
    worker_pid : the run worker's pid when it runs on this machine (Dagster's default run launcher
        starts it beside the code server that evaluates the sensor), else None. Known, it decides
        alone: a live worker may hold the lock without heartbeat for long (waiting for a pool slot
        between steps), and the lock's pid is a step's process under the multiprocess executor.
    """
    held = lock is not None and lock.get("owner") == owner
    if worker_pid is not None:
        if pid_alive(worker_pid):
            return Verdict(False)
        return Verdict(True, f"its run worker (pid {worker_pid}) no longer exists", held)
    if held:
        age = now - float(lock.get("heartbeat") or 0.0)
        if age > stale_s:
            return Verdict(True, f"its worker (pid {lock.get('pid')} on {lock.get('host')}) stopped: last "
                                 f"heartbeat {age:.0f} s ago (more than {stale_s:.0f} s)", True)
        return Verdict(False)
    idle = now - last_sign
    if idle > idle_s:
        return Verdict(True, f"no worker holds its collection and nothing happened in it for {idle:.0f} s "
                             f"(more than {idle_s:.0f} s): killed or lost before its first stage")
    return Verdict(False)


def judge_collection_run(storage: Storage, collection: str, owner: str, last_sign: float, now: float,
                         idle_s: float | None = None, worker_pid: int | None = None) -> Verdict:
    """``judge`` with the collection's lock read from ``storage`` and the lock settings in force."""
    s = settings()
    lock = CollectionLock(storage, collection, owner).read()
    # A live run without the lock is one waiting for another run's lock: it gives up after lock_wait_s.
    idle = idle_s if idle_s is not None else max(2 * s.lock_stale_s, s.lock_wait_s + s.lock_stale_s)
    return judge(lock, owner, last_sign, now, s.lock_stale_s, idle, worker_pid)


def release_dead_lock(storage: Storage, collection: str, owner: str) -> bool:
    """Remove the collection's lock if the dead run ``owner`` still holds it (never another run's)."""
    return CollectionLock(storage, collection, owner).release()
