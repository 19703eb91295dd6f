"""Step start-up: which executor each job gets, the forkserver preload, and
TensorFlow's start-up chatter dropped without hiding anything else written to stderr.

The speed itself is a benchmark (benchmarks/ui_vs_cli.py), not a timed test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cviz_assets.tf_quiet import filter_startup_chatter
from tests.conftest import REPO

# Lines TensorFlow 2.21 printed on this machine at import (tests/test_executors.py's fixture text).
CHATTER = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796161029.555198   30946 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results due to floating-point round-off errors from different computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796161036.992316   31052 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
"""


def test_every_job_runs_in_process_and_only_the_fan_out_from_a_preloaded_forkserver() -> None:
    """The asset graph's "Materialize" (Dagster's implicit ``__ASSET_JOB``), the Launchpad, sensors and
    schedules run with the code location's default executor: it must be the in-process one the CLI
    uses, not one process per step."""
    from types import SimpleNamespace

    from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME

    from cviz_assets.definitions import defs
    from cviz_assets.executors import PRELOAD_MODULE, QuietInProcessExecutor, executor_from_env

    for job in (IMPLICIT_ASSET_JOB_NAME, "build_collection", "recheck_published", "retire_collection"):
        assert defs.resolve_job_def(job).executor_def.name == "in_process", job
    executor = executor_from_env().executor_creation_fn(SimpleNamespace(executor_config={"retries": {"enabled": {}}}))
    assert isinstance(executor, QuietInProcessExecutor)
    multi = defs.resolve_job_def("features_chunks").executor_def
    assert multi.name == "multiprocess"
    # ``configured``: the forkserver start method with our preload module is fixed for every run.
    resolved = multi.apply_config_mapping({}).value["config"]
    assert resolved["start_method"] == {"forkserver": {"preload_modules": [PRELOAD_MODULE]}}
    assert Path(REPO / (PRELOAD_MODULE.replace(".", "/") + ".py")).exists()


def test_an_explicit_executor_applies_to_every_job(monkeypatch) -> None:
    from cviz_assets.executors import executor_from_env, fan_out_executor

    monkeypatch.setenv("CVIZ_EXECUTOR", "multiprocess_spawn")
    assert fan_out_executor() is None  # the code location's executor, i.e. the one asked for
    assert executor_from_env() is __import__("dagster").multiprocess_executor


def test_loading_the_code_location_does_not_import_dask() -> None:
    code = "import sys, cviz_assets.definitions; print('dask' in sys.modules, 'dagster_dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(REPO), "CVIZ_EXECUTOR": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]


def test_startup_chatter_is_dropped_and_everything_else_kept() -> None:
    real = "W0000 00:00:1796161040.1 12 some_op.cc:42] Out of memory while allocating 4 GiB: a real warning\n"
    kept = filter_startup_chatter(CHATTER + real + "plain stderr text\n")
    assert kept == real + "plain stderr text\n"


def test_quiet_import_drops_chatter_written_to_fd2_and_keeps_a_real_warning(tmp_path: Path) -> None:
    (tmp_path / "noisy_mod.py").write_text(
        "import os\n"
        f"os.write(2, {CHATTER.encode()!r})\n"
        "os.write(2, b'noisy_mod: a real warning\\n')\n"
    )
    code = "from cviz_assets.tf_quiet import quiet_import; quiet_import('noisy_mod'); import noisy_mod; print('imported')"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": f"{REPO}:{tmp_path}"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported"
    assert out.stderr == "noisy_mod: a real warning\n"


def test_tensorflow_imports_quietly() -> None:
    code = ("from cviz_assets.tf_quiet import quiet_import; quiet_import('tensorflow'); import tensorflow as tf; "
            "print(int(tf.reduce_sum(tf.ones(3))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "3"
    assert "oneDNN" not in out.stderr and "absl::InitializeLog" not in out.stderr, out.stderr


def test_the_run_process_imports_tensorflow_only_for_a_keras_model(monkeypatch) -> None:
    """Lite0 on LiteRT (the default) is converted in a child process and cached: the run's process needs
    no TensorFlow, and importing it anyway made every UI run slower than `cviz run` (whose
    execute_in_process never did)."""
    from cviz_assets.executors import features_import_tensorflow

    for name in ("CVIZ_MODEL", "CVIZ_WEIGHTS", "CVIZ_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    assert not features_import_tensorflow()
    monkeypatch.setenv("CVIZ_BACKEND", "keras")
    assert features_import_tensorflow()
    monkeypatch.setenv("CVIZ_BACKEND", "auto")
    monkeypatch.setenv("CVIZ_MODEL", "vgg16")
    assert features_import_tensorflow()
