"""The drop-folder scanner (pure): settle detection, one request per content, incremental cursor,
bad folders reported without stopping the others. Time is passed in, mtimes set with os.utime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import fsspec
import pytest

from cviz.ingest import drop

T0 = 1_800_000_000.0  # a fixed "now" for the scans
QUIET = 30.0


def put(folder: Path, name: str, data: bytes = b"x", mtime: float | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes(data)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


def make_collection(root: Path, name: str, n: int = 3, mtime: float = T0 - 3600, **files: bytes) -> Path:
    folder = root / name
    for i in range(n):
        put(folder, f"img{i:03d}.jpg", f"image {i}".encode(), mtime)
    for fname, data in files.items():
        put(folder, fname.replace("_", "."), data, mtime)
    return folder


def tick(root: Path | str, cursor: drop.DropCursor, now: float, **kw) -> drop.Tick:
    t = drop.evaluate(str(root), cursor, now=now, quiet_seconds=kw.pop("quiet", QUIET), **kw)
    # the cursor must survive its JSON round trip, as it does between sensor evaluations
    t.cursor = drop.DropCursor.from_json(t.cursor.to_json())
    return t


def test_new_folder_is_requested_once_settled(tmp_path: Path) -> None:
    make_collection(tmp_path, "paintings")
    first = tick(tmp_path, drop.DropCursor(), T0)
    assert first.requests == [] and "paintings" in first.pending  # just seen: wait one quiet period
    second = tick(tmp_path, first.cursor, T0 + QUIET)
    assert [r.name for r in second.requests] == ["paintings"]
    req = second.requests[0]
    assert req.config.images.endswith("/paintings") and req.config.metadata is None
    assert req.files == 3 and req.run_key.startswith("drop:paintings:")
    # Unchanged: nothing more, however many evaluations follow.
    cursor = second.cursor
    for k in range(1, 6):
        again = tick(tmp_path, cursor, T0 + QUIET + 100 * k)
        assert again.requests == [] and again.pending == {}
        cursor = again.cursor


def test_copy_in_progress_does_not_fire_before_quiet_period(tmp_path: Path) -> None:
    folder = tmp_path / "letters"
    cursor = drop.DropCursor()
    now = T0
    for i in range(5):  # a copy that adds a file between each evaluation, 10 s apart
        put(folder, f"page{i}.jpg", b"p", mtime=now)
        t = tick(tmp_path, cursor, now)
        assert t.requests == [], f"fired during the copy at step {i}"
        cursor, now = t.cursor, now + 10
    # Evaluated again before the quiet period after the last file: still nothing.
    t = tick(tmp_path, cursor, now - 10 + QUIET - 1)
    assert t.requests == [] and t.pending["letters"] > 0
    t = tick(tmp_path, t.cursor, now - 10 + QUIET)
    assert [r.name for r in t.requests] == ["letters"] and t.requests[0].files == 5


def test_copy_preserving_old_mtimes_still_waits(tmp_path: Path) -> None:
    """rsync -a / cp -p keep old mtimes: the fingerprint must stay unchanged for the quiet period too."""
    folder = make_collection(tmp_path, "archive", n=2)
    t = tick(tmp_path, drop.DropCursor(), T0)
    put(folder, "late.jpg", b"late", mtime=T0 - 7200)  # arrives with an old mtime
    t = tick(tmp_path, t.cursor, T0 + QUIET)  # the first state would have settled, but it changed
    assert t.requests == []
    t = tick(tmp_path, t.cursor, T0 + 2 * QUIET)
    assert [r.files for r in t.requests] == [3]


def test_added_files_fire_exactly_one_new_request_and_reverting_is_new_work(tmp_path: Path) -> None:
    folder = make_collection(tmp_path, "maps")
    t = tick(tmp_path, tick(tmp_path, drop.DropCursor(), T0).cursor, T0 + QUIET)
    first_key = t.requests[0].run_key
    put(folder, "new1.jpg", b"n1", mtime=T0 + 100)
    put(folder, "new2.jpg", b"n2", mtime=T0 + 100)
    keys = []
    cursor = t.cursor
    for now in (T0 + 101, T0 + 100 + QUIET, T0 + 200 + QUIET, T0 + 300 + QUIET):
        t = tick(tmp_path, cursor, now)
        keys += [r.run_key for r in t.requests]
        cursor = t.cursor
    assert len(keys) == 1 and keys[0] != first_key
    # Back to the first content: a run is needed (the map shows the added images) and its key is
    # new, or Dagster would silently drop it as a duplicate of the first run.
    (folder / "new1.jpg").unlink()
    (folder / "new2.jpg").unlink()
    t = tick(tmp_path, tick(tmp_path, cursor, T0 + 1000).cursor, T0 + 1000 + QUIET)
    assert len(t.requests) == 1 and t.requests[0].run_key not in (first_key, keys[0])


def test_metadata_and_config_changes_fire(tmp_path: Path) -> None:
    csv = b"filename,title,url\nimg000.jpg,First,https://example.org/1\n"
    folder = make_collection(tmp_path, "prints", metadata_csv=csv,
                             collection_json=json.dumps({"title": "{title}", "cell": "64x64"}).encode())
    t = tick(tmp_path, tick(tmp_path, drop.DropCursor(), T0).cursor, T0 + QUIET)
    cfg = t.requests[0].config
    assert cfg.metadata.endswith("/prints/metadata.csv") and cfg.cell == "64x64"
    # Same size, same mtime, different content: still a change (content is hashed).
    p = folder / "metadata.csv"
    st = p.stat()
    p.write_bytes(csv.replace(b"First", b"Forst"))
    os.utime(p, (st.st_atime, st.st_mtime))
    assert p.stat().st_size == st.st_size
    t = tick(tmp_path, tick(tmp_path, t.cursor, T0 + 500).cursor, T0 + 500 + QUIET)
    assert [r.name for r in t.requests] == ["prints"]
    put(folder, "collection.json", json.dumps({"title": "{title}", "cell": "96x96"}).encode(), mtime=T0)
    t = tick(tmp_path, tick(tmp_path, t.cursor, T0 + 900).cursor, T0 + 900 + QUIET)
    assert [r.config.cell for r in t.requests] == ["96x96"]


def test_bad_folders_are_reported_and_the_others_still_fire(tmp_path: Path) -> None:
    make_collection(tmp_path, "good-one")
    make_collection(tmp_path, "Bad Name")
    make_collection(tmp_path, "bad-config", collection_json=b"{not json")
    make_collection(tmp_path, "bad-template", metadata_csv=b"filename,title\nimg000.jpg,A\n",
                    collection_json=json.dumps({"title": "{Titel}"}).encode())
    make_collection(tmp_path, "unreadable")
    (tmp_path / "unreadable" / "metadata.csv").symlink_to(tmp_path / "no-such-file.csv")  # cannot be read
    make_collection(tmp_path, ".hidden")
    put(tmp_path, "stray-file.jpg")
    t = tick(tmp_path, tick(tmp_path, drop.DropCursor(), T0).cursor, T0 + QUIET)
    assert [r.name for r in t.requests] == ["good-one"]
    problems = "\n".join(t.cursor.problems)
    assert "'Bad Name'" in problems and "invalid collection name" in problems
    assert "bad-config: " in problems and "not valid JSON" in problems
    assert "bad-template: " in problems and "Titel" in problems
    assert "unreadable: " in problems and "metadata.csv" in problems
    assert ".hidden" not in problems and "stray-file" not in problems
    reported = {p["collection"] for p in t.new_problems}
    assert {"bad-config", "bad-template"} <= reported
    # A rejected content is not retried (nor re-reported) until it changes.
    again = tick(tmp_path, t.cursor, T0 + 10 * QUIET)
    assert again.requests == [] and again.new_problems == []
    assert "bad-config: " in "\n".join(again.cursor.problems)
    # Fixed with the cell size under its old name (the original scripts' -tile): still read.
    put(tmp_path / "bad-config", "collection.json", b'{"tile": "64x64"}', mtime=T0)
    fixed = tick(tmp_path, tick(tmp_path, again.cursor, T0 + 20 * QUIET).cursor, T0 + 21 * QUIET)
    assert [r.name for r in fixed.requests] == ["bad-config"] and fixed.requests[0].config.cell == "64x64"
    assert "bad-config" not in "\n".join(fixed.cursor.problems)


def test_scan_is_incremental_and_the_cursor_compact(tmp_path: Path) -> None:
    names = [f"c{i:02d}" for i in range(7)]
    for n in names:
        make_collection(tmp_path, n, n=2)
    cursor, now, requested, scans = drop.DropCursor(), T0, [], []
    for _ in range(12):
        t = tick(tmp_path, cursor, now, max_folders=3, quiet=0)
        scans.append(t.scanned)
        requested += [r.name for r in t.requests]
        cursor, now = t.cursor, now + 1
    assert max(scans) == 3
    assert sorted(requested) == names  # every folder, once
    # Round robin afterwards: every folder keeps being looked at, three per tick.
    changed = tmp_path / "c01"
    put(changed, "more.jpg", b"m", mtime=T0)
    seen = []
    for _ in range(3):
        t = tick(tmp_path, cursor, now, max_folders=3, quiet=0)
        seen += [r.name for r in t.requests]
        cursor, now = t.cursor, now + 1
    assert seen == ["c01"]
    text = cursor.to_json()
    assert len(text) < 150 * len(names)
    assert drop.DropCursor.from_json("garbage{").entries == {}


def test_removed_folder_is_forgotten_and_nothing_deleted(tmp_path: Path) -> None:
    folder = make_collection(tmp_path / "drop", "gone")
    outputs = put(tmp_path / "published" / "gone", "current.json", b"{}")
    t = tick(tmp_path / "drop", tick(tmp_path / "drop", drop.DropCursor(), T0).cursor, T0 + QUIET)
    assert t.requests
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    first_key = t.requests[0].run_key
    t = tick(tmp_path / "drop", t.cursor, T0 + 2 * QUIET)
    assert t.removed == ["gone"] and t.cursor.entries["gone"].fp == drop.GONE
    assert any("published outputs are kept" in line for line in t.log)
    assert outputs.exists()
    t = tick(tmp_path / "drop", t.cursor, T0 + 3 * QUIET)
    assert t.removed == [] and t.requests == []  # reported once
    # Dropped again, even as it was, is a deliberate act (its outputs may have been retired): one
    # run, with a new key, or Dagster would drop the request as a duplicate of the first run.
    make_collection(tmp_path / "drop", "gone")
    t = tick(tmp_path / "drop", tick(tmp_path / "drop", t.cursor, T0 + 4 * QUIET).cursor, T0 + 5 * QUIET)
    assert len(t.requests) == 1 and t.requests[0].generation == 2 and t.requests[0].run_key != first_key


def test_empty_folder_waits_and_missing_root_is_reported(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    t = tick(tmp_path, drop.DropCursor(), T0, quiet=0)
    assert t.requests == [] and any("empty folder" in line for line in t.log)
    t = tick(tmp_path / "nowhere", drop.DropCursor(), T0)
    assert t.requests == [] and "does not exist" in t.cursor.problems[0]


def test_works_through_fsspec_on_a_non_local_filesystem() -> None:
    """The same scan over fsspec's in-memory filesystem: nothing assumes a local path."""
    fs = fsspec.filesystem("memory")
    root = "memory://cviz-drop-test"
    try:
        fs.pipe({f"/cviz-drop-test/remote/{i}.jpg": b"img" for i in range(4)})
        fs.pipe("/cviz-drop-test/remote/metadata.csv", b"filename,title\n0.jpg,Zero\n")
        t = tick(root, drop.DropCursor(), T0 + 10**6, quiet=0)
        assert [r.name for r in t.requests] == ["remote"]
        cfg = t.requests[0].config
        assert cfg.images.startswith("memory://") and cfg.metadata.endswith("remote/metadata.csv")
        assert t.requests[0].files == 5
    finally:
        fs.rm("/cviz-drop-test", recursive=True)


