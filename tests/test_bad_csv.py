"""Metadata CSV: each messy CSV gets a clear error naming file/row/column, or a documented fallback.

Includes property-based tests (hypothesis): whatever text people type into cells, in whatever
encoding and line endings a spreadsheet writes, the reader gives back exactly those values or a
MetadataError, never a crash.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cviz.errors import CvizError, MetadataError, TemplateError
from cviz.ingest import catalogue as catalogue_mod
from cviz.ingest.catalogue import build_catalogue
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.metadata_csv import parse_metadata
from cviz.storage import open_storage
from tests.bad_input import images as corpus
from tests.bad_input.stages import published, register, run_all, run_stage


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", newline: str = "\n", quoting: int = csv.QUOTE_MINIMAL) -> bytes:
    """CSV as a spreadsheet writes it. (Python's writer quotes a field holding a line break only when
    that break is in its line terminator, so the property test quotes every field.)"""
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline, quoting=quoting).writerows(rows)
    return buf.getvalue().encode(encoding)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Three images: a.jpg, b.jpg, c.jpg."""
    out = tmp_path / "images"
    out.mkdir()
    for i, n in enumerate(["a.jpg", "b.jpg", "c.jpg"]):
        (out / n).write_bytes(corpus._jpeg(corpus.noise((40, 40), 100 + i)))
    return out


def catalogue_for(folder: Path, csv_data: bytes | None, **spec) -> dict:
    path = folder.parent / "metadata.csv"
    if csv_data is not None:
        path.write_bytes(csv_data)
    return build_catalogue(CollectionConfig(name="csvcase", images=str(folder), metadata=str(path), **spec))


# -- files that cannot be used -------------------------------------------------------------------
def test_missing_csv_file(folder: Path) -> None:
    with pytest.raises(MetadataError, match=r"metadata CSV .*metadata.csv does not exist"):
        catalogue_for(folder, None)


@pytest.mark.parametrize("data", [b"", b"   \n\r\n", b"\xef\xbb\xbf"])
def test_empty_csv(folder: Path, data: bytes) -> None:
    with pytest.raises(MetadataError, match=r"metadata.csv is empty \(no header row\)"):
        catalogue_for(folder, data)


def test_missing_filename_column_lists_columns_found(folder: Path) -> None:
    with pytest.raises(MetadataError) as err:
        catalogue_for(folder, csv_bytes([["file", "title"], ["a.jpg", "A"]]))
    assert "no column 'filename'" in str(err.value) and "columns found: ['file', 'title']" in str(err.value)


def test_filename_column_in_another_case_is_used(folder: Path) -> None:
    cat = catalogue_for(folder, csv_bytes([["Filename", "title"], ["a.jpg", "A"]]))
    assert {e["file"]: (e["row"] or {}).get("title") for e in cat["files"]}["a.jpg"] == "A"


def test_row_with_too_many_fields_names_the_line(folder: Path) -> None:
    data = csv_bytes([["filename", "title"], ["a.jpg", "A"], ["b.jpg", "B", "extra"]])
    with pytest.raises(MetadataError, match=r"metadata.csv, line 3: 3 fields but the header has 2"):
        catalogue_for(folder, data)


def test_nul_bytes_are_refused(folder: Path) -> None:
    with pytest.raises(MetadataError, match="NUL bytes"):
        catalogue_for(folder, b"filename,title\na.jpg,A\x00B\n")


def test_duplicate_header_column_is_refused(folder: Path) -> None:
    with pytest.raises(MetadataError, match=r"column 'title' appears twice"):
        catalogue_for(folder, csv_bytes([["filename", "title", "title"], ["a.jpg", "A", "B"]]))


# -- documented fallbacks ------------------------------------------------------------------------
def test_header_only_csv_gives_every_image_no_row(folder: Path) -> None:
    cat = catalogue_for(folder, csv_bytes([["filename", "title"]]))
    assert cat["counts"]["images_without_row"] == 3 and cat["counts"]["rows_without_image"] == 0
    assert cat["metadata"]["images_without_row"] == ["a.jpg", "b.jpg", "c.jpg"]


def test_rows_without_images_and_images_without_rows_are_counted_and_reported(tmp_path: Path, folder: Path) -> None:
    data = csv_bytes([["filename", "title"], ["a.jpg", "A"], ["gone.jpg", "Gone"], ["../../etc/passwd", "X"]])
    (tmp_path / "metadata.csv").write_bytes(data)
    storage = open_storage(str(tmp_path / "root"))
    register(storage, {"name": "rows", "images": str(folder), "metadata": str(tmp_path / "metadata.csv")})
    report = run_stage(storage, "rows", "images")
    assert report.values["images_without_row"] == 2 and report.tables["images_without_row"] == ["b.jpg", "c.jpg"]
    assert report.values["rows_without_image"] == 2
    assert report.tables["rows_without_image"] == ["../../etc/passwd", "gone.jpg"]  # listed, never opened


