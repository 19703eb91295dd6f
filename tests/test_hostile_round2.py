"""Hostile input round 2: each class tested where the bug lives, then once through `cviz run`.

Everything is generated at test time (noise JPEGs, CSVs, pipes); nothing binary is committed. Reads
of unbounded sources (a named pipe, /dev/zero) run with a size cap and a timeout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from cviz.errors import MetadataError
from cviz.ingest import catalogue as cat
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.metadata_csv import decode_text, parse_metadata, read_metadata_bytes
from cviz.publish.items import ITEMS_FORMAT, MAX_COLUMNS, OWN_FIELDS, build_items
from cviz.storage import open_storage
from tests.bad_input import images as corpus
from tests.bad_input.stages import register, run_all
from tests.conftest import MODEL, REPO, WEIGHTS, child_env


def write_images(folder: Path, count: int, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"img-{i:03d}.jpg" for i in range(start, start + count)]
    for i, n in zip(range(start, start + count), names):
        (folder / n).write_bytes(corpus._jpeg(corpus.noise((64, 48), 900 + i)))
    return names


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def cli(args: list[str], root: Path, cwd: Path = REPO, code: str | None = None, timeout: float = 600,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """`cviz ...` in a child process (``code``: Python run first, e.g. to force a failing check)."""
    base = child_env(CVIZ_STORAGE_ROOT=str(root), CVIZ_MODEL=MODEL, CVIZ_WEIGHTS=WEIGHTS, PYTHONPATH=str(REPO),
                     **(env or {}))
    prog = (code or "") + "\nimport sys\nfrom cviz_assets.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", prog, *args], capture_output=True, text=True, env=base, cwd=cwd,
                          timeout=timeout)


def live_items(root: Path, name: str) -> dict:
    pub = root / "published" / name
    return json.loads((pub / json.loads((pub / "current.json").read_text())["items"]).read_text())


def usable_files(root: Path, name: str) -> list[str]:
    doc = json.loads((root / "collections" / name / "images.json").read_text())
    return [e["file"] for e in doc["files"] if e["status"] == "usable"]


# == class 1: the format's own fields apart from the CSV's columns ==============================
HOSTILE_HEADER = ["filename", "title", "year", "cell", "id", "image", "url", "department"]


def hostile_rows(names: list[str]) -> list[list[str]]:
    return [[n, f"Title {i}", f"ca. {1850 + i}", str(1000 + i), f"X-{i}", "https://evil.example/x.png",
             "javascript:alert(1)" if i == 0 else f"https://example.org/{i}", "Prints" if i % 2 else "Paintings"]
            for i, n in enumerate(names)]


def test_columns_named_like_own_fields_stay_columns() -> None:
    config = CollectionConfig(name="c1", images="/x", url="https://example.org/{id}")
    names = ["a.jpg", "b.jpg", "c.jpg"]
    items = [{"file": n, "row": dict(zip(HOSTILE_HEADER, r))} for n, r in zip(names, hostile_rows(names))]
    grid = {"cols": 2, "rows": 2, "cell_width": 8, "cell_height": 8, "width": 16, "height": 16}
    doc, info = build_items(config, items, HOSTILE_HEADER, [3, 0, 1], grid, ["../i/a", "../i/b", "../i/c"])
    assert doc["format"] == ITEMS_FORMAT == "cviz-items/2"
    assert set(doc["fields"]) == set(OWN_FIELDS)
    assert doc["fields"]["cell"] == [3, 0, 1] and doc["fields"]["id"] == names
    assert doc["fields"]["image"] == ["../i/a", "../i/b", "../i/c"]
    assert doc["fields"]["year"] == [1850, 1851, 1852] and doc["date_column"] == "year"
    assert doc["fields"]["url"] == ["https://example.org/X-0", "https://example.org/X-1", "https://example.org/X-2"]
    assert doc["values"]["cell"] == ["1000", "1001", "1002"] and doc["values"]["id"] == ["X-0", "X-1", "X-2"]
    assert doc["values"]["image"][0] == "https://evil.example/x.png" and doc["values"]["year"][0] == "ca. 1850"
    assert doc["values"]["url"][0] == "javascript:alert(1)"  # a column like any other (not the link)
    assert "title" not in doc["values"]  # the whole title template: shown as the title
    assert doc["columns"] == ["year", "cell", "id", "image", "url", "department"]
    assert doc["columns_dropped"] == 0 and info["columns_dropped"] == 0


def test_a_collection_with_hostile_columns_builds_and_passes_its_checks(tmp_path: Path) -> None:
    from cviz.publish import verify
    names = write_images(tmp_path / "images", 6)
    meta = write_csv(tmp_path / "metadata.csv", HOSTILE_HEADER, hostile_rows(names))
    store = open_storage(str(tmp_path / "root"))
    register(store, {"name": "cols", "images": str(tmp_path / "images"), "metadata": str(meta)})
    run_all(store, "cols")
    assert verify.verify_items(store, "cols").passed
    doc = live_items(tmp_path / "root", "cols")
    grid = json.loads((tmp_path / "root" / "collections" / "cols" / "grid.json").read_text())
    assert dict(zip(doc["fields"]["id"], doc["fields"]["cell"])) == dict(zip(usable_files(tmp_path / "root", "cols"),
                                                                              grid["cells"]))


FORCE_ITEMS_FAILURE = """
from cviz.publish import verify
verify.verify_items = lambda storage, name: verify._verdict(
    [{"problem": "forced by the test", "id": "img-000.jpg"}], {"items": 0}, "")
