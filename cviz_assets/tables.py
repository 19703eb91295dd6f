"""A collection's metadata as tables on its asset pages: a column schema and a preview of rows.

A curator checking a new collection wants to see its columns and a few rows, not read JSON: the
``images`` asset shows the metadata CSV as it was joined to the images (one row per usable image),
``metadata_json`` the item table the viewer loads. Both carry Dagster's ``dagster/column_schema``
(shown on the asset's Overview) and a ``preview`` table of the first rows.

pandas reads the rows (``DataFrame``) and infers each column's type the way a spreadsheet user
expects: a column whose every non-empty value is a whole number is ``int``, a decimal one ``float``,
anything else ``string`` (a CSV's values all arrive as text).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 20
MAX_CELL_CHARS = 200  # a preview cell: enough to recognise a value, never a 100 MB field
MAX_TABLE_COLUMNS = 64  # a 20,000-column CSV must not put 20,000 columns in every materialization event


def column_type(values: pd.Series) -> str:
    """``int``, ``float``, ``bool`` or ``string`` for one column of text or typed values."""
    present = values.dropna()
    present = present[present.astype(str).str.strip() != ""]
    if present.empty:
        return "string"
    if pd.api.types.is_bool_dtype(present):
        return "bool"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        return "int" if (numbers == numbers.round()).all() and not present.astype(str).str.contains(r"[.eE]").any() \
            else "float"
    return "string"


def table_schema(frame: pd.DataFrame, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    descriptions = descriptions or {}
    return dg.TableSchema(columns=[dg.TableColumn(str(c), column_type(frame[c]), descriptions.get(str(c)))
                                   for c in frame.columns])


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"


def table_metadata(frame: pd.DataFrame, descriptions: dict[str, str] | None = None) -> dict[str, Any]:
    """The column schema, the row count and a preview of the first :data:`PREVIEW_ROWS` rows, of the
    first :data:`MAX_TABLE_COLUMNS` columns (``table_columns_left_out`` counts the rest)."""
    left_out = max(0, frame.shape[1] - MAX_TABLE_COLUMNS)
    frame = frame.iloc[:, :MAX_TABLE_COLUMNS]
    schema = table_schema(frame, descriptions)
    head = frame.head(PREVIEW_ROWS)
    records = [dg.TableRecord({str(c): _cell(v) for c, v in zip(head.columns, row)})
               for row in head.itertuples(index=False, name=None)]
    return {"dagster/column_schema": schema, "dagster/row_count": dg.MetadataValue.int(len(frame)),
            "preview": dg.MetadataValue.table(records, schema),
            **({"table_columns_left_out": dg.MetadataValue.int(left_out)} if left_out else {})}


def catalogue_frame(catalogue: dict[str, Any]) -> pd.DataFrame:
    """One row per usable image: its file and its metadata CSV row (columns in the CSV's order)."""
    columns = [c for c in (catalogue.get("metadata") or {}).get("columns", []) if c != "filename"]
    rows = [{"file": f.get("file"), **{c: (f.get("row") or {}).get(c) for c in columns}}
            for f in catalogue.get("files", []) if f.get("status") == "usable"]
    return pd.DataFrame(rows, columns=["file", *columns])


def items_frame(items: dict[str, Any]) -> pd.DataFrame:
    """The viewer's item table (``items.json``, column-oriented: ``fields`` then ``values``) as rows."""
    data = {**items.get("fields", {}), **items.get("values", {})}
    count = int(items.get("count", 0))
    return pd.DataFrame({k: v for k, v in data.items() if isinstance(v, list) and len(v) == count})
