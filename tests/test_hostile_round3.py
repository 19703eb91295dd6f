"""Answers that mislead though nothing is lost: each at the level of the bug, then through `cviz run`
(a child with the fake feature extractor, tests/bad_input/cli_child.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cviz.errors import MetadataError, TemplateError
from cviz.ingest.metadata_csv import parse_metadata
from cviz.ingest.templates import parse_template
from tests.test_interruptions import write_images
from tests.test_run_ends import cli_child


def live_items(root: Path, name: str) -> dict:
    pub = root / "published" / name
    return json.loads((pub / json.loads((pub / "current.json").read_text())["items"]).read_text())


# -- a template names any column -------------------------------------------------------------------------
def test_a_column_with_dots_is_named_in_quotes() -> None:
    t = parse_template('{"Acc. No."}: {title} ({"Date [approx]"})')
    assert t.columns == ["Acc. No.", "title", "Date [approx]"]
    assert t.render({"Acc. No.": "1977.12", "title": "Bowl", "Date [approx]": "ca. 1600"}) == "1977.12: Bowl (ca. 1600)"
    with pytest.raises(TemplateError, match=r'quote a column name with such characters: \{"Acc. No."\}'):
        parse_template("{Acc. No.}")
    assert parse_template('{"0.__class__"}').render({}) == ""  # quoted: a column name, never an expression
    with pytest.raises(TemplateError, match="never closed"):
        parse_template('{"Acc. No.')


# -- a spreadsheet's "Unicode text" and other exports ---------------------------------------------------------
def test_a_utf16_tab_separated_export_is_read_as_columns() -> None:
    text = "filename\tAcc. No.\ttitle\r\na.jpg\t1977.12\tBowl, blue\r\nb.jpg\t1977.13\tJar\r\n"
    table = parse_metadata(text.encode("utf-16"), "export.txt")
    assert table.columns == ["filename", "Acc. No.", "title"] and table.encoding == "utf-16, tab-separated"
    assert table.rows["a.jpg"] == {"filename": "a.jpg", "Acc. No.": "1977.12", "title": "Bowl, blue"}


def test_a_semicolon_csv_and_a_comma_csv_with_semicolons_in_values() -> None:
    table = parse_metadata('filename;title;price\na.jpg;"Bowl; blue";3,50\n'.encode("cp1252"), "eu.csv")
    assert table.columns == ["filename", "title", "price"] and table.rows["a.jpg"]["price"] == "3,50"
    table = parse_metadata(b'filename,title\na.jpg,"a; b; c"\n', "us.csv")
    assert table.columns == ["filename", "title"] and table.rows["a.jpg"]["title"] == "a; b; c"


@pytest.mark.parametrize("head, kind", [(b"PK\x03\x04\x14\x00\x06\x00", "an Excel workbook (.xlsx)"),
                                        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "an old Excel workbook (.xls)")])
def test_a_workbook_given_as_the_csv_is_named_as_such(head: bytes, kind: str) -> None:
    with pytest.raises(MetadataError, match=rf"metadata CSV book.xlsx is {kind.replace('(', '[(]').replace(')', '[)]')}"):
        parse_metadata(head + b"\x00" * 100, "book.xlsx")


def test_e2e_a_utf16_tab_export_with_a_dotted_column_through_cviz_run(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    write_images(folder, 0, 4)
    rows = "".join(f"img-{i:03d}.jpg\t1977.{i}\tBowl {i}\r\n" for i in range(4))
    csv_path = tmp_path / "export.txt"
    csv_path.write_bytes(("filename\tAcc. No.\ttitle\r\n" + rows).encode("utf-16"))
    root = tmp_path / "root"
    proc = cli_child(root, folder, extra=["-metadata", str(csv_path), "-title", '{"Acc. No."}: {title}'], name="bowls")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    doc = live_items(root, "bowls")
    titles = dict(zip(doc["fields"]["id"], doc["fields"]["title"]))
    assert titles == {f"img-{i:03d}.jpg": f"1977.{i}: Bowl {i}" for i in range(4)}


# -- two runs of one collection with different configurations ----------------------------------------------
def test_two_runs_with_different_configurations_each_build_their_own(tmp_path: Path) -> None:
    """Run A has registered its configuration and not yet started its first step when run B of the
    same collection, with another title, starts: B waits for A (it used to replace A's registration,
    and A then built B's configuration and exited 0 claiming its own). Each says what it built."""
    folder = tmp_path / "images"
    write_images(folder, 0, 4)
    meta = tmp_path / "metadata.csv"
    meta.write_text("filename,title\n" + "".join(f"img-{i:03d}.jpg,Bowl {i}\n" for i in range(4)), encoding="utf-8")
    root, marker, go = tmp_path / "root", tmp_path / "a-registered", tmp_path / "a-go"
    a = cli_child(root, folder, extra=["-metadata", str(meta), "-title", "A: {title}"], name="twice",
                  env={"CHILD_BLOCK": "register", "CHILD_MARKER": str(marker), "CHILD_GO": str(go)})
    b = None
    try:
        deadline = time.time() + 180
        while not marker.exists():
            assert a.poll() is None and time.time() < deadline, a.communicate()[1][-3000:]
            time.sleep(0.05)
        b = cli_child(root, folder, extra=["-metadata", str(meta), "-title", "B: {title}"], name="twice",
                      env={"CVIZ_LOCK_WAIT_S": "240"})
        time.sleep(5)  # B is started and waiting for A's lock, not registering over it
        config = json.loads((root / "collections" / "twice" / "collection.json").read_text())
        assert config["title"] == "A: {title}" and b.poll() is None
        go.write_text("go")
        a_out, a_err = a.communicate(timeout=300)
        b_out, b_err = b.communicate(timeout=300)
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert a.returncode == 0 and b.returncode == 0, (a_err[-2000:], b_err[-2000:])
    a_hash = a_out.split("configuration ")[1].split(")")[0]
    b_hash = b_out.split("configuration ")[1].split(")")[0]
    assert a_hash != b_hash
    assert sorted(live_items(root, "twice")["fields"]["title"]) == [f"B: Bowl {i}" for i in range(4)]


def test_a_run_that_built_another_configuration_says_which(tmp_path: Path) -> None:
    from cviz.ingest.collection import CollectionConfig
    from cviz.stages.common import config_hash
    from cviz.storage import open_storage
    from cviz_assets.cli import _built_configuration

    class Mat:
        def __init__(self, sha: str) -> None:
            self.metadata = {"config_sha256": type("V", (), {"value": sha})()}

    class Result:  # what the run's `images` step reported
        def __init__(self, sha: str) -> None:
            self.sha = sha

        def asset_materializations_for_node(self, node: str) -> list:
            return [Mat(self.sha)] if node == "images" else []

    store = open_storage(str(tmp_path))
    mine = CollectionConfig.from_dict({"name": "c1", "images": "/x", "title": "A {t}"})
    theirs = CollectionConfig.from_dict({"name": "c1", "images": "/x", "title": "B {t}"})
    store.write_json("collections/c1/images.json", {"config": theirs.to_dict(), "files": []})
    assert _built_configuration(Result(config_hash(mine)), store, mine) is None
    said = _built_configuration(Result(config_hash(theirs)), store, mine)
    assert said == f"configuration {config_hash(theirs)} (title='B {{t}}')"