"""


@pytest.mark.slow
def test_e2e_failed_check_exits_non_zero_naming_it_and_keeps_the_previous_map(tmp_path: Path) -> None:
    write_images(tmp_path / "images", 6)
    root = tmp_path / "root"
    args = ["run", "-id", "gated", "-imagedir", str(tmp_path / "images")]
    first = cli(args, root)
    assert first.returncode == 0, first.stderr[-3000:]
    pointer = (root / "published" / "gated" / "current.json").read_bytes()
    index = (root / "published" / "index.json").read_bytes()
    write_images(tmp_path / "images", 2, start=6)
    second = cli(args, root, code=FORCE_ITEMS_FAILURE)
    assert second.returncode == 1, second.stderr[-3000:]
    last = second.stderr.strip().splitlines()[-1]
    assert "check items_resolved on metadata_json failed: 1 forced by the test" in last, last
    assert "nothing was published" in last
    assert (root / "published" / "gated" / "current.json").read_bytes() == pointer
    assert (root / "published" / "index.json").read_bytes() == index
    assert live_items(root, "gated")["count"] == 6


# == class 3: never ingest the storage root ===================================================
def test_outputs_under_the_image_folder_are_never_catalogued(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, 6)
    store = open_storage(str(folder / "cviz_data"))
    register(store, {"name": "self", "images": str(folder)})
    run_all(store, "self")
    run_all(store, "self")
    doc = store.read_json("collections/self/images.json")
    assert doc["counts"]["usable"] == 6
    assert not [e for e in doc["files"] if e["file"].startswith("cviz_data/")]
    [note] = [s for s in doc["skipped"] if s["file"] == "(cviz outputs)"]
    assert "storage root's own output folders" in note["reason"]


@pytest.mark.slow
def test_e2e_default_storage_inside_the_image_folder(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    write_images(folder, 6)
    root = folder / "cviz_data"
    for _ in range(2):
        proc = cli(["run", "-id", "self", "-imagedir", "."], root, cwd=folder)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert live_items(root, "self")["count"] == 6


# == class 4: metadata files are checked before they are read ==================================
def _read_guarded(path: str) -> BaseException | bytes:
    """read_metadata_bytes in a thread, so a regression (blocking on a pipe) fails instead of hanging."""
    out: list = []

    def go() -> None:
        try:
            fs, p = cat.filesystem_for(path)
            out.append(read_metadata_bytes(fs, p, path))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "reading the metadata file blocked"
    return out[0]


def test_named_pipe_and_device_are_refused_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "metadata.csv"
    os.mkfifo(fifo)
    err = _read_guarded(str(fifo))
    assert isinstance(err, MetadataError) and "named pipe, not a regular file" in str(err)
    err = _read_guarded("/dev/zero")
    assert isinstance(err, MetadataError) and "device or socket, not a regular file" in str(err)
    err = _read_guarded(str(tmp_path))
    assert isinstance(err, MetadataError) and "is a folder" in str(err)


def test_metadata_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"filename,title\n" + b"a.jpg,x\n" * 500)
    monkeypatch.setenv("CVIZ_METADATA_MAX_BYTES", "1000")
    err = _read_guarded(str(big))
    assert isinstance(err, MetadataError) and "is 4,015 bytes, over the 1,000 bytes limit ($CVIZ_METADATA_MAX_BYTES)" in str(err)
    monkeypatch.setenv("CVIZ_METADATA_MAX_BYTES", "100000")
    assert isinstance(_read_guarded(str(big)), bytes)


def test_slow_metadata_read_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    path = tmp_path / "m.csv"
    path.write_bytes(b"filename\na.jpg\n")
    fs, p = cat.filesystem_for(str(path))
    real_open = fs.open

    def slow_open(*a, **k):
        time.sleep(3)
        return real_open(*a, **k)

    monkeypatch.setattr(fs, "open", slow_open)
    monkeypatch.setenv("CVIZ_METADATA_TIMEOUT_S", "0.5")
    with pytest.raises(MetadataError, match=r"took over 0.5 s"):
        read_metadata_bytes(fs, p, str(path))


def test_a_drop_folder_whose_metadata_is_a_pipe_is_that_folders_problem(tmp_path: Path) -> None:
    from cviz.ingest import drop_folder
    write_images(tmp_path / "drop" / "good", 3)
    write_images(tmp_path / "drop" / "piped", 3)
    os.mkfifo(tmp_path / "drop" / "piped" / "metadata.csv")
    fs, root = cat.filesystem_for(str(tmp_path / "drop"))
    result: dict = {}
    t = threading.Thread(target=lambda: result.update({n: drop_folder.scan_folder(fs, root, n) for n in ("piped", "good")}),
                         daemon=True)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "the scan blocked on the pipe"
    assert "named pipe" in result["piped"].error
    assert result["good"].error is None and result["good"].files == 3


@pytest.mark.slow
def test_e2e_metadata_pipe_fails_fast_naming_it(tmp_path: Path) -> None:
    write_images(tmp_path / "images", 3)
    os.mkfifo(tmp_path / "metadata.csv")
    proc = cli(["run", "-id", "piped", "-imagedir", str(tmp_path / "images"), "-metadata",
                str(tmp_path / "metadata.csv")], tmp_path / "root", timeout=180)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "metadata.csv is a named pipe, not a regular file" in proc.stderr.strip().splitlines()[-1]


# == class 5: names that are not UTF-8; user errors not retried ================================
def test_non_utf8_file_name_is_skipped_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    write_images(folder, 3)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.jpg"), "wb") as f:
        f.write(corpus._jpeg(corpus.noise((64, 48), 1)))
    doc = cat.build_catalogue(CollectionConfig(name="latin", images=str(folder)))
    [bad] = [e for e in doc["files"] if e["status"] != "usable"]
    assert bad["file"] == "caf\\xe9.jpg" and "not valid UTF-8" in bad["reason"]
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # what failed (and was retried) before
    assert doc["counts"]["usable"] == 3


def test_deterministic_errors_are_not_retried_and_keep_their_words() -> None:
    from cviz_assets.retries import fail_fast_on_user_error

    attempts: list[int] = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2, delay=0))
    @fail_fast_on_user_error
    def encodes(context) -> None:  # no annotation: this module postpones annotations
        attempts.append(context.retry_number)
        "caf\udce9.jpg".encode("utf-8")

    result = dg.materialize([encodes], raise_on_error=False)
    assert not result.success and attempts == [0]
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description.startswith("UnicodeEncodeError: 'utf-8' codec")


def test_cli_line_names_the_error_after_retries_not_the_retry_wrapper() -> None:
    from cviz_assets.run_output import first_error as _first_error
    from cviz_assets.retries import fail_fast_on_user_error

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    @fail_fast_on_user_error
    def flaky(context) -> None:
        raise OSError(5, "Input/output error: disk at /data went away")

    line = _first_error(dg.materialize([flaky], raise_on_error=False))
    assert line == "flaky: OSError: [Errno 5] Input/output error: disk at /data went away"


# == class 8: an existing path is a path, not a glob ==========================================
@pytest.mark.parametrize("folder_name", ["photos [2023]", "what?", "star*dust"])
def test_existing_folder_with_glob_characters_is_a_folder(tmp_path: Path, folder_name: str) -> None:
    folder = tmp_path / folder_name
    write_images(folder, 3)
    _, _, files = cat.list_sources(str(folder))
    assert sorted(f.rel for f in files) == ["img-000.jpg", "img-001.jpg", "img-002.jpg"]
    _, _, globbed = cat.list_sources(str(tmp_path / "*" / "img-00[01].jpg"))  # a real glob still works
    assert sorted(f.rel for f in globbed) == [f"{folder_name}/img-000.jpg", f"{folder_name}/img-001.jpg"]


# == class 9: very wide CSVs ==================================================================
def test_columns_beyond_the_limit_are_dropped_and_counted() -> None:
    header = ["filename"] + [f"c{i}" for i in range(MAX_COLUMNS + 123)]
    config = CollectionConfig(name="wide", images="/x")
    items = [{"file": "a.jpg", "row": {h: "v" for h in header}}]
    grid = {"cols": 1, "rows": 1, "cell_width": 8, "cell_height": 8, "width": 8, "height": 8}
    doc, info = build_items(config, items, header, [0], grid, ["../i/a"])
    assert len(doc["columns"]) == len(doc["values"]) == MAX_COLUMNS
    assert doc["columns_dropped"] == info["columns_dropped"] == 123
    assert doc["columns"][-1] == f"c{MAX_COLUMNS - 1}"


# == classes 1, 5, 8 and 9 through `cviz run`, in one build ====================================
@pytest.mark.slow
def test_e2e_hostile_columns_names_folder_and_width_in_one_cviz_run(tmp_path: Path) -> None:
    """One collection holding four hostile inputs at once: a folder named like a glob, a file name
    that is not UTF-8, CSV columns named like items.json's own fields, and 20,000 columns."""
    folder = tmp_path / "photos [2023]"
    names = write_images(folder, 6)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.jpg"), "wb") as f:
        f.write(corpus._jpeg(corpus.noise((64, 48), 2)))
    wide = [f"col{i}" for i in range(20_000)]
    meta = write_csv(tmp_path / "metadata.csv", HOSTILE_HEADER + wide,
                     [row + [str(i)] * len(wide) for i, row in enumerate(hostile_rows(names))])
    root = tmp_path / "root"
    proc = cli(["run", "-id", "cols", "-imagedir", str(folder), "-metadata", str(meta)], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Exceeded max_retries" not in proc.stderr
    doc = live_items(root, "cols")
    # the glob-like folder is a folder; the non-UTF-8 name is skipped and named
    assert doc["count"] == 6
    skipped = json.loads((root / "collections" / "cols" / "images.json").read_text())["skipped"]
    assert {"file": "caf\\xe9.jpg",
            "reason": "file name is not valid UTF-8 (shown with \\x escapes): rename it to use it"} in skipped
    # columns named like the format's own fields stay columns; the own fields stay the pipeline's
    grid = json.loads((root / "collections" / "cols" / "grid.json").read_text())
    assert doc["format"] == "cviz-items/2" and sorted(doc["fields"]["cell"]) == sorted(grid["cells"])
    assert all(y is not None for y in doc["fields"]["year"])
    assert all(i.startswith("../images/") for i in doc["fields"]["image"])
    # 5 shown hostile columns (filename, title and url are shown as themselves) + 20,000: the first 200 carried
    assert len(doc["columns"]) == MAX_COLUMNS and doc["columns_dropped"] == 5 + 20_000 - MAX_COLUMNS


# == class 10: the smaller cases ==============================================================
def test_a_200kb_field_is_read() -> None:
    text = "x" * 200_000
    table = parse_metadata(f"filename,description\na.jpg,\"{text}\"\n".encode(), "m.csv")
    assert table.rows["a.jpg"]["description"] == text


def test_utf16_csv_is_read_by_its_bom() -> None:
    data = "filename,title\na.jpg,Père Tanguy\n".encode("utf-16")
    table = parse_metadata(data, "m.csv")
    assert table.encoding == "utf-16" and table.rows["a.jpg"]["title"] == "Père Tanguy"


def test_utf8_with_one_stray_byte_stays_utf8_and_says_so() -> None:
    good = "".join(f"img{i}.jpg,Dürer Ærø 東京 {i}\n" for i in range(20))
    data = ("filename,title\n" + good).encode() + b"bad.jpg,caf\xe9\n"
    text, encoding = decode_text(data, "m.csv")
    assert encoding == "utf-8 (1 invalid byte(s) replaced by U+FFFD, first on line 22)"
    assert "Dürer Ærø 東京" in text and "caf\ufffd" in text
    assert decode_text("filename\ncafé,naïve\n".encode("cp1252"), "m.csv")[1] == "cp1252"  # mostly cp1252


def test_labels_naming_a_missing_column_are_refused(tmp_path: Path) -> None:
    names = write_images(tmp_path / "images", 3)
    meta = write_csv(tmp_path / "m.csv", ["filename", "period"], [[n, "early"] for n in names])
    with pytest.raises(MetadataError, match=r"label column\(s\) \['periodd'\] not found"):
        cat.build_catalogue(CollectionConfig(name="lab", images=str(tmp_path / "images"), metadata=str(meta),
                                             label_columns=["periodd"]))


def test_hidden_files_are_listed_as_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    write_images(folder, 2)
    (folder / ".DS_Store").write_bytes(b"x")
    doc = cat.build_catalogue(CollectionConfig(name="hid", images=str(folder)))
    assert {"file": ".DS_Store", "reason": "hidden file or folder (name starts with '.')"} in doc["skipped"]
    assert doc["counts"]["usable"] == 2


@pytest.mark.slow
def test_e2e_small_cases_through_cviz_run(tmp_path: Path) -> None:
    """--labels naming a missing column and --storage naming a file: exit 2 with one clear line; a
    relative -imagedir is stored absolute."""
    names = write_images(tmp_path / "images", 6)
    meta = write_csv(tmp_path / "m.csv", ["filename", "period"], [[n, "early"] for n in names])
    root = tmp_path / "root"
    proc = cli(["add", "-id", "lab", "-imagedir", "images", "-metadata", "m.csv", "--labels", "periodd"], root,
               cwd=tmp_path)
    assert proc.returncode == 2 and "label column(s) ['periodd'] not found" in proc.stderr, proc.stderr[-2000:]
    (tmp_path / "afile").write_text("x")
    proc = cli(["add", "-id", "lab", "-imagedir", "images", "--storage", str(tmp_path / "afile")], root, cwd=tmp_path)
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr
    proc = cli(["add", "-id", "lab", "-imagedir", "images", "-metadata", "m.csv", "--labels", "period"], root,
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads((root / "collections" / "lab" / "collection.json").read_text())
    assert config["images"] == str(tmp_path / "images") and config["metadata"] == str(tmp_path / "m.csv")
