"""Dagster glue for ``cviz.stages.run_lock``: every collection stage and check runs under its collection's run lock.

The owner is the Dagster (root) run id, so the stages of one run (even in separate step processes) share
the lock, and a second run of the same collection waits ($CVIZ_LOCK_WAIT_S, 30 s by default) and
then fails with a message naming the run that holds it. The lock lives as long as the run (see
cviz.stages.run_lock): a step's failure that Dagster will retry leaves it alone; a final failure counts
the steps Dagster skips below it as finished; an interrupt releases it; a holder whose run the instance
reports ended is broken at once.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import dagster as dg

from cviz.stages import run_lock
from cviz.storage import Storage


def run_steps(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> list[str]:
    """The step keys this run executes (all of the job's when the run does not subset them)."""
    keys = context.run.step_keys_to_execute
    return list(keys) if keys else [node.name for node in context.job_def.nodes]


def lock_owner(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> str:
    """The root run id: a retry of a crashed run (dagster.yaml ``run_retries``) takes over its own
    lock at once instead of waiting for the dead run's heartbeat to go stale."""
    return context.run.tags.get("dagster/root_run_id") or context.run.run_id


def steps_below(op: dg.OpExecutionContext, steps: list[str]) -> list[str]:
    """The run's steps that Dagster skips when this step fails (or, for a blocking check, fails its
    check): the assets downstream of its asset(s), and their checks (step keys are asset names, and
    ``<asset>_<check>``)."""
    graph = op.job_def.asset_layer.asset_graph
    roots = {k.asset_key for k in op.selected_asset_check_keys} | set(op.selected_asset_keys)
    todo, below = [graph.get(k) for k in roots], set()
    while todo:
        for child in graph.get_children(todo.pop()):
            if child.key not in below:
                below.add(child.key)
                todo.append(child)
    names = {k.to_user_string() for k in below}
    names |= {f"{c.asset_key.to_user_string()}_{c.name}" for k in below for c in graph.get(k).check_keys}
    if op.selected_asset_keys:  # a failed asset step also skips its own checks
        names |= {f"{c.asset_key.to_user_string()}_{c.name}" for k in op.selected_asset_keys for c in graph.get(k).check_keys}
    return [s for s in steps if s in names]


def will_retry(op: dg.OpExecutionContext) -> Callable[[BaseException], bool]:
    """Whether Dagster retries this step after ``exc`` (cviz_assets.retries: transient errors, while
    the op's retry policy has attempts left)."""
    from cviz_assets.retries import is_interrupt, is_user_error

    policy = op.op_def.retry_policy
    left = policy is not None and op.retry_number < policy.max_retries

    def retried(exc: BaseException) -> bool:
        return left and not is_interrupt(exc) and not is_user_error(exc) and not isinstance(exc, dg.Failure)

    return retried


def run_ended(instance: dg.DagsterInstance) -> Callable[[dict[str, Any]], bool]:
    """A lock record's run has ended (success, failure, cancel), as this instance knows it."""

    def ended(info: dict[str, Any]) -> bool:
        run = instance.get_run_by_id(str(info.get("run") or info.get("owner")))
        return run is not None and run.is_finished

    return ended


@contextlib.contextmanager
def step_lock(op: dg.OpExecutionContext, store: Storage, blocks: bool = True) -> Iterator[run_lock.CollectionLock]:
    """The collection's lock around one step of the run (an asset, or a check; ``blocks``: whether the
    step's failure skips the steps below it, False for a non-blocking check)."""
    steps = run_steps(op)
    with run_lock.hold(store, op.partition_key, lock_owner(op), op.op.name, steps,
                       skipped_below=steps_below(op, steps) if blocks else (), retried=will_retry(op),
                       run=op.run.run_id,
                       owner_done=run_ended(op.instance)) as lock:
        yield lock


def one_run_at_a_time(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an asset's compute function (which takes ``storage``) in the collection's lock."""

    @functools.wraps(fn)
    def wrapper(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> Any:
        with step_lock(context.op_execution_context, kwargs["storage"].get()):
            return fn(context, *args, **kwargs)

    return wrapper