@pytest.mark.parametrize("text", ["", None, "[]", '{"c": {"x": {"bogus": 1}}}'])
def test_unreadable_cursor_starts_over(text: str | None) -> None:
    assert drop.DropCursor.from_json(text).entries == {}


def test_retiring_is_explicit_unlist_keeps_files_delete_removes_them(tmp_path: Path) -> None:
    from cviz.publish import retire
    from cviz.storage import open_storage

    store = open_storage(str(tmp_path))
    store.write_json("published/index.json", {"format": "cviz-index/1",
                                              "collections": [{"name": "old"}, {"name": "kept"}]})
    for name in ("old", "kept"):
        store.write_json(f"published/{name}/current.json", {})
        store.write_json(f"collections/{name}/collection.json", {})
    assert retire.unlist(store, "old") and not retire.unlist(store, "old")
    assert [c["name"] for c in store.read_json("published/index.json")["collections"]] == ["kept"]
    assert store.exists("published/old/current.json")
    assert retire.delete_outputs(store, "old") == ["published/old", "collections/old"]
    assert not store.exists("published/old") and store.exists("published/kept/current.json")
    with pytest.raises(ValueError):
        retire.unlist(store, "../kept")


def test_a_deferred_request_is_requested_again_on_the_next_tick(tmp_path: Path) -> None:
    """A collection busy with a run is deferred (the sensor never waits on its lock), not lost."""
    make_collection(tmp_path, "paintings")
    first = tick(tmp_path, drop.DropCursor(), T0)
    second = tick(tmp_path, first.cursor, T0 + QUIET)
    key = second.requests[0].run_key
    second.defer("paintings", "busy with run abc")
    assert second.requests == [] and any("deferred" in line for line in second.log)
    cursor = drop.DropCursor.from_json(second.cursor.to_json())
    third = tick(tmp_path, cursor, T0 + QUIET + 30)
    assert [r.run_key for r in third.requests] == [key]  # same content, same run key