def test_duplicate_filenames_first_row_wins_and_are_reported(folder: Path) -> None:
    data = csv_bytes([["filename", "title"], ["a.jpg", "First"], ["b.jpg", "B"], ["a.jpg", "Second"]])
    cat = catalogue_for(folder, data)
    assert {e["file"]: (e["row"] or {}).get("title") for e in cat["files"]}["a.jpg"] == "First"
    assert cat["metadata"]["duplicates"] == [{"filename": "a.jpg", "line": 4, "first_line": 2}]
    assert cat["counts"]["csv_duplicate_rows"] == 1


def test_blank_filename_rows_are_reported_by_line(folder: Path) -> None:
    cat = catalogue_for(folder, csv_bytes([["filename", "title"], ["a.jpg", "A"], ["", "orphan"], ["  ", "x"]]))
    assert cat["metadata"]["blank_filename_lines"] == [3, 4]


@pytest.mark.parametrize("encoding,newline,expected_encoding", [
    ("latin-1", "\n", "cp1252"),
    ("cp1252", "\r\n", "cp1252"),
    ("utf-8-sig", "\n", "utf-8-sig"),
    ("utf-8", "\r\n", "utf-8"),
    ("utf-8", "\r", "utf-8"),  # old Mac line endings
    ("utf-8-sig", "\r", "utf-8-sig"),
])
def test_encodings_and_line_endings(folder: Path, encoding: str, newline: str, expected_encoding: str) -> None:
    rows = [["filename", "title", "place"], ["a.jpg", "Café Müller", "Zürich"], ["b.jpg", "Déjà vu", "Besançon"]]
    cat = catalogue_for(folder, csv_bytes(rows, encoding, newline))
    assert cat["metadata"]["encoding"] == expected_encoding
    assert cat["metadata"]["columns"] == ["filename", "title", "place"]  # no BOM glued to 'filename'
    titles = {e["file"]: (e["row"] or {}).get("title") for e in cat["files"]}
    assert titles["a.jpg"] == "Café Müller" and titles["b.jpg"] == "Déjà vu"


def test_quoted_fields_with_newlines_commas_and_quotes(folder: Path) -> None:
    title = 'Line one,\nline two, "quoted", and\r\nthree'
    cat = catalogue_for(folder, csv_bytes([["filename", "title"], ["a.jpg", title], ["b.jpg", "B"]], newline="\r\n"))
    rows = {e["file"]: e["row"] for e in cat["files"]}
    assert rows["a.jpg"]["title"] == title and rows["b.jpg"]["title"] == "B"


def test_decomposed_unicode_file_name_matches_its_row(tmp_path: Path) -> None:
    import unicodedata

    folder = tmp_path / "images"
    folder.mkdir()
    nfd = unicodedata.normalize("NFD", "étude.jpg")
    (folder / nfd).write_bytes(corpus._jpeg(corpus.noise((40, 40), 1)))
    cat = catalogue_for(folder, csv_bytes([["filename", "title"], [unicodedata.normalize("NFC", "étude.jpg"), "Étude"]]))
    assert cat["files"][0]["row"]["title"] == "Étude"


