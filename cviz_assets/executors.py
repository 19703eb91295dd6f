"""Where the steps of a run execute: one machine, or an existing distributed engine.

Chosen by environment when the code location loads, so the same asset graph runs anywhere
without code changes (README, "Scaling"):

- ``CVIZ_EXECUTOR`` unset or ``multiprocess``: Dagster's default, one process per step on the
  machine running the run.
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

import os
from typing import Any, Iterator

import dagster as dg
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from dagster._core.errors import raise_execution_interrupts
from dagster._core.events import DagsterEvent
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._utils import iterate_with_context
from dagster_dask import dask_executor as upstream_dask_executor
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

from cviz.errors import CvizError


class _StepPayload:
    """The arguments of one step, opaque to dask.

    dask's task spec (seen with dask 2026.8) walks every tuple it is given looking for tasks; DagsterRun is a NamedTuple
    holding ``@record`` objects that refuse iteration, so upstream dagster-dask 0.29 fails with
    "Iteration is not allowed on `@record` RunOpConcurrency". Hidden in a plain object, dask
    passes them through untouched.
    """

    def __init__(self, *args: Any) -> None:
        self.args = args


def _run_step(dependencies: list, payload: _StepPayload) -> list[DagsterEvent]:
    """Runs on a dask worker; ``dependencies`` are there only so dask orders the steps."""
    return query_on_dask_worker(dependencies, *payload.args)


class CvizDaskExecutor(DaskExecutor):
    """dagster-dask's executor with two fixes, otherwise the same config and behaviour:
    the step arguments are opaque to dask (see _StepPayload), and dask task keys carry the run id,
    so two runs of the same job at once (two collections) are not merged into one by dask
    (dagster issue 21418: the second run's steps were silently skipped)."""

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        import dask.distributed

        if not plan_context.instance.is_persistent:
            raise CvizError("the dask executor needs a persistent Dagster instance: set DAGSTER_HOME "
                            "(PostgreSQL for more than one machine: deploy/dagster.postgres.yaml)")
        job_name = plan_context.job_name
        run_id = plan_context.dagster_run.run_id
        if self.cluster_type == "existing":
            cluster: Any = self.cluster_configuration["address"]
        elif self.cluster_type == "local":
            cluster = dask.distributed.LocalCluster(**self.build_dict(job_name))
        else:
            raise CvizError(f"dask cluster type {self.cluster_type!r}: cviz supports 'existing' (a scheduler "
                            "address: start the cluster with its own tools) and 'local'")
        with dask.distributed.Client(cluster) as client:
            futures: dict[str, Any] = {}
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    dependencies = [futures[key] for step_input in step.step_inputs for key in step_input.dependency_keys]
                    payload = _StepPayload(plan_context.reconstructable_job, plan_context.dagster_run,
                                           plan_context.run_config, [step.key], plan_context.instance.get_ref(),
                                           execution_plan.known_state)
                    futures[step.key] = client.submit(
                        _run_step, dependencies, payload, key=f"{job_name}.{step.key}.{run_id}",
                        resources=get_dask_resource_requirements(step.tags), pure=False,
                    )
            done = dask.distributed.as_completed(list(futures.values()), with_results=True)
            for _future, events in iterate_with_context(raise_execution_interrupts, done):
                for event in events:
                    yield event
        if self.cluster_type == "local":
            cluster.close()


@dg.executor(name="dask", config_schema=upstream_dask_executor.config_schema,
             requirements=multiple_process_executor_requirements())
def dask_executor(init_context: dg.InitExecutorContext) -> CvizDaskExecutor:
    """dagster-dask's ``dask`` executor (same run config: ``cluster: existing|local``), fixed."""
    ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
    return CvizDaskExecutor(cluster_type, cluster_configuration)

EXECUTORS = ("multiprocess", "dask", "in_process", "celery", "k8s")


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
    n = workers or int(os.environ.get("CVIZ_DASK_WORKERS") or 2)
    # One thread per worker: Dagster steps are not thread-safe, and TensorFlow uses the cores itself.
    return {"cluster": {"local": {"n_workers": n, "threads_per_worker": 1, "processes": True,
                                  "dashboard_address": ":0"}}}


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor named by ``$CVIZ_EXECUTOR`` (see the module docstring)."""
    name = (os.environ.get("CVIZ_EXECUTOR") or "multiprocess").strip().lower()
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "in_process":
        return dg.in_process_executor
    if name == "dask":
        return dask_executor.configured(dask_cluster_config(os.environ.get("CVIZ_DASK_ADDRESS") or None),
                                        name="dask")
    if name == "celery":  # broker and backend from the environment; workers: celery -A dagster_celery.app worker
        celery_executor = _optional("dagster_celery", "celery_executor", "dagster-celery")
        return celery_executor.configured({"broker": os.environ.get("CVIZ_CELERY_BROKER") or None,
                                           "backend": os.environ.get("CVIZ_CELERY_BACKEND") or "rpc://"}, name="celery")
    if name == "k8s":  # one pod per step; configure per run (execution.config) or with the K8sRunLauncher
        return _optional("dagster_k8s", "k8s_job_executor", "dagster-k8s")
    raise CvizError(f"CVIZ_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")
