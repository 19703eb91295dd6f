"""How a run ends, end to end through `cviz run` (a child process with the fake feature extractor):
an interrupt stops the run and publishes nothing, the collection's lock never outlives its run
(interrupt, kill -9, a retried step, a failed step), and the last line names what actually failed.

Each run is the tiny noise-image collection of tests/test_interruptions.py (6 published, 2 added).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cviz.stages import run_lock
from cviz.storage import open_storage
from tests.conftest import REPO, child_env
from tests.test_interruptions import NAME, published_v1, viewer_state, write_images  # noqa: F401 - a fixture

FAST = {"CVIZ_STEP_RETRY_DELAY_S": "0.05", "CVIZ_LOCK_WAIT_S": "0"}


def cli_child(root: Path, folder: Path, extra: list[str] | None = None, env: dict | None = None,
              name: str = NAME, umask: int | None = None) -> subprocess.Popen:
    full = child_env(CVIZ_STORAGE_ROOT=str(root), PYTHONPATH=str(REPO), **{**FAST, **(env or {})})
    return subprocess.Popen([sys.executable, "-m", "tests.bad_input.cli_child", "run", "-id", name, "-imagedir",
                             str(folder), *(extra or [])], cwd=REPO, env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def blocked_child(root: Path, folder: Path, stage: str, marker: Path, **kw) -> subprocess.Popen:  # noqa: ANN003
    proc = cli_child(root, folder, env={"CHILD_BLOCK": stage, "CHILD_MARKER": str(marker), **kw.pop("env", {})}, **kw)
    deadline = time.time() + 180
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"child exited {proc.returncode} before {stage}:\n{out[-2000:]}\n{err[-3000:]}")
        assert time.time() < deadline, "the child never reached " + stage
        time.sleep(0.05)
    return proc


def lock_of(root: Path) -> dict | None:
    return run_lock.CollectionLock(open_storage(str(root)), NAME, "-").read()


def test_an_interrupted_cviz_run_stops_publishes_nothing_and_leaves_no_lock(published_v1, tmp_path: Path) -> None:  # noqa: F811
    """Ctrl-C in mosaic (SIGTERM: test_a_terminated_run_ends_canceled_not_success)."""
    root, folder, before = published_v1
    write_images(folder, 6, 2)  # the interrupted run would publish 8 items
    proc = blocked_child(root, folder, "mosaic", tmp_path / "in-mosaic")
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out[-2000:], err[-3000:])  # not retried, not published, not exit 0
    assert err.strip().splitlines()[-1].endswith("interrupted: stopped, nothing published (the previous map, if any, "
                                                 "stays live)"), err[-2000:]
    assert "publish" not in out and "mosaic         done" not in out  # no later step ran
    assert viewer_state(root, NAME) == before
    assert lock_of(root) is None
    rerun = cli_child(root, folder)  # and nothing is in the way of the next run (CVIZ_LOCK_WAIT_S=0)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    assert viewer_state(root, NAME)["items"]["count"] == 8


def test_kill_9_of_a_cviz_run_never_blocks_the_next_run(published_v1, tmp_path: Path) -> None:  # noqa: F811
    root, folder, before = published_v1
    write_images(folder, 6, 2)
    proc = blocked_child(root, folder, "dzi", tmp_path / "in-dzi")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert viewer_state(root, NAME) == before
    assert lock_of(root)["pid"] == proc.pid  # what kill -9 leaves: the lock of a process that is gone
    started = time.monotonic()
    rerun = cli_child(root, folder, env={"CVIZ_LOCK_STALE_S": "600"})  # no waiting for a stale heartbeat
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    assert "being built by another run" not in err and time.monotonic() - started < 120
    assert viewer_state(root, NAME)["items"]["count"] == 8 and lock_of(root) is None


def test_a_retried_step_leaves_no_lock(published_v1) -> None:  # noqa: F811
    root, folder, _ = published_v1
    write_images(folder, 6, 2)
    proc = cli_child(root, folder, env={"CHILD_FAIL_ONCE": "dzi"})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert viewer_state(root, NAME)["items"]["count"] == 8
    assert lock_of(root) is None


def test_the_last_line_names_the_failed_step_not_the_warn_check(published_v1, tmp_path: Path) -> None:  # noqa: F811
    """A storage failure in `tsne` with a skipped (corrupt) image in the folder: the WARN check
    catalogue_complete fails too, but the run failed because of the step, and says so."""
    root, folder, before = published_v1
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    proc = cli_child(root, folder, env={"CHILD_FAIL_ONCE": "tsne", "CVIZ_STEP_RETRIES": "0"})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    lines = err.strip().splitlines()
    assert lines[-1].startswith("cviz: run ") and "failed: tsne: OSError: [Errno 5] Input/output error" in lines[-1], lines[-1]
    assert "catalogue_complete" not in lines[-1]
    assert any(line.startswith("cviz: warning: check catalogue_complete on images failed: 1 file skipped")
               for line in lines), err[-2000:]
    assert viewer_state(root, NAME) == before and lock_of(root) is None


def test_a_terminated_run_ends_canceled_not_success(published_v1, tmp_path: Path) -> None:  # noqa: F811
    """As `dagster run terminate` (and the daemon's run launcher) do it: the run is marked CANCELING
    in the instance, then its process gets SIGTERM. It ends CANCELED, with no step retried."""
    import dagster as dg

    root, folder, before = published_v1
    write_images(folder, 6, 2)
    home = tmp_path / "home"
    home.mkdir()
    proc = blocked_child(root, folder, "mosaic", tmp_path / "in-mosaic", env={"DAGSTER_HOME": str(home)})
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        instance.report_run_canceling(run)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err[-3000:]
        run = instance.get_run_by_id(run.run_id)
        assert run.status == dg.DagsterRunStatus.CANCELED
        kinds = [r.dagster_event.event_type_value for r in instance.all_logs(run.run_id) if r.dagster_event]
        assert "STEP_UP_FOR_RETRY" not in kinds and "STEP_RESTARTED" not in kinds
        steps = {r.dagster_event.step_key for r in instance.all_logs(run.run_id) if r.dagster_event
                 and r.dagster_event.event_type_value == "STEP_START"}
        assert "publish" not in steps and "dzi" not in steps
    assert viewer_state(root, NAME) == before and lock_of(root) is None
