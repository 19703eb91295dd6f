"""Retries against object storage: transient errors retried with backoff, then one clear error
naming the key; permanent errors (missing key, no access) never retried; bounded parallel writes."""

from __future__ import annotations

import errno
import threading
import time

import pytest

from cviz.storage import StorageUnavailable, filesystem_for, is_transient, open_storage, with_retries
from cviz_resources.storage import s3_options


class Flaky:
    def __init__(self, failures: int, exc: BaseException) -> None:
        self.failures, self.exc, self.calls = failures, exc, 0

    def __call__(self, value: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return value


def test_transient_errors_are_retried_until_success():
    call = Flaky(2, ConnectionResetError(errno.ECONNRESET, "reset by peer"))
    assert with_retries("read", "s3://b/k.json", call, "ok", attempts=3, backoff_s=0.01) == "ok"
    assert call.calls == 3


def test_retries_run_out_into_one_error_naming_the_key():
    call = Flaky(10, TimeoutError("timed out"))
    started = time.perf_counter()
    with pytest.raises(StorageUnavailable) as info:
        with_retries("write", "s3://bucket/cviz/published/x/current.json", call, "x", attempts=3, backoff_s=0.05)
    assert call.calls == 3
    assert time.perf_counter() - started >= 0.05 * (1 + 2) * 0.5  # backoff (with jitter) between attempts
    message = str(info.value)
    assert "cannot write s3://bucket/cviz/published/x/current.json" in message and "after 3 attempts" in message
    assert not isinstance(info.value, OSError)  # never mistaken for "this one file is unreadable"


@pytest.mark.parametrize("exc", [FileNotFoundError("no such key"), PermissionError("access denied"),
                                 ValueError("bad data")])
def test_permanent_errors_are_not_retried(exc):
    call = Flaky(10, exc)
    with pytest.raises(type(exc)):
        with_retries("read", "s3://b/k", call, "x", attempts=5, backoff_s=0.01)
    assert call.calls == 1


def test_botocore_connection_errors_and_throttling_are_transient():
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1/b/k"))
    assert is_transient(ReadTimeoutError(endpoint_url="http://127.0.0.1:1/b/k"))
    assert is_transient(OSError(errno.EIO, "An error occurred (SlowDown) when calling PutObject"))
    assert not is_transient(OSError(errno.ENOSPC, "No space left on device"))


def test_attempts_and_backoff_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CVIZ_STORAGE_RETRIES", "2")
    monkeypatch.setenv("CVIZ_STORAGE_BACKOFF_S", "0.01")
    call = Flaky(10, ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    with pytest.raises(StorageUnavailable, match="after 2 attempts"):
        with_retries("list", "s3://b/prefix", call, "x")
    assert call.calls == 2


def test_s3_options_carry_the_endpoint_to_s3fs_and_nothing_to_local_paths(monkeypatch):
    monkeypatch.setenv("CVIZ_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    options = s3_options()
    assert options["endpoint_url"] == "http://127.0.0.1:9"
    assert not any("secret" in k.lower() or "key" == k.lower() for k in options)
    fs, path = filesystem_for("s3://bucket/prefix", options)
    assert path == "bucket/prefix" and fs.endpoint_url == "http://127.0.0.1:9"
    assert fs.max_concurrency == 1  # one GET per read, no HEAD first
    local, _ = filesystem_for("/tmp", options)
    assert "endpoint_url" not in local.storage_options


def test_write_many_keeps_a_bounded_number_of_items_in_flight(tmp_path):
    storage = open_storage(str(tmp_path))
    lock = threading.Lock()
    state = {"taken": 0, "written": 0, "max_ahead": 0}
    real_write = storage.write_bytes

    def slow_write(rel: str, data: bytes) -> None:
        time.sleep(0.002)
        real_write(rel, data)
        with lock:
            state["written"] += 1

    storage.write_bytes = slow_write  # type: ignore[method-assign]

    def items():
        for i in range(200):
            with lock:
                state["taken"] += 1
                state["max_ahead"] = max(state["max_ahead"], state["taken"] - state["written"])
            yield f"tiles/{i}.bin", b"x" * 10

    assert storage.write_many(items(), workers=4) == 200
    assert len(list((tmp_path / "tiles").iterdir())) == 200
    assert state["max_ahead"] <= 2 * 4 + 1  # never the whole generator drained into memory