# -- one bad folder never stops the others ------------------------------------------------------------
def _bombs(root: Path) -> None:
    make_collection(root, "bomb", collection_json=b"[" * 200_000)  # RecursionError in json.loads
    big = make_collection(root, "huge") / "collection.json"
    with open(big, "wb") as f:  # 300 MB as the file system reports it (sparse: nothing written)
        f.truncate(300 << 20)
    os.utime(big, (T0 - 3600, T0 - 3600))
    make_collection(root, "deep", collection_json=b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    make_collection(root, "zz-good", n=2)


def test_a_folder_bomb_is_that_folders_problem_and_the_others_are_requested(tmp_path: Path) -> None:
    import time

    _bombs(tmp_path)
    first = tick(tmp_path, drop.DropCursor(), T0)
    started = time.perf_counter()
    second = tick(tmp_path, first.cursor, T0 + QUIET)
    assert time.perf_counter() - started < 10  # the 300 MB file is refused by its size, unread
    assert [r.name for r in second.requests] == ["zz-good"]
    problems = {p.split(":", 1)[0]: p for p in second.cursor.problems}
    assert "nested too deeply" in problems["bomb"]
    assert "over the 1 MiB limit ($CVIZ_DROP_CONFIG_MAX_BYTES)" in problems["huge"]
    assert "deep" in problems and "Traceback" not in problems["deep"]
    assert {p["collection"] for p in first.new_problems + second.new_problems} >= {"bomb", "huge", "deep"}


def test_any_failure_in_one_folder_is_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever breaks while one folder is scanned or decided (here: a bug), the tick reports it and
    requests the others."""
    from cviz.ingest import drop_folder

    make_collection(tmp_path, "aa-broken")
    make_collection(tmp_path, "bb-fine")
    real = drop_folder.scan_folder

    def scan(fs, root, name):  # noqa: ANN001, ANN202
        if name == "aa-broken":
            raise RuntimeError("a bug in the scanner")
        return real(fs, root, name)

    monkeypatch.setattr(drop, "scan_folder", scan)
    second = tick(tmp_path, tick(tmp_path, drop.DropCursor(), T0).cursor, T0 + QUIET)
    assert [r.name for r in second.requests] == ["bb-fine"]
    assert any(p.startswith("aa-broken: cannot scan drop folder aa-broken: RuntimeError: a bug") for p in second.cursor.problems)
