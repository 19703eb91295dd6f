"""Retries for transient I/O, and no retries for errors the user must fix.

The storage layer already retries single remote calls; this is the outer layer: an asset step that
still fails (a storage outage longer than those retries, a flaky network filesystem) is re-run by
Dagster with exponential backoff. A ``CvizError`` (bad name, CSV, template, no usable image) would
fail the same way every time, so it fails at once, with its message, and is not retried.

An interrupt (Ctrl-C, or SIGTERM, which Dagster maps to SIGINT while it executes; a terminated
run) is not a failure to retry either: it stops the run. Dagster's user-code boundary turns an
interrupt inside a step with a ``RetryPolicy`` into a retry request ("respect retry policy when
interrupts occur", dagster/_core/execution/plan/utils.py), so a Ctrl-C during `mosaic` used to be
retried and the run went on to publish. :class:`StepInterrupted` carries it through that boundary.
"""

import functools
from typing import Any, Callable

import dagster as dg

from cviz.errors import CvizError
from cviz.settings import settings
from cviz.storage import StorageUnavailable

STORAGE_RETRY = dg.RetryPolicy(
    max_retries=settings().step_retries,  # 5 s, then 10 s (+-jitter); fixed when the code location loads
    delay=settings().step_retry_delay_s,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)
FEATURES_POOL = "cviz_features"  # dagster.yaml: concurrency.pools.default_limit (1) bounds it per instance


# Deterministic failures: the same input fails the same way on every attempt (a file name that is
# not UTF-8 cannot be encoded, a malformed value cannot be parsed), so retrying only hides the cause.
DETERMINISTIC = (ValueError, TypeError, KeyError)  # UnicodeError and JSONDecodeError are ValueErrors


def is_user_error(exc: BaseException) -> bool:
    """A deterministic error the user must fix (bad input): failing again would say the same."""
    if isinstance(exc, DETERMINISTIC) and not isinstance(exc, CvizError):
        return True
    if not isinstance(exc, CvizError):
        return False
    return not isinstance(exc, StorageUnavailable)  # a storage outage is a CvizError too, but worth retrying


class StepInterrupted(dg.DagsterError, dg.DagsterExecutionInterruptedError):
    """The step was interrupted (SIGINT, SIGTERM, a run termination): the run stops, nothing is retried.

    As a ``DagsterError`` it passes Dagster's user-code boundary unchanged (that boundary re-raises
    framework errors before it consults the retry policy); as a ``DagsterExecutionInterruptedError``
    the step ends as interrupted and the executor stops the run (a canceled run when it was
    terminated through the instance, a failed one otherwise), so no later step (``publish``) runs.
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"interrupted ({type(cause).__name__}): the run stops here; nothing is retried or published")


def is_interrupt(exc: BaseException) -> bool:
    """KeyboardInterrupt, Dagster's execution interrupt, SystemExit: anything that is not an ``Exception``."""
    return not isinstance(exc, Exception) or isinstance(exc, dg.DagsterExecutionInterruptedError)


def fail_fast_on_user_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user error into ``dg.Failure(allow_retries=False)`` and an interrupt into
    :class:`StepInterrupted`; everything else (transient I/O) may be retried."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StepInterrupted:
            raise
        except BaseException as exc:
            if is_interrupt(exc):
                raise StepInterrupted(exc) from exc
            if is_user_error(exc):
                text = str(exc) if isinstance(exc, CvizError) else f"{type(exc).__name__}: {exc}"
                raise dg.Failure(description=text, allow_retries=False) from exc
            raise

    return wrapper
