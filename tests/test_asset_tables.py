"""The collection's metadata shows as tables on the asset pages: a column schema and a preview."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from cviz_assets.tables import (MAX_TABLE_COLUMNS, PREVIEW_ROWS, catalogue_frame, column_type, items_frame,
                                table_metadata)


def test_column_types_follow_the_values_not_the_text() -> None:
    assert column_type(pd.Series(["1888", "1890", "", None])) == "int"
    assert column_type(pd.Series(["1.5", "2"])) == "float"
    assert column_type(pd.Series(["ca. 1465", "1688"])) == "string"
    assert column_type(pd.Series([True, False])) == "bool"
    assert column_type(pd.Series(["", None])) == "string"


def test_catalogue_frame_has_one_row_per_usable_image_in_csv_column_order() -> None:
    catalogue = {"metadata": {"columns": ["filename", "title", "year"]},
                 "files": [{"file": "a.jpg", "status": "usable", "row": {"filename": "a.jpg", "title": "A", "year": "1889"}},
                           {"file": "b.txt", "status": "skipped", "reason": "not an image"},
                           {"file": "c.jpg", "status": "usable", "row": None}]}
    frame = catalogue_frame(catalogue)
    assert list(frame.columns) == ["file", "title", "year"]
    assert frame["file"].tolist() == ["a.jpg", "c.jpg"]
    assert frame["title"].tolist()[0] == "A" and frame["title"].isna().tolist()[1]


def test_table_metadata_is_a_schema_a_count_and_a_bounded_preview() -> None:
    frame = pd.DataFrame({"title": [f"t{i}" for i in range(50)], "year": [str(1800 + i) for i in range(50)],
                          "note": ["x" * 10_000] * 50})
    meta = table_metadata(frame)
    schema = meta["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type) for c in schema.columns] == [("title", "string"), ("year", "int"), ("note", "string")]
    assert meta["dagster/row_count"].value == 50
    records = meta["preview"].records
    assert len(records) == PREVIEW_ROWS
    assert records[0].data["title"] == "t0" and len(records[0].data["note"]) <= 200


def test_items_frame_reads_the_column_oriented_item_table() -> None:
    items = {"count": 2, "fields": {"id": ["a", "b"], "title": ["A", "B"], "cell": [3, 7]},
             "values": {"date": ["1888", None], "bad": ["only one"]}}
    frame = items_frame(items)
    assert list(frame.columns) == ["id", "title", "cell", "date"]
    assert frame["cell"].tolist() == [3, 7]


def test_a_very_wide_csv_is_shown_by_its_first_columns_and_says_how_many_are_left_out() -> None:
    frame = pd.DataFrame({f"col{i}": ["1", "2"] for i in range(MAX_TABLE_COLUMNS + 10)})
    meta = table_metadata(frame)
    assert len(meta["dagster/column_schema"].columns) == MAX_TABLE_COLUMNS
    assert len(meta["preview"].records[0].data) == MAX_TABLE_COLUMNS
    assert meta["table_columns_left_out"].value == 10
    assert "table_columns_left_out" not in table_metadata(frame.iloc[:, :3])
