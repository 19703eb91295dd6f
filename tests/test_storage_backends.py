"""The storage interface: one contract, run against both backends.

``LocalStorage`` on a temporary folder and ``ObjectStorage`` on a real S3 protocol endpoint (moto in
server mode on loopback) must behave the same for every operation the stages use; where the media
differ (a rename, a lock, an append), the test states what each promises.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from cviz.storage import LocalStorage, ObjectStorage, Storage, open_storage
from tests.moto_s3 import moto_bucket

s3fs = pytest.importorskip("s3fs")
BUCKET = "cviz-backends"


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_bucket(BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path: Path) -> Storage:
    if request.param == "local":
        return open_storage(str(tmp_path / "root"))
    from cviz_resources.storage import s3_options

    endpoint = request.getfixturevalue("s3_endpoint")
    return open_storage(f"s3://{BUCKET}/{tmp_path.name}", s3_options(endpoint))


def test_the_root_picks_the_backend(tmp_path: Path) -> None:
    assert type(open_storage(str(tmp_path))) is LocalStorage
    assert type(open_storage(f"file://{tmp_path}")) is LocalStorage
    assert type(open_storage("s3://bucket/prefix")) is ObjectStorage
    assert open_storage(str(tmp_path)).url("a/b.json") == f"{tmp_path}/a/b.json"
    assert open_storage("s3://bucket/prefix").url("a/b.json") == "s3://bucket/prefix/a/b.json"


def test_the_resource_picks_the_backend_from_its_root(tmp_path: Path) -> None:
    from cviz_resources import StorageResource

    assert type(StorageResource(root=str(tmp_path)).get()) is LocalStorage
    assert type(StorageResource(root="s3://bucket/prefix", endpoint_url="http://127.0.0.1:9").get()) is ObjectStorage


def test_read_write_list_find_remove(storage: Storage) -> None:
    assert not storage.exists("a/x.json") and storage.list("a") == [] and storage.find("a") == set()
    storage.write_json("a/x.json", {"k": 1})
    storage.write_bytes("a/b/c.bin", b"123")
    storage.write_npy("a/v.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    assert storage.read_json("a/x.json") == {"k": 1}
    assert storage.read_bytes("a/b/c.bin") == b"123"
    assert storage.list("a") == ["b", "v.npy", "x.json"]
    assert storage.find("a") == {"x.json", "b/c.bin", "v.npy"}
    for mmap in (False, True):
        assert storage.load_npy("a/v.npy", mmap=mmap).tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("a/missing")
    storage.remove_file("a/x.json")
    storage.remove_file("a/x.json")  # a missing file is no error
    assert not storage.exists("a/x.json")
    storage.remove_tree("a")
    storage.remove_tree("a")
    assert storage.list("a") == [] and not storage.exists("a/b/c.bin")


def test_write_batch_and_write_many_write_everything(storage: Storage) -> None:
    assert storage.write_batch([(f"t/0/{i}_0.jpg", bytes([i])) for i in range(5)]) == 5
    assert storage.write_many(((f"t/1/{i}_0.jpg", bytes([i])) for i in range(7)), workers=3) == 7
    assert storage.find("t") == {f"0/{i}_0.jpg" for i in range(5)} | {f"1/{i}_0.jpg" for i in range(7)}
    assert storage.read_bytes("t/1/6_0.jpg") == b"\x06"


def test_append_line_keeps_every_line(storage: Storage) -> None:
    for i in range(3):
        storage.append_line("ops/log.jsonl", f"{i}\n".encode())
    assert storage.read_bytes("ops/log.jsonl") == b"0\n1\n2\n"


def test_retire_folder_takes_it_out_of_use(storage: Storage) -> None:
    storage.write_bytes("pub/v1/map.dzi", b"x")
    storage.retire_folder("pub/v1", "pub/.trash-v1")
    assert not storage.exists("pub/v1/map.dzi")
    if storage.exclusive_mutex:  # local: one rename, deleted later
        assert storage.read_bytes("pub/.trash-v1/map.dzi") == b"x"
    else:  # object storage: a rename is a copy, so it is deleted at once
        assert not storage.exists("pub/.trash-v1/map.dzi")


def test_local_mutex_excludes_other_holders(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    assert storage.exclusive_mutex
    order: list[str] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait(5)
        with open_storage(str(tmp_path)).mutex("locks/m"):  # a second open file: flock excludes it
            order.append("second")

    t = threading.Thread(target=second)
    t.start()
    with storage.mutex("locks/m"):
        inside.set()
        t.join(0.3)
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]


def test_object_storage_has_no_mutex_and_says_so() -> None:
    storage = open_storage("s3://bucket/prefix")
    assert not storage.exclusive_mutex
    with storage.mutex("locks/m"), storage.mutex("locks/m"):  # a no-op: callers write a claim and read it back
        pass


def test_local_writes_leave_no_temporaries_and_stale_ones_are_swept(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    storage.write_bytes("f/a.bin", b"1")
    assert sorted(os.listdir(tmp_path / "f")) == ["a.bin"]
    stale = tmp_path / "f" / ".tmp-dead"
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))
    assert storage.remove_stale_temp("f", older_than_s=60) == 1
    assert sorted(os.listdir(tmp_path / "f")) == ["a.bin"]
    assert open_storage("s3://bucket/prefix").remove_stale_temp("f") == 0  # a PUT leaves nothing behind


def test_os_path_only_where_open_works(tmp_path: Path) -> None:
    assert open_storage(str(tmp_path)).os_path("a/b") == f"{tmp_path}/a/b"
    assert open_storage("s3://bucket/prefix").os_path("a/b") is None


def test_paths_cannot_leave_the_root(storage: Storage) -> None:
    from cviz.errors import InvalidName

    with pytest.raises(InvalidName, match="escape"):
        storage.write_bytes("../escape", b"x")


def test_a_storage_survives_pickling(tmp_path: Path) -> None:
    """Executors that send objects to other processes (multiprocess, dask) may pickle one."""
    import pickle

    local = pickle.loads(pickle.dumps(open_storage(str(tmp_path))))
    assert type(local) is LocalStorage and local.base == str(tmp_path)
    local.write_bytes("a.bin", b"1")
    assert local.read_bytes("a.bin") == b"1"
