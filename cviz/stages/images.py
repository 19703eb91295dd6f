"""The `images` stage: catalogue the collection's files (cviz.ingest.catalogue) into this run's snapshot."""

from __future__ import annotations

import time
from typing import Any

from cviz.ingest.catalogue import build_catalogue
from cviz.ingest.remote_catalogue import build_remote_catalogue
from cviz.paths import CollectionPaths
from cviz.stages.common import StageReport, config_hash, load_config, output_folders, timed
from cviz.storage import Storage


def _previous_catalogue(storage: Storage, paths: CollectionPaths) -> dict[str, Any] | None:
    """The last catalogue, whose unchanged files need not be read again; None when absent or unreadable."""
    try:
        previous = storage.read_json(paths.catalogue)
    except (FileNotFoundError, ValueError):
        return None
    return previous if isinstance(previous, dict) else None


def stage_images(storage: Storage, name: str, reread: bool = False) -> StageReport:
    """``reread``: read every file again, trusting nothing from the last catalogue (a forced run)."""
    started = time.perf_counter()
    config = load_config(storage, name)
    paths = CollectionPaths(name)
    for folder in (paths.base, paths.published, paths.item_images):  # left by runs killed mid-write
        storage.remove_stale_temp(folder)
    previous = None if reread else _previous_catalogue(storage, paths)
    if config.remote:  # image URLs or a IIIF manifest: fetched (conditionally) into the storage root's cache
        catalogue = build_remote_catalogue(config, storage, refetch=reread)
    else:
        catalogue = build_catalogue(config, storage.storage_options, exclude=output_folders(storage), previous=previous)
    catalogue["config"] = config.to_dict()  # the run's snapshot (run_config): later stages read this
    catalogue["config_sha256"] = config_hash(config)
    storage.write_json(CollectionPaths(name).catalogue, catalogue)
    counts = catalogue["counts"]
    report = StageReport(values=dict(counts))
    report.values["config_sha256"] = catalogue["config_sha256"]
    report.values["files_read"] = catalogue["scan"]["read"]  # bytes read, hashed and decoded in this scan
    report.values["files_reused"] = catalogue["scan"]["reused"]  # unchanged since the last scan: not read
    for key, value in (catalogue.get("fetch") or {}).items():  # http_requests, http_conditional, ...
        report.values[f"http_{key}"] = value
    report.values["metadata_encoding"] = (catalogue["metadata"] or {}).get("encoding", "no metadata CSV")
    report.tables["skipped_files"] = catalogue["skipped"][:200]
    if catalogue.get("stale"):  # image URLs whose host failed: the cached copy stays on the map
        report.tables["stale_images"] = catalogue["stale"][:200]
    if catalogue["metadata"]:
        md = catalogue["metadata"]
        report.tables["images_without_row"] = md["images_without_row"][:200]
        report.tables["rows_without_image"] = md["rows_without_image"][:200]
        report.tables["csv_duplicate_rows"] = md["duplicates"][:200]
    report.tables["duplicates"] = [
        {"file": e["file"], "same_bytes_as": e["duplicate_of"]} for e in catalogue["files"] if e.get("duplicate_of")
    ][:200]
    report.tables["case_clashes"] = [
        {"file": e["file"], "differs_only_by_case_from": e["case_clash_with"]}
        for e in catalogue["files"] if e.get("case_clash_with")
    ][:200]
    report.tables["notes"] = catalogue["notes"]
    return timed(report, started)
