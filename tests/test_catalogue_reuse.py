"""A rescan reads only what changed (cviz.ingest.catalogue_reuse): unchanged files keep their entry unread;
rewritten, replaced and "racy" files are read again; the result is the catalogue a full read gives."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

import cviz.ingest.catalogue as catalogue_mod
from cviz.ingest.catalogue import build_catalogue
from cviz.ingest.catalogue_reuse import RACY_MARGIN_NS
from cviz.ingest.collection import CollectionConfig
from cviz.stages.data_versions import catalogue_version

WHOLE_READ = ("file", "status", "reason", "bytes", "sha256", "width", "height", "format", "mode", "note",
              "duplicate_of", "row")


def _bmp(colour: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> bytes:
    """Uncompressed: two colours of one size are two files of the same length, different bytes."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "BMP")
    return buf.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "images"
    d.mkdir()
    for i, name in enumerate(["a.bmp", "b.bmp", "sub/c.bmp"]):
        (d / name).parent.mkdir(exist_ok=True)
        (d / name).write_bytes(_bmp((40 * i, 90, 200)))
    (d / "notes.txt").write_text("not an image")
    (d / "broken.bmp").write_bytes(b"BM not really")
    return d


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the catalogue reads the bytes of."""
    seen: list[str] = []
    real = catalogue_mod.read_source

    def counting(fs, path):
        seen.append(path.rsplit("/images/", 1)[-1])
        return real(fs, path)

    monkeypatch.setattr(catalogue_mod, "read_source", counting)
    return seen


def scan(folder: Path, previous: dict | None = None, name: str = "reuse") -> dict:
    return build_catalogue(CollectionConfig(name=name, images=str(folder)), previous=previous)


def aged(catalogue: dict, seconds: float = 10.0) -> dict:
    """The same catalogue as if its scan had started ``seconds`` later: the files it read then
    are older than its racy line (a test cannot set a file's ctime into the past)."""
    return {**catalogue, "scan_started_ns": catalogue["scan_started_ns"] + int(seconds * 1e9)}


def whole(catalogue: dict) -> list[dict]:
    return [{k: e.get(k) for k in WHOLE_READ} for e in catalogue["files"]]


def test_unchanged_files_are_not_read_again_and_give_the_same_catalogue(folder: Path, reads: list[str]) -> None:
    first = scan(folder)
    assert sorted(reads) == ["a.bmp", "b.bmp", "broken.bmp", "sub/c.bmp"]  # notes.txt: refused by its suffix
    assert first["scan"] == {"reused": 0, "read": 4, "previous_entries": 0}
    reads.clear()
    second = scan(folder, previous=aged(first))
    assert reads == []
    assert second["scan"] == {"reused": 4, "read": 0, "previous_entries": 4}
    assert whole(second) == whole(first) and second["skipped"] == first["skipped"]
    assert catalogue_version(second) == catalogue_version(first)
    reads.clear()  # and a reused catalogue is itself reusable: the keys are carried on
    assert scan(folder, previous=aged(second))["scan"]["reused"] == 4 and reads == []


def test_a_file_rewritten_with_the_same_size_is_read_again(folder: Path, reads: list[str]) -> None:
    first = scan(folder)
    before = (folder / "b.bmp").stat()
    (folder / "b.bmp").write_bytes(_bmp((1, 2, 3)))  # same length, new bytes, same inode, new mtime
    after = (folder / "b.bmp").stat()
    assert after.st_size == before.st_size and after.st_ino == before.st_ino
    assert after.st_mtime_ns != before.st_mtime_ns
    reads.clear()
    second = scan(folder, previous=aged(first))  # not racy: only its changed key has it read
    assert reads == ["b.bmp"]
    b = {e["file"]: e for e in second["files"]}["b.bmp"]
    assert b["sha256"] != {e["file"]: e for e in first["files"]}["b.bmp"]["sha256"]
    assert whole(second) == whole(scan(folder))  # what a full read gives


def test_a_file_copied_over_with_its_old_mtime_is_read_again(folder: Path, reads: list[str]) -> None:
    """``cp -p`` / ``rsync -t`` put the old mtime back on new bytes; the ctime still moves."""
    first = scan(folder)
    st = (folder / "a.bmp").stat()
    (folder / "a.bmp").write_bytes(_bmp((9, 9, 9)))
    os.utime(folder / "a.bmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (folder / "a.bmp").stat().st_mtime_ns == st.st_mtime_ns
    reads.clear()
    second = scan(folder, previous=aged(first))  # a.bmp's mtime is trusted; its ctime is not the recorded one
    assert reads == ["a.bmp"]
    assert whole(second) == whole(scan(folder))


def test_a_racy_file_is_read_again(folder: Path, reads: list[str]) -> None:
    """Files changed within RACY_MARGIN_NS of the previous scan's start are not trusted, even with
    an unchanged key: a same-size rewrite in the same timestamp tick would keep that key."""
    first = scan(folder)
    (folder / "d.bmp").write_bytes(_bmp((7, 7, 7)))
    reads.clear()
    second = scan(folder, previous=first)  # everything was written just before (or during) that scan
    assert sorted(reads) == ["a.bmp", "b.bmp", "broken.bmp", "d.bmp", "sub/c.bmp"]
    assert second["scan"]["reused"] == 0
    st = (folder / "a.bmp").stat()
    line = max(st.st_mtime_ns, st.st_ctime_ns) + RACY_MARGIN_NS  # a.bmp changed exactly at the margin: racy
    reads.clear()
    scan(folder, previous={**first, "scan_started_ns": line})
    assert "a.bmp" in reads
    reads.clear()
    scan(folder, previous={**first, "scan_started_ns": line + 1})
    assert "a.bmp" not in reads


def test_a_deleted_duplicate_leaves_no_stale_link(folder: Path, reads: list[str]) -> None:
    (folder / "z.bmp").write_bytes((folder / "a.bmp").read_bytes())
    first = scan(folder)
    assert {e["file"]: e for e in first["files"]}["z.bmp"]["duplicate_of"] == "a.bmp"
    (folder / "a.bmp").unlink()
    second = scan(folder, previous=aged(first))
    assert reads.count("z.bmp") == 1  # read by the first scan only
    assert "duplicate_of" not in {e["file"]: e for e in second["files"]}["z.bmp"]
    assert whole(second) == whole(scan(folder))


def test_nothing_is_reused_from_another_folder_or_reader(folder: Path, tmp_path: Path, reads: list[str]) -> None:
    first = aged(scan(folder))
    other = tmp_path / "other" / "images"
    other.parent.mkdir()
    os.rename(folder, other)  # same names, same inodes and times: still another folder
    reads.clear()
    assert scan(other, previous=first)["scan"]["reused"] == 0 and len(reads) == 4
    os.rename(other, folder)
    reads.clear()
    assert scan(folder, previous={**first, "reader": "0"})["scan"]["reused"] == 0 and len(reads) == 4
    broken = {k: v for k, v in first.items() if k != "file_keys"}
    assert scan(folder, previous=broken)["scan"]["reused"] == 0


def test_the_stage_reports_reads_and_reuses_and_a_forced_run_reads_all(tmp_path: Path, folder: Path,
                                                                       reads: list[str]) -> None:
    from cviz.paths import CollectionPaths
    from cviz.stages.common import register
    from cviz.stages.images import stage_images
    from cviz.storage import open_storage

    storage = open_storage(str(tmp_path / "root"))
    register(storage, CollectionConfig(name="reuse", images=str(folder)))
    assert stage_images(storage, "reuse").values["files_read"] == 4
    path = CollectionPaths("reuse").catalogue
    storage.write_json(path, aged(storage.read_json(path)))
    report = stage_images(storage, "reuse")
    assert (report.values["files_read"], report.values["files_reused"]) == (0, 4)
    reads.clear()
    report = stage_images(storage, "reuse", reread=True)
    assert (report.values["files_read"], report.values["files_reused"]) == (4, 0) and len(reads) == 4


# -- object stores: the listing's ETag is the key --------------------------------------------------
@pytest.fixture
def s3_folder(monkeypatch: pytest.MonkeyPatch):
    """Three images under s3://reuse-test/images on a moto S3 server on 127.0.0.1 (nothing leaves it)."""
    pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    s3fs = pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    from tests.test_s3 import _free_port

    for var, value in (("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "skip_instance_cache": True}
    fs = s3fs.S3FileSystem(**options)
    if not fs.exists("reuse-test"):  # moto keeps its buckets for the process
        fs.mkdir("reuse-test")
    for i, name in enumerate(["a.bmp", "b.bmp", "sub/c.bmp"]):
        fs.pipe_file(f"reuse-test/images/{name}", _bmp((40 * i, 90, 200)))
    yield fs, options
    server.stop()


@pytest.mark.parametrize("images", ["s3://reuse-test/images", "s3://reuse-test/images/*.bmp"])
def test_unchanged_objects_are_not_read_again_and_a_rewritten_one_is(s3_folder, reads: list[str], images: str) -> None:
    fs, options = s3_folder
    config = CollectionConfig(name="reuse", images=images)
    first = build_catalogue(config, options)
    listed = ["a.bmp", "b.bmp", "sub/c.bmp"] if images.endswith("images") else ["a.bmp", "b.bmp"]
    assert sorted(reads) == listed and first["file_keys"]["a.bmp"][0] == "etag"
    reads.clear()
    second = build_catalogue(config, options, previous=first)  # no racy line: the ETag follows the bytes
    assert reads == [] and second["scan"]["reused"] == len(listed) and whole(second) == whole(first)
    fs.pipe_file("reuse-test/images/b.bmp", _bmp((1, 2, 3)))  # same size, new bytes
    third = build_catalogue(config, options, previous=second)
    assert reads == ["b.bmp"] and whole(third) == whole(build_catalogue(config, options))
