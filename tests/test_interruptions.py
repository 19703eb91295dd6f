"""Interruptions: kill -9 mid-stage, disk full, and two runs of one collection at once.

Each kill test builds a published collection (version 1), adds images, starts a second run in a
child process that stops at a chosen write inside the stage under test (tests/bad_input/killable.py:
half a temporary file written, as a real write cut short), kills it with SIGKILL, then checks
that what the viewer reads (current.json -> map.dzi + every tile + items.json) is still version 1,
complete, and that a re-run succeeds and publishes the new images.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from cviz.errors import CollectionBusy, StorageFull
from cviz.stages import run_lock
from cviz.storage import Storage, open_storage
from tests.bad_input import images as corpus
from tests.bad_input.stages import STAGES, register, run_all

REPO = Path(__file__).resolve().parents[1]
NAME = "killme"


def write_images(folder: Path, start: int, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (folder / f"img-{i:03d}.jpg").write_bytes(corpus._jpeg(corpus.noise((64, 48), 500 + i)))


def viewer_state(root: Path, name: str) -> dict:
    """Everything the viewer loads, checked complete; returns the pointer and the items document."""
    pub = root / "published" / name
    pointer = json.loads((pub / "current.json").read_text())
    assert pointer["dzi"].split("/")[0] == pointer["items"].split("/")[0], pointer  # one version, never mixed
    items = json.loads((pub / pointer["items"]).read_text())
    dzi = ET.parse(pub / pointer["dzi"]).getroot()
    size = dzi.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    width, height, tile = int(size.get("Width")), int(size.get("Height")), int(dzi.get("TileSize"))
    grid = items["grid"]
    assert (width, height) == (grid["cols"] * grid["cell_width"], grid["rows"] * grid["cell_height"])
    files = (pub / pointer["dzi"]).with_name("map_files")
    top = math.ceil(math.log2(max(width, height)))
    for level in range(top + 1):
        scale = 2 ** (top - level)
        lw, lh = math.ceil(width / scale), math.ceil(height / scale)
        for r in range(math.ceil(lh / tile)):
            for c in range(math.ceil(lw / tile)):
                with Image.open(files / str(level) / f"{c}_{r}.jpg") as im:
                    im.load()  # every tile exists and decodes whole
    assert len(items["fields"]["id"]) == items["count"] == len(set(items["fields"]["cell"]))
    for rel in items["fields"]["image"]:
        assert (pub / pointer["items"]).parent.joinpath(rel).resolve().is_file()
    return {"pointer": pointer, "items": items}


@pytest.fixture()
def published_v1(tmp_path: Path) -> tuple[Path, Path, dict]:
    folder = tmp_path / "images"
    write_images(folder, 0, 6)
    root = tmp_path / "root"
    register(open_storage(str(root)), {"name": NAME, "images": str(folder)})
    run_all(open_storage(str(root)), NAME)
    return root, folder, viewer_state(root, NAME)


def start_child(root: Path, mode: str, stages: list[str], block: dict[str, str], extra_env: dict | None = None,
                name: str = NAME) -> subprocess.Popen:
    env = {**os.environ, **{f"BLOCK_{k.upper()}": str(v) for k, v in block.items()}, **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", "tests.bad_input.killable", str(root), name, mode, *stages],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited ({proc.returncode}) before blocking:\n{proc.stdout.read()[-3000:]}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("child never reached the blocking write")
        time.sleep(0.05)


BLOCK_AT = {  # stage -> (path fragment, which matching write)
    "features": ("features.npy", 1),
    "tsne": ("tsne.npy", 1),
    "grid": ("grid.json", 1),
    "mosaic": ("/map_files/", 3),
    "dzi": ("/map_files/", 3),
    "metadata_json": ("items.json", 1),
    "publish": ("current.json", 1),
}


@pytest.mark.parametrize("stage", list(BLOCK_AT))
def test_kill_9_mid_stage_keeps_the_published_map_and_a_rerun_succeeds(published_v1, tmp_path: Path, stage: str) -> None:
    root, folder, before = published_v1
    write_images(folder, 6, 2)  # the interrupted run would publish 8 items
    match, nth = BLOCK_AT[stage]
    marker = tmp_path / "blocked"
    proc = start_child(root, "stages", STAGES, {"stage": stage, "match": match, "nth": nth, "marker": marker})
    wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # Between the kill and the re-run, the viewer still reads version 1, whole.
    after_kill = viewer_state(root, NAME)
    assert after_kill["pointer"] == before["pointer"] and after_kill["items"] == before["items"]
    leftovers = [p for p in root.rglob(".tmp-*")]
    assert leftovers, "the child should have left a cut-short temporary file"
    for p in leftovers:  # age them past the clean-up threshold
        os.utime(p, (time.time() - 7200, time.time() - 7200))

    run_all(open_storage(str(root)), NAME)
    rerun = viewer_state(root, NAME)
    assert rerun["items"]["count"] == 8 and rerun["pointer"]["items"] != before["pointer"]["items"]
    assert [p for p in (root / "collections" / NAME).glob(".tmp-*")] == []  # stale temporaries cleaned
    assert not [p for p in leftovers if p.exists() and "/collections/" in str(p)]


def test_kill_9_in_dagster_run_then_the_dead_runs_lock_is_broken_at_once(published_v1, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The same through the real Dagster assets: the killed run's lock names its process; that process
    is gone from this machine, so a re-run breaks the lock at once (no wait for the heartbeat to go
    stale, no 'being built by another run') and publishes."""
    import dagster as dg

    from cviz_assets import assets
    from tests.conftest import resources

    root, folder, before = published_v1
    write_images(folder, 6, 2)
    storage = open_storage(str(root))
    run_all(storage, NAME, stages=STAGES[:5])  # images..grid for 8 items; the child runs the rest
    marker = tmp_path / "blocked"
    proc = start_child(root, "dagster", ["mosaic", "dzi", "metadata_json", "publish"],
                       {"stage": "dzi", "match": "/map_files/", "nth": 2, "marker": marker})
    wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert viewer_state(root, NAME) == before

    monkeypatch.setenv("CVIZ_LOCK_STALE_S", "600")  # the heartbeat is fresh: only the dead process tells
    monkeypatch.setenv("CVIZ_LOCK_WAIT_S", "0")
    holder = run_lock.CollectionLock(storage, NAME, "-").read()
    assert holder and holder["pid"] == proc.pid  # the dead run's lock is still there
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [NAME])
    selected = [assets.mosaic, assets.dzi, assets.metadata_json, assets.publish]
    started = time.monotonic()
    rerun = dg.materialize(selected, partition_key=NAME, instance=instance, resources=resources(root))
    assert rerun.success and time.monotonic() - started < 60
    assert viewer_state(root, NAME)["items"]["count"] == 8
    assert run_lock.CollectionLock(storage, NAME, "-").read() is None  # released by the run's last step


