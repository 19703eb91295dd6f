"""The compact, column-oriented ``items.json`` the viewer loads once (format in docs/outputs.md).

Built from the catalogue (one dict lookup per item, O(N)) and the grid. Titles fall back to the
file name when the template renders empty; every value stays plain text.

Format ``cviz-items/2`` keeps the format's own per-item fields (``fields``: id, cell, image, year,
title, url) apart from the collection's CSV columns (``values``), so a column named ``year``,
``cell``, ``id`` or ``image`` is one more column and never replaces what the viewer navigates by.
At most ``MAX_COLUMNS`` CSV columns are carried (the first ones, in header order); the rest are
dropped and counted in ``columns_dropped``.

What reaches the viewer is bounded, so that one oversized CSV field (a 100 MB description) cannot
make a 100 MB ``items.json`` that no browser loads: a value (title, column) is cut at
``MAX_VALUE_CHARS`` with a marker saying so, an item's column values together at ``MAX_ITEM_CHARS``,
and all items' together at ``MAX_TOTAL_CHARS`` (the per-item share shrinks for huge collections); a
url longer than ``MAX_URL_CHARS`` is left out (a cut link leads nowhere). The full text stays in the
catalogue (``collections/<name>/images.json``); ``values_truncated`` counts the cut values, and the
WARN check ``catalogue_complete`` lists the values over ``MAX_VALUE_CHARS``.
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
MAX_VALUE_CHARS = 2_000  # one title or column value in items.json
MAX_URL_CHARS = 2_000  # a longer url is left out, not cut
MAX_ITEM_CHARS = 20_000  # one item's column values together
MAX_TOTAL_CHARS = 256 << 20  # every item's column values together (about 256 MB of JSON)
MIN_ITEM_CHARS = 200  # the per-item share never shrinks below this


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut at ``limit`` characters, with a marker saying how long it was and where it is whole."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [cut at {limit:,} of {len(text):,} characters; the full text is in the catalogue]"


def viewer_url(url: str) -> str:
    """The url as the viewer gets it: left out when over ``MAX_URL_CHARS``."""
    return url if len(url) <= MAX_URL_CHARS else ""


def oversized_values(row: dict[str, str], limit: int = MAX_VALUE_CHARS) -> list[tuple[str, int]]:
    """(column, length) of each value of a metadata row that the viewer gets cut."""
    return [(c, len(v)) for c, v in row.items() if isinstance(v, str) and len(v) > limit]


def _bounded_values(columns: list[str], rows: list[dict[str, str]], ids: list[str]
                    ) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """Column values per column, each item's within its share (module docstring); the cut values."""
    share = max(MIN_ITEM_CHARS, min(MAX_ITEM_CHARS, MAX_TOTAL_CHARS // max(1, len(rows))))
    values: dict[str, list[str]] = {c: [] for c in columns}
    cut: list[dict[str, Any]] = []
    for item_id, row in zip(ids, rows):
        left = share
        for c in columns:
            v = row.get(c, "")
            limit = max(0, min(MAX_VALUE_CHARS, left))
            if len(v) > limit:
                cut.append({"id": item_id, "column": c, "chars": len(v)})
                v = clip(v, limit)
            left -= min(len(v), limit)
            values[c].append(v)
    return values, cut


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


def _titles_and_urls(config: CollectionConfig, items: list[dict[str, Any]], rows: list[dict[str, str]]
                     ) -> tuple[list[str], list[str], list[str]]:
    """Each item's title (its file name when the template renders empty) and url, bounded for the
    viewer; and the files whose title fell back to their name."""
    titles, urls, fallbacks = [], [], []
    for e, row in zip(items, rows):
        title = config.title_template.render(row).strip()
        if not title:
            title = e["file"].rsplit("/", 1)[-1]
            fallbacks.append(e["file"])
        titles.append(clip(title))
        urls.append(viewer_url(config.url_template.render(row).strip()))
    return titles, urls, fallbacks


def build_items(
    config: CollectionConfig,
    items: list[dict[str, Any]],
    metadata_columns: list[str],
    cells: list[int],
    grid: dict[str, Any],
    image_paths: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(items.json document, report) for usable ``items`` (catalogue entries, in grid order)."""
    rows = [e.get("row") or {} for e in items]
    titles, urls, fallbacks = _titles_and_urls(config, items, rows)
    empty_urls = sum(not u for u in urls)
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
    values, cut = _bounded_values(columns, rows, fields["id"])
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
        "values_truncated": len(cut),
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
        "values_truncated": cut,
    }
    return doc, report