# -- templates against the CSV ------------------------------------------------------------------
def test_template_naming_a_missing_column_fails_before_any_work(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(*a, **k):
        raise AssertionError("the image folder was scanned before the template was checked")

    monkeypatch.setattr(catalogue_mod, "list_sources", no_scan)
    with pytest.raises(TemplateError) as err:
        catalogue_for(folder, csv_bytes([["filename", "title"], ["a.jpg", "A"]]), title="{Title} ({Year})")
    msg = str(err.value)
    assert "title template '{Title} ({Year})'" in msg and "['Title', 'Year']" in msg
    assert "columns found: ['filename', 'title']" in msg


def test_template_naming_a_missing_column_is_refused_at_registration(tmp_path: Path, folder: Path) -> None:
    import dagster as dg

    from cviz_assets.register import register_spec
    from cviz_resources import StorageResource

    (tmp_path / "m.csv").write_bytes(csv_bytes([["filename", "title"], ["a.jpg", "A"]]))
    spec = {"name": "tmpl", "images": str(folder), "metadata": str(tmp_path / "m.csv"), "url": "https://x.org/{Id}"}
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(TemplateError, match=r"url template 'https://x.org/\{Id\}' names column\(s\) \['Id'\]"):
        register_spec(instance, StorageResource(root=str(tmp_path / "root")), spec)
    assert not (tmp_path / "root" / "collections" / "tmpl").exists()
    assert not instance.has_dynamic_partition("collections", "tmpl")


def test_empty_template_values_fall_back(tmp_path: Path, folder: Path) -> None:
    data = csv_bytes([["filename", "Name", "Id"], ["a.jpg", "", ""], ["b.jpg", "Bee", "7"], ["c.jpg", "  ", ""]])
    (tmp_path / "m.csv").write_bytes(data)
    storage = open_storage(str(tmp_path / "root"))
    register(storage, {"name": "empty-values", "images": str(folder), "metadata": str(tmp_path / "m.csv"),
                       "title": "{Name}", "url": "https://example.org/{Id}"})
    reports = run_all(storage, "empty-values")
    _, items, _ = published(tmp_path / "root", "empty-values")
    got = dict(zip(items["fields"]["id"], zip(items["fields"]["title"], items["fields"]["url"])))
    assert got["a.jpg"][0] == "a.jpg" and got["c.jpg"][0] == "c.jpg"  # empty title: the file name
    assert got["b.jpg"] == ("Bee", "https://example.org/7")
    assert got["a.jpg"][1] == "https://example.org/"  # literal text kept, empty value renders empty
    assert reports["metadata_json"].values["title_fallbacks"] == 2


# -- property-based ----------------------------------------------------------------------------
cell_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
name_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\\"),
                    min_size=1, max_size=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(name_text, min_size=1, max_size=8, unique=True),
    extra=st.lists(st.tuples(cell_text, cell_text), min_size=8, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_csv_reader_round_trips_arbitrary_text(names, extra, encoding, newline) -> None:
    rows = [["filename", "title", "notes"]] + [[n, t, x] for n, (t, x) in zip(names, extra)]
    try:
        data = csv_bytes(rows, encoding, newline, csv.QUOTE_ALL)
    except UnicodeEncodeError:
        data = csv_bytes(rows, "utf-8", newline, csv.QUOTE_ALL)
    table = parse_metadata(data, "prop.csv")
    expected = {n.strip(): {"filename": n.strip(), "title": t.strip(), "notes": x.strip()}
                for n, (t, x) in zip(names, extra) if n.strip()}
    assert table.rows == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_csv_reader_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    try:
        table = parse_metadata(b"filename,title\n" + data, "fuzz.csv")
    except MetadataError as exc:
        assert "fuzz.csv" in str(exc)
    else:
        assert all(set(r) <= set(table.columns) for r in table.rows.values())


def test_metadata_errors_are_user_errors() -> None:
    assert issubclass(MetadataError, CvizError) and issubclass(TemplateError, CvizError)


def test_messy_csv_end_to_end_through_dagster(tmp_path: Path, folder: Path) -> None:
    """A Windows-1252 CSV with old Mac line endings, a duplicate row, a row for a missing image and an
    image without a row, through the real assets: the run succeeds and the `images` metadata says it all."""
    from tests.conftest import materialize_collection

    rows = [["Filename", "title", "url"], ["a.jpg", "Café, \"the\" one", "https://example.org/a"],
            ["b.jpg", "Bé", "javascript:alert(1)"], ["a.jpg", "Again", ""], ["gone.jpg", "Gone", ""]]
    (tmp_path / "meta.csv").write_bytes(csv_bytes(rows, "cp1252", "\r"))
    result = materialize_collection(tmp_path / "root", {"name": "messy-csv", "images": str(folder),
                                                        "metadata": str(tmp_path / "meta.csv")})
    assert result.success
    meta = result.asset_materializations_for_node("images")[0].metadata
    assert meta["metadata_encoding"].value == "cp1252"
    assert meta["images_without_row"].value == ["c.jpg"] and meta["rows_without_image"].value == ["gone.jpg"]
    assert meta["csv_duplicate_rows"].value == [{"filename": "a.jpg", "line": 4, "first_line": 2}]
    _, items, _ = published(tmp_path / "root", "messy-csv")
    got = dict(zip(items["fields"]["id"], zip(items["fields"]["title"], items["fields"]["url"])))
    assert got == {"a.jpg": ('Café, "the" one', "https://example.org/a"), "b.jpg": ("Bé", "javascript:alert(1)"),
                   "c.jpg": ("c.jpg", "")}
