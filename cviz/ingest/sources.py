"""Where a collection's images come from when they are URLs: a CSV column, or a IIIF manifest.

Both give a list of :class:`RemoteItem` (where the item was named, its URL, its metadata row) and a
:class:`~cviz.ingest.metadata_csv.MetadataTable` keyed by that URL, so the catalogue treats the two
the same way. For a CSV the table is the CSV itself, keyed by the image URL column; for a IIIF
manifest it is made from the manifest (cviz.ingest.iiif_manifest: label, metadata pairs, link).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cviz.ingest.collection import CollectionConfig
from cviz.ingest.fetch import shown
from cviz.ingest.iiif_image import service_of
from cviz.ingest.iiif_manifest import OWN_COLUMNS, read_iiif
from cviz.ingest.metadata_csv import MetadataTable
from cviz.ingest.remote_cache import RemoteCache
from cviz.settings import settings


@dataclass
class RemoteItem:
    """One image named by a URL."""

    where: str  # "line 12" of the CSV, or "canvas <id>" of a manifest: how a report names the row
    url: str  # as given
    row: dict[str, str]
    service: dict[str, Any] | None = None  # an image service embedded in a manifest
    record_service: bool = False  # fill the row's IIIF_COLUMNS from the service's info.json (a CSV of IIIF URLs)


# Where an item's image came from, as iiif_manifest.py writes them for canvases: the viewer opens
# iiif_service in deep zoom and the IIIF export names it. A CSV of IIIF Image API URLs gets them too.
IIIF_COLUMNS = ("iiif_service", "iiif_service_type", "iiif_service_profile", "iiif_width", "iiif_height")


@dataclass
class RemoteSource:
    items: list[RemoteItem]
    table: MetadataTable
    skipped: list[dict[str, str]]  # rows that name no usable URL: {"file", "row", "url", "reason"}
    notes: list[str]


def csv_source(config: CollectionConfig, table: MetadataTable) -> RemoteSource:
    """The rows of the metadata CSV, each with the URL in ``config.image_url_column``."""
    column = config.key_column
    items, skipped = [], []
    for url, row in table.rows.items():
        where = f"line {table.lines.get(url, '?')}"
        if not url.lower().startswith(("http://", "https://")):
            skipped.append({"file": url, "row": where, "url": url,
                            "reason": f"{where}: column {column!r} holds {url!r}, not an http(s) URL"})
            continue
        items.append(RemoteItem(where, url, row))
    skipped += [{"file": f"(line {n})", "row": f"line {n}", "url": "",
                 "reason": f"line {n}: column {column!r} is empty"} for n in table.blank_filename_lines]
    _add_iiif_columns(table, items)
    return RemoteSource(items, table, skipped, [])


def _add_iiif_columns(table: MetadataTable, items: list[RemoteItem]) -> None:
    """IIIF_COLUMNS, empty until fetched, on every row when some URL is a IIIF Image API URL and the
    CSV has none of those columns itself (its own values are never replaced)."""
    if any(c in table.columns for c in IIIF_COLUMNS) or not any(service_of(it.url) for it in items):
        return
    table.columns = [*table.columns, *IIIF_COLUMNS]
    for row in table.rows.values():
        row.update(dict.fromkeys(IIIF_COLUMNS, ""))
    for it in items:
        it.record_service = service_of(it.url) is not None


def json_document(cache: RemoteCache, url: str) -> Any:
    """A JSON document (manifest, collection, info.json), fetched through the cache within
    ``$CVIZ_IIIF_MAX_BYTES``; ValueError when it is not JSON."""
    got = cache.get(url, max_bytes=settings().iiif_max_bytes, load=True)
    try:
        return json.loads(got.data or b"")
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def iiif_source(config: CollectionConfig, cache: RemoteCache) -> RemoteSource:
    """Every canvas reachable from ``config.iiif_manifest`` (caps from cviz.settings)."""
    url = str(config.iiif_manifest)
    s = settings()
    reading = read_iiif(url, lambda u: json_document(cache, u), s.iiif_max_canvases, s.iiif_max_depth)
    columns = list(OWN_COLUMNS)
    rows: dict[str, dict[str, str]] = {}
    items, skipped = [], []
    duplicates = []
    for canvas in reading.canvases:
        columns += [c for c in canvas.row if c not in columns]
        where = f"canvas {canvas.row.get('iiif_canvas') or '?'}"
        if canvas.image in rows:
            duplicates.append({"filename": canvas.image, "line": where, "first_line": rows[canvas.image]["iiif_canvas"]})
            continue
        rows[canvas.image] = canvas.row
        items.append(RemoteItem(where, canvas.image, canvas.row, canvas.service))
    for p in reading.problems:
        where = f"canvas {p['canvas']}" if p.get("canvas") else f"manifest {shown(p['manifest'])}"
        skipped.append({"file": shown(p["manifest"]), "row": where, "url": shown(p["manifest"]),
                        "reason": f"{where}: {p['reason']}"})
    table = MetadataTable(source=shown(url), columns=columns, rows=rows, encoding="IIIF JSON", duplicates=duplicates)
    table.rows = {k: {c: v.get(c, "") for c in columns} for k, v in rows.items()}
    for item in items:
        item.row = table.rows[item.url]
    notes = reading.notes + [f"IIIF: {reading.manifests} manifest(s), {len(reading.canvases)} canvas(es) with an image"]
    return RemoteSource(items, table, skipped, notes)

