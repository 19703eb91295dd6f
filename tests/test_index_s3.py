"""Index updates on object storage: two writers publishing at once lose no index entry (moto S3)."""

from __future__ import annotations

import threading

import pytest

from tests.test_s3 import MotoServer  # skips with its reason when moto[server] or s3fs is absent

s3fs = pytest.importorskip("s3fs")

BUCKET = "cviz-index-test"


@pytest.fixture()
def s3_endpoint(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = MotoServer()
    server.start()
    s3fs.S3FileSystem(endpoint_url=server.endpoint).mkdir(BUCKET)
    yield server.endpoint
    server.stop()


@pytest.mark.slow
def test_two_writers_on_s3_lose_no_index_entry(s3_endpoint: str) -> None:
    from cviz.publish.versions import update_index
    from cviz.storage import open_storage
    from cviz_resources.storage import s3_options

    root = f"s3://{BUCKET}/cviz"
    errors: list[BaseException] = []

    def publish_many(prefix: str) -> None:
        try:
            store = open_storage(root, s3_options(s3_endpoint))  # one client per writer, as two processes would have
            for i in range(15):
                update_index(store, f"{prefix}-{i:02d}", i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=publish_many, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    index = open_storage(root, s3_options(s3_endpoint)).read_json("published/index.json")
    assert len(index["collections"]) == 30
