"""The catalogue of a collection whose images are URLs (a CSV column or a IIIF manifest).

The same document as cviz.ingest.catalogue writes for a folder (``cviz-catalogue/1``), so every
later stage reads it unchanged: each usable image's ``file`` is its body's path in the fetch cache
(``cache/remote/``, cviz.ingest.remote_cache) and ``base`` is that folder's URL under the storage
root. Each row is fetched once, at the size the pipeline needs (cviz.ingest.iiif_image), and
conditionally on a rescan; a row that cannot be fetched or decoded is skipped with its row and URL
(``skipped``, the ``catalogue_complete`` WARN check) and the collection is built from the rest.
``fetch`` counts the requests (``conditional``: all of them on an unchanged rescan).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cviz.errors import CollectionError
from cviz.ingest.catalogue import describe_bytes
from cviz.ingest.catalogue_reuse import READ_FIELDS, READER_VERSION
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.collection_metadata import check_label_columns, check_templates, read_metadata
from cviz.ingest.fetch import Fetcher, FetchError, shown
from cviz.ingest.iiif_image import level, service_of, sized_request, version
from cviz.ingest.remote_cache import RemoteCache
from cviz.ingest.sources import RemoteItem, RemoteSource, csv_source, iiif_source, json_document
from cviz.paths import REMOTE_CACHE
from cviz.storage import Storage

WORKERS = 8  # threads fetching at once; each host still gets at most $CVIZ_FETCH_PER_HOST connections


def request_url(item: RemoteItem, cache: RemoteCache) -> str:
    """The URL to fetch for ``item``: a IIIF image at a bounded size (its service's info.json read,
    through the cache, unless the manifest's service says level 2), else the URL as given."""
    service = item.service
    base = service["id"] if service else service_of(item.url)
    if base is None:
        return item.url
    info = service if service and level(service) >= 2 else json_document(cache, f"{base}/info.json")
    if not isinstance(info, dict):
        raise FetchError(f"{base}/info.json is not a JSON object")
    if item.record_service:
        _record_service(item.row, base, info)
    return sized_request(base, info)


def _record_service(row: dict[str, str], base: str, info: dict[str, Any]) -> None:
    """The row's IIIF columns (sources.IIIF_COLUMNS) from the service's info.json, as a manifest's
    canvas would give them: its base URL, Image API version as a Presentation 3 type, level, size."""
    width, height = info.get("width"), info.get("height")
    row.update({"iiif_service": base, "iiif_service_type": "ImageService3" if version(info) == 3 else "ImageService2",
                "iiif_service_profile": f"level{level(info)}",
                "iiif_width": str(width) if isinstance(width, int) and width > 0 else "",
                "iiif_height": str(height) if isinstance(height, int) and height > 0 else ""})


def _fetch(item: RemoteItem, cache: RemoteCache) -> tuple[dict[str, Any], bool | str | None]:
    """(catalogue entry, True if downloaded now / False if not modified / None if failed / the
    reason, when the stored copy is used because the host failed transiently)."""
    entry: dict[str, Any] = {"file": shown(item.url), "status": "skipped", "reason": None, "url": shown(item.url),
                             "where": item.where}
    try:
        request = request_url(item, cache)
        got = cache.get(request, describe=lambda body: describe_bytes(body, request))
    except (FetchError, ValueError) as exc:
        entry["reason"] = f"{item.where}: {shown(item.url)}: {exc}"
        return entry, None
    entry["file"] = got.body_rel
    entry["request"] = shown(request)
    described = got.record.get("described") or {"status": "skipped", "reason": "cached record without a verdict"}
    entry.update({k: described[k] for k in READ_FIELDS if k in described})
    if entry["status"] != "usable":
        entry["reason"] = f"{item.where}: {shown(item.url)}: {entry.get('reason')}"
    entry["row"] = item.row
    return entry, (f"{item.where}: {shown(item.url)}: {got.stale}" if got.stale else got.fresh)


def _source(config: CollectionConfig, cache: RemoteCache, storage_options: dict[str, Any] | None) -> RemoteSource:
    if config.iiif_manifest:
        return iiif_source(config, cache)
    table = read_metadata(config, storage_options)
    assert table is not None  # CollectionConfig requires the CSV with image_url_column
    return csv_source(config, table)


def build_remote_catalogue(config: CollectionConfig, storage: Storage, fetcher: Fetcher | None = None,
                           refetch: bool = False) -> dict[str, Any]:
    """Fetch, validate and describe every row's image; raise CollectionError when none is usable.
    ``refetch``: fetch every URL unconditionally (a forced run trusts nothing cached)."""
    started = time.perf_counter()
    scan_started_ns = time.time_ns()
    own = fetcher is None
    fetcher = fetcher or Fetcher()
    try:
        cache = RemoteCache(storage, fetcher, refetch=refetch)
        source = _source(config, cache, storage.storage_options)
        notes = source.notes + check_templates(config, source.table)
        check_label_columns(config, source.table)
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = list(pool.map(lambda item: _fetch(item, cache), source.items))
    finally:
        if own:
            fetcher.close()
    entries = [e for e, _ in results]
    _mark_repeats(entries)
    usable = [e for e in entries if e["status"] == "usable"]
    skipped = source.skipped + [{"file": e["file"], "row": e["where"], "url": e["url"], "reason": e["reason"]}
                                for e in entries if e["status"] != "usable"]
    if not usable:
        first = "; ".join(s["reason"] for s in skipped[:3])
        raise CollectionError(f"collection {config.name}: none of the {len(source.items)} image URLs gave a usable "
                              f"image ({first or 'no rows'})")
    fetch = {**fetcher.counts.as_dict(), "images_downloaded": sum(1 for _, f in results if f is True),
             "images_not_modified": sum(1 for _, f in results if f is False),
             "images_failed": sum(1 for _, f in results if f is None),
             "images_stale": sum(1 for _, f in results if isinstance(f, str))}
    table = source.table
    return {
        "format": "cviz-catalogue/1", "collection": config.name,
        "images": config.iiif_manifest or f"{config.metadata} (column {config.image_url_column})",
        "base": storage.url(REMOTE_CACHE), "files": entries,
        "counts": {"found": len(entries) + len(source.skipped), "usable": len(usable), "skipped": len(skipped),
                   "duplicates": sum(1 for e in entries if e.get("duplicate_of")), "case_clashes": 0,
                   "images_without_row": 0, "rows_without_image": 0, "csv_duplicate_rows": len(table.duplicates)},
        "skipped": skipped,
        "metadata": {"source": table.source, "encoding": table.encoding, "columns": table.columns,
                     "rows": len(table.rows), "duplicates": table.duplicates,
                     "blank_filename_lines": table.blank_filename_lines, "rows_without_image": [],
                     "images_without_row": []},
        "notes": notes, "fetch": fetch,
        "stale": [f for _, f in results if isinstance(f, str)],  # kept from the cache: the host failed transiently
        "reader": READER_VERSION, "scan_started_ns": scan_started_ns, "file_keys": {},
        "scan": {"reused": fetch["images_not_modified"], "read": fetch["images_downloaded"], "previous_entries": 0},
        "seconds": round(time.perf_counter() - started, 3),
    }


def _mark_repeats(entries: list[dict[str, Any]]) -> None:
    """Two rows that fetch the same URL are one image: the later one is skipped, naming the first.
    Different URLs with byte-identical images are both kept and marked ``duplicate_of``."""
    by_file: dict[str, dict[str, Any]] = {}
    by_hash: dict[str, str] = {}
    for e in entries:
        if e["status"] != "usable":
            continue
        first = by_file.setdefault(e["file"], e)
        if first is not e:
            e.update(status="skipped", reason=f"{e['where']}: {e['url']}: the same image as {first['where']} "
                                              f"({first['request']})")
            continue
        original = by_hash.setdefault(e["sha256"], e["file"])
        if original != e["file"]:
            e["duplicate_of"] = original
