"""What a test module may leave behind that slows or breaks the modules after it, found at its end.

Processes: a webserver, daemon, code server, dask worker or database a fixture did not stop keeps
eating CPU for the rest of the session and slows every later test (suspected, never reproduced, when a
58 s dask test took 554 s in one suite run): found and killed here, it fails the module that left it.
Every process the suite starts inherits ``MARK`` (tests' child environments copy ``os.environ``);
one whose parent died is reparented away from pytest, so the mark finds it where the process tree
does not.
"""

from __future__ import annotations

import os
import time

import psutil

MARK = "TESTS_CVIZ_SESSION"  # not CVIZ_*: `child_env` strips those, and it is no cviz setting

# Helpers that Python libraries keep for the whole process by design, idle between uses.
SESSION_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver", "joblib.externals.loky",
                   "loky.backend")


def mark_session() -> None:
    """Label this process's environment, so every process started from now on carries the label."""
    os.environ[MARK] = str(os.getpid())


def _marked(proc: psutil.Process, session: str) -> bool:
    try:
        return proc.environ().get(MARK) == session
    except (psutil.Error, OSError):
        return False


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return "?"


def running_children() -> list[psutil.Process]:
    """This session's processes still running, other than pytest itself and ``SESSION_HELPERS``."""
    me = psutil.Process()
    session = os.environ.get(MARK, str(me.pid))
    found = {p.pid: p for p in me.children(recursive=True)}
    for p in psutil.process_iter():
        if p.pid not in found and p.pid != me.pid and _marked(p, session):
            found[p.pid] = p
    alive = []
    for p in found.values():
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if not any(h in _cmdline(p) for h in SESSION_HELPERS):
            alive.append(p)
    return alive


def stop_leftovers(grace: float = 15.0) -> list[str]:
    """Give this session's leftover processes ``grace`` seconds to exit, then kill them; describe each
    one that was still running (an empty list: nothing was left)."""
    alive = running_children()
    if not alive:
        return []
    gone, alive = psutil.wait_procs(alive, timeout=grace)
    described = []
    for p in alive:
        try:
            described.append(f"pid {p.pid} (running {int(time.time() - p.create_time())} s): {_cmdline(p)[:300]}")
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=10)
    return described
