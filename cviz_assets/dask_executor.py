"""cviz's fixed copy of dagster-dask's executor (see cviz_assets/executors.py, "Scaling" in the README).

Its own module so that loading the code location (every step process of every run) does not import
dask and dagster-dask (about 1 s) unless ``CVIZ_EXECUTOR=dask`` asks for them.
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

