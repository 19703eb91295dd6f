"""Dagster glue for ``cviz.stages.run_lock``: every collection stage runs under its collection's run lock.

The owner is the Dagster (root) run id, so the stages of one run (even in separate step processes) share
the lock, and a second run of the same collection waits ($CVIZ_LOCK_WAIT_S, 30 s by default) and
then fails with a message naming the run that holds it. The run's last step releases the lock.
"""

import functools
from typing import Any, Callable

import dagster as dg

from cviz.stages import run_lock


def run_steps(context: dg.AssetExecutionContext) -> list[str]:
    """The step keys this run executes (all of the job's when the run does not subset them)."""
    keys = context.run.step_keys_to_execute
    return list(keys) if keys else [node.name for node in context.job_def.nodes]


def lock_owner(context: dg.AssetExecutionContext) -> str:
    """The root run id: a retry of a crashed run (dagster.yaml ``run_retries``) takes over its own
    lock at once instead of waiting for the dead run's heartbeat to go stale."""
    return context.run.tags.get("dagster/root_run_id") or context.run.run_id


def one_run_at_a_time(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an asset's compute function (which takes ``storage``) in the collection's lock."""

    @functools.wraps(fn)
    def wrapper(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
        store = kwargs["storage"].get()
        with run_lock.hold(store, context.partition_key, lock_owner(context), context.op_execution_context.op.name, run_steps(context)):
            return fn(context, *args, **kwargs)

    return wrapper
