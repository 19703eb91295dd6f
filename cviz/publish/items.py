"""The compact, column-oriented ``items.json`` the viewer loads once (format in docs/outputs.md).

Built from the catalogue (one dict lookup per item, O(N)) and the grid. Titles fall back to the
file name when the template renders empty; every value stays plain text.

Format ``cviz-items/2`` keeps the format's own per-item fields (``fields``: id, cell, image, year,
title, url) apart from the collection's CSV columns (``values``), so a column named ``year``,
``cell``, ``id`` or ``image`` is one more column and never replaces what the viewer navigates by.
At most ``MAX_COLUMNS`` CSV columns are carried (the first ones, in header order); the rest are
dropped and counted in ``columns_dropped``.
"""

from __future__ import annotations

import re
from typing import Any

from cviz.ingest.collection import CollectionConfig

DATE_COLUMNS = ("date", "year", "objectDate", "Date", "Year", "created", "dateCreated")
_YEAR_RE = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
MAX_CATEGORIES = 60
ITEMS_FORMAT = "cviz-items/2"
OWN_FIELDS = ("id", "cell", "image", "year", "title", "url")
MAX_COLUMNS = 200  # CSV columns carried in items.json (docs/outputs.md); a 100,000-column CSV stays usable


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


def _shown_columns(config: CollectionConfig, metadata_columns: list[str]) -> list[str]:
    """The CSV columns items.json carries as columns: the file name column and a column that is the
    whole title or url template are shown as those instead; at most ``MAX_COLUMNS``."""
    title_t, url_t = config.title_template, config.url_template
    hidden = {config.filename_column} | {t.columns[0] for t in (title_t, url_t)
                                         if len(t.columns) == 1 and t.source.strip() == "{" + t.columns[0] + "}"}
    return [c for c in metadata_columns if c and c not in hidden]


def layout_columns(config: CollectionConfig, metadata_columns: list[str],
                   rows: list[dict[str, str]]) -> tuple[str | None, list[str]]:
    """(date column, category columns) as items.json names them, without building items.json."""
    extra = _shown_columns(config, metadata_columns)[:MAX_COLUMNS]
    date_col = _date_column(extra, rows)
    return date_col, _category_columns(extra, rows, {date_col} if date_col else set())


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
    extra = _shown_columns(config, metadata_columns)
    dropped = max(0, len(extra) - MAX_COLUMNS)
    extra = extra[:MAX_COLUMNS]
    date_col = _date_column(extra, rows)
    columns = ([date_col] if date_col else []) + [c for c in extra if c != date_col]
    fields: dict[str, list] = {
        "id": [e["file"] for e in items],
        "cell": [int(c) for c in cells],
        "image": image_paths,
        "year": [parse_year(r.get(date_col, "")) if date_col else None for r in rows],
        "title": titles,
        "url": urls,
    }
    values = {c: [r.get(c, "") for r in rows] for c in columns}
    doc = {
        "format": ITEMS_FORMAT,
        "collection": config.name,
        "count": len(items),
        "grid": grid,
        "dzi": "map.dzi",
        "columns": columns,
        "date_column": date_col,
        "category_columns": _category_columns(extra, rows, {date_col} if date_col else set()),
        "columns_dropped": dropped,
        "fields": fields,
        "values": values,
    }
    report = {
        "title_fallbacks": fallbacks,
        "empty_urls": empty_urls,
        "date_column": date_col,
        "years_parsed": sum(y is not None for y in fields["year"]),
        "columns_carried": len(columns),
        "columns_dropped": dropped,
    }
    return doc, report
