"""Retries for transient I/O, and no retries for errors the user must fix.

The storage layer already retries single remote calls; this is the outer layer: an asset step that
still fails (a storage outage longer than those retries, a flaky network filesystem) is re-run by
Dagster with exponential backoff. A ``CvizError`` (bad name, CSV, template, no usable image) would
fail the same way every time, so it fails at once, with its message, and is not retried.
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


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, DETERMINISTIC) and not isinstance(exc, CvizError):
        return True
    if not isinstance(exc, CvizError):
        return False
    return not isinstance(exc, StorageUnavailable)  # a storage outage is a CvizError too, but worth retrying


def fail_fast_on_user_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user error into ``dg.Failure(allow_retries=False)``; everything else may be retried."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if _is_user_error(exc):
                text = str(exc) if isinstance(exc, CvizError) else f"{type(exc).__name__}: {exc}"
                raise dg.Failure(description=text, allow_retries=False) from exc
            raise

    return wrapper
