"""Where the steps of a run execute: one machine, or an existing distributed engine.

Chosen by environment when the code location loads, so the same asset graph runs anywhere
without code changes (README, "Scaling"):

- ``CVIZ_EXECUTOR`` unset (``auto``): every job runs in-process, the code location's default
  executor (``dg.Definitions(executor=...)``), so the asset graph's "Materialize" button (Dagster's
  implicit ``__ASSET_JOB``), the partition page, the Launchpad, sensors, schedules and ``cviz run``
  all execute a collection the same way (a chain of stages: a process per step buys nothing and
  cost each step 1.0-1.3 s of start-up). Only the ``features_chunks`` fan-out, whose steps are
  meant to run side by side, takes ``multiprocess`` below (``fan_out_executor``).
- ``CVIZ_EXECUTOR=multiprocess``: one process per step on the machine running the
  run, forked from a forkserver that has imported the definitions and TensorFlow once
  (``cviz_assets/preload.py``); ``multiprocess_spawn`` is Dagster's default, a fresh interpreter per
  step (each importing everything again: several seconds a step).
- ``CVIZ_EXECUTOR=dask``: dagster-dask. With ``CVIZ_DASK_ADDRESS=tcp://scheduler:8786`` the steps
  go to an existing Dask cluster (``cluster: existing``); without it a ``LocalCluster`` of
  ``CVIZ_DASK_WORKERS`` (default 2) single-threaded worker processes is started per run, for
  tests and demos on one machine. Either can be overridden per run in the Launchpad under
  ``execution: config: cluster:``.
- ``CVIZ_EXECUTOR=in_process``: everything in the run's process (debugging).

- ``CVIZ_EXECUTOR=celery`` (dagster-celery's ``celery_executor``, broker ``CVIZ_CELERY_BROKER``,
  backend ``CVIZ_CELERY_BACKEND``) and ``CVIZ_EXECUTOR=k8s`` (dagster-k8s's ``k8s_job_executor``,
  configured per run or by the K8sRunLauncher) when their library is installed; cviz does not
  install or test them (README, "Scaling").

Every worker needs: this package (same version) and its model weights package, the environment
above plus ``CVIZ_STORAGE_ROOT`` on S3 (and ``CVIZ_S3_ENDPOINT_URL``/AWS credentials), and access to
the persistent Dagster instance (PostgreSQL: deploy/dagster.postgres.yaml). dagster-dask cannot run
dynamic (``DynamicOut``) steps, so nothing in cviz uses them.
"""

from typing import Any

import dagster as dg

from dagster._core.definitions.executor_definition import IN_PROC_CONFIG
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.in_process import InProcessExecutor

from cviz.errors import CvizError
from cviz.settings import settings

# Loaded once in the forkserver of each run (see executor_from_env); every step process is a fork of it.
PRELOAD_MODULE = "cviz_assets.preload"


def __getattr__(name: str) -> Any:
    """``dask_executor`` / ``CvizDaskExecutor`` on first use only (dask costs about 1 s to import)."""
    if name in ("dask_executor", "CvizDaskExecutor"):
        from cviz_assets import dask_executor as module

        return getattr(module, name)
    raise AttributeError(name)


EXECUTORS = ("auto", "multiprocess", "multiprocess_spawn", "dask", "in_process", "celery", "k8s")


def features_import_tensorflow() -> bool:
    """True when the run's ``features`` step will load its model through Keras, i.e. import TensorFlow
    in the run's process. The default (Lite0 on LiteRT, converted once in a child process and
    cached) never does: importing TensorFlow there anyway cost every UI run 5-30 s (a third of a
    small collection's run on this machine) that ``cviz run`` never paid."""
    s = settings()
    lite = s.model.startswith("efficientnet_lite")
    return s.backend.strip().lower() == "keras" or not lite or s.weights == "random"


