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


def _real_pca_run(tmp_path, monkeypatch, error: Exception) -> tuple[dg.ExecuteInProcessResult, list[str]]:  # noqa: ANN001
    """The real `pca` asset (its retry policy and decorators) in a real run; its stage fails once."""
    import numpy as np

    from cviz.paths import CollectionPaths
    from cviz.stages import registry
    from cviz.storage import open_storage
    from cviz_assets.assets import pca
    from tests.conftest import resources, short_step_retry_waits

    assert pca.op.retry_policy is STORAGE_RETRY  # the real policy; only its waits are shortened below
    assert short_step_retry_waits(monkeypatch, [pca]) == 1
    calls: list[str] = []
    real = registry.stage_pca

    def stage_pca(storage, name: str, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(name)
        if len(calls) == 1:
            raise error
        return real(storage, name, *args, **kwargs)

    monkeypatch.setattr(registry, "stage_pca", stage_pca)
    features = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    storage = open_storage(str(tmp_path))
    storage.write_npy(CollectionPaths("retry").features, features)
    files = [{"file": f"{i}.jpg", "status": "usable", "sha256": f"{i:064x}"} for i in range(len(features))]
    storage.write_json(CollectionPaths("retry").catalogue, {"files": files})  # pca names its rows by content hash
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", ["retry"])
    result = dg.materialize([pca], partition_key="retry", instance=instance, resources=resources(tmp_path),
                            raise_on_error=False)
    return result, calls


def test_the_assets_retry_a_transient_error_then_succeed(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    assert STORAGE_RETRY.max_retries >= 1
    result, calls = _real_pca_run(tmp_path, monkeypatch, OSError(5, "Input/output error"))
    assert result.success and calls == ["retry", "retry"]
    assert result.asset_materializations_for_node("pca")[0].metadata["components"].value == 8
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries
    # The real policy's 5 s wait, shortened by short_step_retry_waits (a guard of that helper).
    assert all(e.event_specific_data.seconds_to_wait < 1 for e in retries)


def test_the_assets_fail_a_user_error_at_once(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    result, calls = _real_pca_run(tmp_path, monkeypatch, CollectionError("collection retry: pca has 3 rows for 4 items"))
    assert not result.success and calls == ["retry"]
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description == "collection retry: pca has 3 rows for 4 items"


def test_an_interrupt_is_not_retried_and_stops_the_run() -> None:
    """SIGINT inside a step with a retry policy: Dagster's boundary would turn it into a retry; the
    step ends interrupted, the step after it never runs, the run fails."""
    import os
    import signal

    attempts: list[object] = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    @fail_fast_on_user_error
    def interrupted(context: dg.AssetExecutionContext) -> None:
        attempts.append(context.retry_number)
        if len(attempts) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Dagster's handler raises in this (main) thread
            import time

            time.sleep(30)

    @dg.asset(deps=[interrupted])
    def after(context: dg.AssetExecutionContext) -> None:
        attempts.append("after")

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a background runner ignores SIGINT
    try:
        result = dg.materialize([interrupted, after], raise_on_error=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not result.success and attempts == [0]
    kinds = [e.event_type_value for e in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in kinds
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.error_source.value == "INTERRUPT"
