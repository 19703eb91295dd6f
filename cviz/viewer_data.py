"""The compact, column-oriented ``items.json`` the viewer loads once (format in docs/outputs.md).

Built from the catalogue (one dict lookup per item, O(N)) and the grid. Titles fall back to the
file name when the template renders empty; every value stays plain text.
"""

from __future__ import annotations

import re
from typing import Any

from cviz.collection import CollectionConfig

DATE_COLUMNS = ("date", "year", "objectDate", "Date", "Year", "created", "dateCreated")
_YEAR_RE = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
MAX_CATEGORIES = 60


def parse_year(value: str) -> int | None:
    """The first plausible year (1000-2099) in a date text: '1881-11' -> 1881, 'ca. 1885-90' -> 1885."""
    m = _YEAR_RE.search(value or "")
    return int(m.group(1)) if m else None


def _date_column(columns: list[str], rows: list[dict[str, str]]) -> str | None:
    for name in DATE_COLUMNS:
        if name in columns:
            values = [r.get(name, "") for r in rows if r.get(name)]
            if values and sum(parse_year(v) is not None for v in values) >= 0.5 * len(values):
                return name
    return None


def _category_columns(columns: list[str], rows: list[dict[str, str]], skip: set[str]) -> list[str]:
    out = []
    for c in columns:
        if c in skip:
            continue
        values: set[str] = set()
        filled = 0
        for r in rows:
            v = r.get(c, "")
            if v:
                filled += 1
                values.update(p.strip() for p in v.split("|") if p.strip())
            if len(values) > MAX_CATEGORIES:
                break
        if filled and 1 < len(values) <= MAX_CATEGORIES and len(values) < max(2, filled):
            out.append(c)
    return out


def build_items(
    config: CollectionConfig,
    items: list[dict[str, Any]],
    metadata_columns: list[str],
    cells: list[int],
    grid: dict[str, Any],
    image_paths: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(items.json document, report) for usable ``items`` (catalogue entries, in grid order)."""
    title_t, url_t = config.title_template, config.url_template
    rows = [e.get("row") or {} for e in items]
    titles, urls, fallbacks, empty_urls = [], [], [], 0
    for e, row in zip(items, rows):
        title = title_t.render(row).strip()
        if not title:
            title = e["file"].rsplit("/", 1)[-1]
            fallbacks.append(e["file"])
        titles.append(title)
        url = url_t.render(row).strip()
        empty_urls += not url
        urls.append(url)
    hidden = {config.filename_column, "title", "url"}
    extra = [c for c in metadata_columns if c and c not in hidden]
    date_col = _date_column(metadata_columns, rows)
    columns = ["title", "url"] + ([date_col] if date_col else []) + [c for c in extra if c != date_col]
    fields: dict[str, list] = {
        "id": [e["file"] for e in items],
        "cell": [int(c) for c in cells],
        "image": image_paths,
        "year": [parse_year(r.get(date_col, "")) if date_col else None for r in rows],
        "title": titles,
        "url": urls,
    }
    for c in columns[2:]:
        fields[c] = [r.get(c, "") for r in rows]
    doc = {
        "format": "cviz-items/1",
        "collection": config.name,
        "count": len(items),
        "grid": grid,
        "dzi": "map.dzi",
        "columns": columns,
        "date_column": date_col,
        "category_columns": _category_columns(extra, rows, {date_col} if date_col else set()),
        "fields": fields,
    }
    report = {
        "title_fallbacks": fallbacks,
        "empty_urls": empty_urls,
        "date_column": date_col,
        "years_parsed": sum(y is not None for y in fields["year"]),
    }
    return doc, report
