"""Transient I/O errors are retried with backoff; user errors fail at once with their message."""


import dagster as dg

from cviz.errors import CollectionError
from cviz_assets.retries import STORAGE_RETRY, fail_fast_on_user_error


def _run(error: Exception) -> tuple[dg.ExecuteInProcessResult, list[int]]:
    attempts: list[int] = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    @fail_fast_on_user_error
    def flaky(context: dg.AssetExecutionContext) -> None:
        attempts.append(context.retry_number)
        if len(attempts) == 1:
            raise error

    return dg.materialize([flaky], raise_on_error=False), attempts


def test_transient_io_error_is_retried() -> None:
    result, attempts = _run(OSError(5, "Input/output error"))
    assert result.success and attempts == [0, 1]


def test_user_error_is_not_retried_and_keeps_its_message() -> None:
    result, attempts = _run(CollectionError("collection x: no files found at /nowhere"))
    assert not result.success and attempts == [0]
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description == "collection x: no files found at /nowhere"


def test_storage_outage_is_retried_even_though_it_is_a_cviz_error() -> None:
    from cviz.storage import StorageUnavailable

    result, attempts = _run(StorageUnavailable("s3 kept failing"))
    assert result.success and attempts == [0, 1]


def test_the_assets_policy_backs_off_exponentially() -> None:
    assert STORAGE_RETRY.max_retries >= 1 and STORAGE_RETRY.backoff == dg.Backoff.EXPONENTIAL