def test_a_lock_held_from_another_machine_waits_for_its_heartbeat(tmp_path: Path) -> None:
    """Where the holder's process cannot be seen (another host), only a stale heartbeat breaks the lock."""
    storage = open_storage(str(tmp_path))
    storage.write_json(run_lock.CollectionLock(storage, "two", "-").rel,
                       {"owner": "far-run", "run": "far-run", "pid": 1, "host": "another-machine",
                        "acquired": time.time(), "heartbeat": time.time()})
    here = run_lock.CollectionLock(storage, "two", "new-run", stale_s=0.5)
    with pytest.raises(CollectionBusy, match=r"far-run, pid 1 on another-machine"):
        here.acquire(wait_s=0)
    time.sleep(0.7)
    here.acquire(wait_s=0)
    assert here.read()["owner"] == "new-run"


def test_a_lock_of_a_dead_process_or_an_ended_run_is_broken_at_once(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    storage.write_json(run_lock.CollectionLock(storage, "two", "-").rel,
                       {"owner": "killed", "pid": int(dead.stdout), "host": run_lock.socket.gethostname(),
                        "acquired": time.time(), "heartbeat": time.time()})
    run_lock.CollectionLock(storage, "two", "next", stale_s=600).acquire(wait_s=0)  # the pid is gone: taken
    ended = run_lock.CollectionLock(storage, "two", "after", stale_s=600, owner_done=lambda info: info["run"] == "next")
    ended.acquire(wait_s=0)  # "next" runs in this (live) process, but its run has ended
    assert ended.read()["owner"] == "after"
    alive = run_lock.CollectionLock(storage, "two", "third", stale_s=600, owner_done=lambda info: False)
    with pytest.raises(CollectionBusy):
        alive.acquire(wait_s=0)


# -- disk full -------------------------------------------------------------------------------
class FullDisk:
    """os.fdopen stand-in: files under ``map_files`` fail with ENOSPC after ``allow`` writes."""

    def __init__(self, real, allow: int) -> None:
        self.real, self.allow, self.calls = real, allow, 0

    def __call__(self, fd, *args, **kwargs):
        f = self.real(fd, *args, **kwargs)
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if "/map_files/" not in target:
            return f
        self.calls += 1
        if self.calls <= self.allow:
            return f
        class Wrapper:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()
                return False

            def write(self, data):
                f.write(data[: len(data) // 3])
                raise OSError(errno.ENOSPC, "No space left on device")

        return Wrapper()


@pytest.mark.parametrize("stage", ["mosaic", "dzi"])
def test_disk_full_while_writing_tiles(published_v1, stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root, folder, before = published_v1
    write_images(folder, 6, 2)
    storage = open_storage(str(root))
    stages_before = STAGES[: STAGES.index(stage)]
    run_all(storage, NAME, stages=stages_before)
    versions_before = sorted(p.name for p in (root / "published" / NAME).iterdir() if p.is_dir())
    monkeypatch.setattr(os, "fdopen", FullDisk(os.fdopen, allow=2))
    with pytest.raises(StorageFull) as err:
        run_all(storage, NAME, stages=[stage])
    monkeypatch.undo()
    msg = str(err.value)
    assert msg.startswith("storage full: no space left") and "/map_files/" in msg and "published map is unchanged" in msg
    assert viewer_state(root, NAME) == before
    assert list((root / "published" / NAME).rglob(".tmp-*")) == []  # no half-written temporaries left
    versions_after = sorted(p.name for p in (root / "published" / NAME).iterdir() if p.is_dir())
    if stage == "mosaic":  # its unpublished, partial version is removed (space given back)
        assert versions_after == versions_before
    run_all(storage, NAME, stages=STAGES[STAGES.index(stage):])  # space freed: the re-run publishes
    assert viewer_state(root, NAME)["items"]["count"] == 8


def test_disk_full_through_dagster_names_the_problem(published_v1, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from cviz_assets import assets
    from tests.conftest import resources

    root, folder, before = published_v1
    live = json.loads((root / "published" / NAME / "current.json").read_text())["dzi"].split("/")[0]
    (root / "published" / NAME / live / "cells.json").unlink()  # else `mosaic` links every tile, writes none
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [NAME])
    monkeypatch.setattr(os, "fdopen", FullDisk(os.fdopen, allow=0))
    result = dg.materialize([assets.mosaic, assets.dzi, assets.metadata_json, assets.publish], partition_key=NAME,
                            instance=instance, resources=resources(root), raise_on_error=False)
    monkeypatch.undo()
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["mosaic"]
    assert "storage full: no space left" in failures[0].step_failure_data.error.message
    assert viewer_state(root, NAME) == before
    assert run_lock.CollectionLock(open_storage(str(root)), NAME, "-").read() is None  # a failed step frees the lock


# -- two runs of one collection at once ----------------------------------------------------------
def test_lock_basics(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    a = run_lock.CollectionLock(storage, "two", "run-a", stale_s=30)
    b = run_lock.CollectionLock(storage, "two", "run-b", stale_s=30)
    a.acquire(wait_s=0)
    a.acquire(wait_s=0)  # re-entrant for the same run (its next stage)
    with pytest.raises(CollectionBusy) as err:
        b.acquire(wait_s=0.3, poll_s=0.1)
    assert "collection two is being built by another run (run-a" in str(err.value)
    assert a.finish_step("images", ["images", "features"]) is False  # the run is not over
    assert b.try_acquire() is not None
    assert a.finish_step("features", ["images", "features"]) is True  # its last step releases
    b.acquire(wait_s=0)
    assert b.read()["owner"] == "run-b"
    assert a.refresh() is False and a.release() is False  # never touches another run's lock


def test_stale_lock_is_taken_over(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    dead = run_lock.CollectionLock(storage, "two", "dead-run", stale_s=0.5)
    dead.acquire(wait_s=0)
    alive = run_lock.CollectionLock(storage, "two", "new-run", stale_s=0.5)
    with pytest.raises(CollectionBusy):
        alive.acquire(wait_s=0)
    time.sleep(0.7)
    alive.acquire(wait_s=0)
    assert alive.read()["owner"] == "new-run"


def test_heartbeat_keeps_a_long_stage_alive(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    holder = run_lock.CollectionLock(storage, "two", "slow-run", stale_s=0.6)
    holder.acquire(wait_s=0)
    other = run_lock.CollectionLock(storage, "two", "other-run", stale_s=0.6)
    with holder.heartbeat():
        time.sleep(1.2)  # twice the stale time: only the heartbeat keeps it held
        assert other.try_acquire() is not None


def test_many_processes_one_winner(tmp_path: Path) -> None:
    """Eight processes claim the same free lock at once: exactly one gets it (flock'ed claim). Each
    stays alive until all have tried (a holder whose process is gone would be taken over)."""
    done = tmp_path / "all-tried"
    code = ("import os, sys, time; from cviz.storage import open_storage; from cviz.stages import run_lock;"
            "l = run_lock.CollectionLock(open_storage(sys.argv[1]), 'race', sys.argv[2], stale_s=60);"
            "print('won' if l.try_acquire() is None else 'lost', flush=True)\n"
            "while not os.path.exists(sys.argv[3]): time.sleep(0.05)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "root"), f"run-{i}", str(done)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True) for i in range(8)]
    try:
        results = [p.stdout.readline().strip() for p in procs]
    finally:
        done.write_text("")
        for p in procs:
            p.communicate(timeout=60)
    assert results.count("won") == 1, results


def test_two_dagster_runs_of_one_collection(published_v1, tmp_path: Path) -> None:
    """Run A stops inside mosaic; run B of the same collection fails at once (no wait) naming A; a
    run C started with a wait gets the lock after A finishes. The published version is consistent."""
    root, folder, _ = published_v1
    write_images(folder, 6, 2)
    run_all(open_storage(str(root)), NAME, stages=STAGES[:5])
    marker, go = tmp_path / "a-blocked", tmp_path / "a-go"
    stages = ["mosaic", "dzi", "metadata_json", "publish"]
    a = start_child(root, "dagster", stages, {"stage": "mosaic", "match": "/map_files/", "nth": 2, "marker": marker,
                                              "go": go})
    wait_for(marker, a)
    b = start_child(root, "dagster", stages, {}, {"CVIZ_LOCK_WAIT_S": "0"})
    b_out = b.communicate(timeout=180)[0]
    assert b.returncode == 1, b_out
    assert "STEP_FAILURE mosaic:" in b_out and f"collection {NAME} is being built by another run (" in b_out
    c = start_child(root, "dagster", stages, {}, {"CVIZ_LOCK_WAIT_S": "120"})
    time.sleep(1.0)
    assert c.poll() is None  # waiting for A
    go.write_text("go")
    a_out = a.communicate(timeout=180)[0]
    c_out = c.communicate(timeout=180)[0]
    assert a.returncode == 0, a_out
    a_run = a_out.split("RUN_ID ")[1].split()[0]
    assert f"is being built by another run ({a_run}," in b_out  # B's error names the run holding the lock
    assert c.returncode == 0, c_out
    state = viewer_state(root, NAME)
    assert state["items"]["count"] == 8
    grid = json.loads((root / "collections" / NAME / "grid.json").read_text())
    catalogue = json.loads((root / "collections" / NAME / "images.json").read_text())
    usable = [e["file"] for e in catalogue["files"] if e["status"] == "usable"]
    # Each item at the cell the grid gave it (an item-to-cell mix-up between runs fails here).
    assert dict(zip(state["items"]["fields"]["id"], state["items"]["fields"]["cell"])) == dict(zip(usable, grid["cells"]))
    assert run_lock.CollectionLock(open_storage(str(root)), NAME, "-").read() is None


def test_lock_bookkeeping_failure_never_hides_the_stage_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage failing after a stage's work (e.g. S3 gone): a finished stage stays finished, a failed
    stage reports its own error, not the lock's."""
    storage = open_storage(str(tmp_path))
    real_write = Storage.write_bytes

    def flaky(self, rel, data):
        if "/lock-steps/" in rel:
            raise OSError(errno.EIO, "storage went away")
        return real_write(self, rel, data)

    monkeypatch.setattr(Storage, "write_bytes", flaky)
    with run_lock.hold(storage, "flaky", "run-1", "images", ["images", "features"]):
        pass  # finish_step fails to write its marker: logged, not raised
    monkeypatch.setattr(run_lock.CollectionLock, "release", lambda self: (_ for _ in ()).throw(OSError("gone")))
    with pytest.raises(ValueError, match="the stage's own error"):
        with run_lock.hold(storage, "flaky", "run-1", "features", ["images", "features"]):
            raise ValueError("the stage's own error")


# -- the lock lives as long as its run ------------------------------------------------------------
def test_a_step_retried_mid_run_leaves_no_lock(published_v1, monkeypatch: pytest.MonkeyPatch) -> None:
    """`dzi` fails once with a transient error and is retried: the run's earlier step (mosaic) stays
    counted, so the run's last step releases the lock (a release on the failed attempt used to clear
    the run's markers, and the lock was never released)."""
    import dagster as dg

    from cviz.stages import registry
    from cviz_assets import assets
    from tests.conftest import resources, short_step_retry_waits

    root, folder, _ = published_v1
    write_images(folder, 6, 2)
    run_all(open_storage(str(root)), NAME, stages=STAGES[:5])
    selected = [assets.mosaic, assets.dzi, assets.metadata_json, assets.publish]
    short_step_retry_waits(monkeypatch, selected)
    real, calls = registry.stage_dzi, []

    def stage_dzi(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "stage_dzi", stage_dzi)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [NAME])
    result = dg.materialize(selected, partition_key=NAME, instance=instance, resources=resources(root))
    assert result.success and len(calls) == 2
    assert viewer_state(root, NAME)["items"]["count"] == 8
    assert run_lock.CollectionLock(open_storage(str(root)), NAME, "-").read() is None


def test_a_failed_step_and_the_catalogue_check_after_it_leave_no_lock(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`features` fails for good (a user error): the steps below it are skipped, the WARN catalogue
    check still runs (and used to take the lock again for good); the run's last step releases it."""
    import dagster as dg

    from cviz.errors import CollectionError
    from cviz.stages import registry
    from cviz_assets.assets import collection_assets
    from cviz_assets.catalogue_checks import catalogue_checks
    from cviz_assets.checks import collection_checks
    from cviz_resources.model import FeatureModelResource
    from tests.bad_input.stages import FakeExtractor
    from tests.conftest import resources

    folder = tmp_path / "images"
    write_images(folder, 0, 4)
    (folder / "broken.jpg").write_bytes(b"not an image")  # the catalogue check fails (WARN) too
    root = tmp_path / "root"
    register(open_storage(str(root)), {"name": NAME, "images": str(folder)})
    monkeypatch.setattr(FeatureModelResource, "get", lambda self, cache_dir=None: FakeExtractor())

    def stage_features(*args, **kwargs):
        raise CollectionError(f"collection {NAME}: a user error in features")

    monkeypatch.setattr(registry, "stage_features", stage_features)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [NAME])
    result = dg.materialize([*collection_assets, *collection_checks, *catalogue_checks], partition_key=NAME,
                            instance=instance, resources=resources(root), raise_on_error=False)
    assert not result.success
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert [(ev.check_name, ev.passed) for ev in evaluations] == [("catalogue_complete", False)]
    assert run_lock.CollectionLock(open_storage(str(root)), NAME, "-").read() is None