class QuietInProcessExecutor(InProcessExecutor):
    """Dagster's in-process executor, importing TensorFlow (quietly, cviz_assets/tf_quiet.py) before
    the first step when the run has a ``features`` step that will use it (features_import_tensorflow),
    so its start-up lines stay out of the step log."""

    def execute(self, plan_context: Any, execution_plan: Any) -> Any:
        features = any(key == "features" or key.startswith("features_") for key in execution_plan.step_keys_to_execute)
        if features and features_import_tensorflow():
            from cviz_assets.tf_quiet import quiet_import

            quiet_import("tensorflow")
        yield from super().execute(plan_context, execution_plan)


@dg.executor(name="in_process", config_schema=IN_PROC_CONFIG)
def quiet_in_process_executor(init_context: dg.InitExecutorContext) -> QuietInProcessExecutor:
    config = init_context.executor_config
    return QuietInProcessExecutor(retries=RetryMode.from_config(config["retries"]), marker_to_close=config.get("marker_to_close"),
                                  step_dependency_config=StepDependencyConfig.from_config(config.get("step_dependency_config")))


def _chosen() -> str:
    return settings().executor.strip().lower()


def fan_out_executor() -> dg.ExecutorDefinition | None:
    """The executor of ``features_chunks``, the one job whose steps are independent and meant to
    run side by side: with ``CVIZ_EXECUTOR`` unset (``auto``), the preloaded forkserver
    ``multiprocess`` executor; any explicit ``CVIZ_EXECUTOR`` applies to it too (None: the code
    location's executor)."""
    return _forkserver_multiprocess() if _chosen() == "auto" else None


def _forkserver_multiprocess() -> dg.ExecutorDefinition:
    # forkserver: the run starts one server process that imports the definitions (and TensorFlow)
    # once; each step is a fork of it instead of a fresh interpreter importing everything again.
    return dg.multiprocess_executor.configured(
        {"start_method": {"forkserver": {"preload_modules": [PRELOAD_MODULE]}}}, name="multiprocess")


def _optional(module: str, attr: str, package: str) -> Any:
    """An executor from a library cviz does not install: a clear line when it is missing."""
    try:
        return getattr(__import__(module, fromlist=[attr]), attr)
    except ImportError:
        raise CvizError(f"CVIZ_EXECUTOR needs {package}: pip install '{package}==0.29.27' "
                        "(the dagster-* version matching dagster 1.13.27)") from None


def dask_cluster_config(address: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """dagster-dask executor config: an existing scheduler if ``address``, else a local cluster."""
    if address:
        return {"cluster": {"existing": {"address": address}}}
    n = workers or settings().dask_workers
    # One thread per worker: Dagster steps are not thread-safe, and TensorFlow uses the cores itself.
    return {"cluster": {"local": {"n_workers": n, "threads_per_worker": 1, "processes": True,
                                  "dashboard_address": ":0"}}}


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor named by ``$CVIZ_EXECUTOR`` (see the module docstring)."""
    name = _chosen()
    if name == "multiprocess":
        return _forkserver_multiprocess()
    if name == "multiprocess_spawn":  # Dagster's default: a fresh interpreter per step
        return dg.multiprocess_executor
    if name in ("auto", "in_process"):  # auto: every job of the code location, the button's job included
        return quiet_in_process_executor
    if name == "dask":
        from cviz_assets.dask_executor import dask_executor

        return dask_executor.configured(dask_cluster_config(settings().dask_address),
                                        name="dask")
    if name == "celery":  # broker and backend from the environment; workers: celery -A dagster_celery.app worker
        celery_executor = _optional("dagster_celery", "celery_executor", "dagster-celery")
        return celery_executor.configured({"broker": settings().celery_broker,
                                           "backend": settings().celery_backend}, name="celery")
    if name == "k8s":  # one pod per step; configure per run (execution.config) or with the K8sRunLauncher
        return _optional("dagster_k8s", "k8s_job_executor", "dagster-k8s")
    raise CvizError(f"CVIZ_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")
