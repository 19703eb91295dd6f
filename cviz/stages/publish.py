"""The `metadata_json` stage (items.json and the viewer extras) and `publish`, which alone switches
``current.json`` to the version a build completed.

Cost in N: ``metadata_json`` O(N) time and memory (the item rows, one JSON document: about
260 MB at 1,000,000 items; above ``CVIZ_VIEWER_LAZY_ABOVE`` items it is published as lazy tables
the viewer fetches piece by piece, cviz.publish.items_lazy, instead of one items.json); viewer extras
O(N k) (neighbour lists reused from the tsne stage, k-means regions O(N S) for S regions);
``publish`` O(1) (one pointer) plus the index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from cviz.errors import CollectionError
from cviz.ingest.catalogue import usable_items
from cviz.ingest.collection import CollectionConfig
from cviz.paths import CollectionPaths
from cviz.publish.items import build_items
from cviz.publish.items_lazy import INDEX_NAME, write_lazy
from cviz.settings import settings
from cviz.publish.versions import Version, publish_version
from cviz.render.cells import item_image_rel
from cviz.stages.common import StageReport, read_catalogue, run_config, timed
from cviz.stages.versions import built_version, mosaic_manifest
from cviz.storage import Storage


def stage_publish(storage: Storage, name: str) -> StageReport:
    """Switch ``current.json`` to the version this build completed and list it in the index.

    Runs after `dzi` and `metadata_json` and behind their blocking checks: when a check fails,
    this step is skipped and the previous map stays live. Re-publishing the live version only
    refreshes its index entry.
    """
    started = time.perf_counter()
    try:
        manifest = mosaic_manifest(storage, name)
    except FileNotFoundError:
        raise CollectionError(f"collection {name}: nothing built to publish; materialize mosaic, dzi and metadata_json") from None
    version = Version(name, manifest["version"])
    was_live = version.is_live(storage)
    if not was_live:
        built_version(storage, name, "publish")  # same grid, items and config as the mosaic
    from cviz.publish.layout_versions import pair_layouts  # the extra layouts built from this item list

    pairing = pair_layouts(storage, version)
    publish_version(storage, version, int(manifest["items"]), layouts=pairing.entries)
    return timed(StageReport(values={"items": int(manifest["items"]), "version": version.id,
                                     "published": True, "already_live": was_live, **pairing.values()}), started)


@dataclass
class BuiltInputs:
    """What the steps completing a version read: this run's config snapshot, catalogue, items, grid."""
    paths: CollectionPaths
    config: CollectionConfig
    catalogue: dict[str, Any]
    items: list[dict[str, Any]]
    grid: dict[str, Any]
    version: Version


def built_inputs(storage: Storage, name: str, stage: str) -> BuiltInputs:
    paths = CollectionPaths(name)
    catalogue = read_catalogue(storage, name)
    return BuiltInputs(paths, run_config(storage, name), catalogue, usable_items(catalogue),
                        storage.read_json(paths.grid), built_version(storage, name, stage)[0])


def _write_item_table(storage: Storage, version: Version, doc: dict[str, Any], lazy_above: int) -> dict[str, Any]:
    """items.json, or above ``lazy_above`` items the lazy tables instead; the other form, left by an
    earlier run into this (not yet live) version, is removed so the version names one table."""
    if doc["count"] > lazy_above:
        written = write_lazy(storage, version.folder, doc)
        if storage.exists(version.items):
            storage.remove_file(version.items)
        return {"item_table": INDEX_NAME, "bytes": written["index_bytes"] + sum(written["bytes"].values()),
                "index_bytes": written["index_bytes"], "lazy_files": sum(written["files"].values()),
                **{f"lazy_{k}_bytes": v for k, v in written["bytes"].items()},
                "category_columns_too_many_values": len(written["category_columns_dropped"])}
    if storage.exists(version.items_index):
        storage.remove_file(version.items_index)
    return {"item_table": "items.json", "bytes": storage.write_json(version.items, doc, compact=True)}


def stage_metadata_json(storage: Storage, name: str, lazy_above: int | None = None) -> StageReport:
    """Write the version's item table: items.json, or its lazy form above ``lazy_above`` items
    (default ``CVIZ_VIEWER_LAZY_ABOVE``)."""
    started = time.perf_counter()
    lazy_above = settings().viewer_lazy_above if lazy_above is None else lazy_above
    b = built_inputs(storage, name, "metadata_json")
    config, catalogue, items, grid, built = b.config, b.catalogue, b.items, b.grid, b.version
    columns = (catalogue.get("metadata") or {}).get("columns", [])
    grid_info = {"cols": grid["cols"], "rows": grid["rows"], "cell_width": grid["cell_width"],
                 "cell_height": grid["cell_height"], "width": grid["cols"] * grid["cell_width"],
                 "height": grid["rows"] * grid["cell_height"]}
    images = [f"../{item_image_rel(e['sha256'])}" for e in items]
    doc, info = build_items(config, items, columns, grid["cells"], grid_info, images)
    written = _write_item_table(storage, built, doc, lazy_above)
    report = StageReport(values={
        "items": len(items), **written, "title_fallbacks": len(info["title_fallbacks"]),
        "empty_urls": info["empty_urls"], "date_column": info["date_column"] or "none",
        "years_parsed": info["years_parsed"], "version": built.id,
        "columns_carried": info["columns_carried"], "columns_dropped": info["columns_dropped"],
        "values_truncated": len(info["values_truncated"]),  # cut for the viewer; whole in the catalogue
    })
    report.tables["title_fallback_files"] = info["title_fallbacks"][:200]
    if info["values_truncated"]:
        report.tables["values_truncated"] = info["values_truncated"][:200]
    return timed(report, started)


def stage_viewer_extras(storage: Storage, name: str) -> StageReport:
    """Write regions.json, neighbours.bin, duplicates.json and vocabulary.json into the mosaic's version folder.

    Runs inside the ``metadata_json`` step, into the version this build started (never a live one),
    before ``publish`` can switch to it, so a published version always has its extras. Item order
    is items.json's (usable items = PCA rows = grid cells).
    """
    from cviz.publish import similar, vocabulary
    from cviz.publish.items import DATE_COLUMNS

    started = time.perf_counter()
    b = built_inputs(storage, name, "metadata_json")  # never into a live version
    paths, config, catalogue, items, grid, version = b.paths, b.config, b.catalogue, b.items, b.grid, b.version.id
    features = storage.read_npy(paths.pca)
    if len(grid["cells"]) != len(items) or features.shape[0] != len(items):
        raise CollectionError(f"collection {name}: grid has {len(grid['cells'])} cells and pca {features.shape[0]} rows "
                              f"for {len(items)} items; re-materialize pca, tsne and grid")
    rows = [e.get("row") or {} for e in items]
    columns = [c for c in (catalogue.get("metadata") or {}).get("columns", [])
               if c and c not in {config.filename_column, "title", "url"}]
    values = {c: [str(r.get(c, "") or "") for r in rows] for c in columns}
    titles = [config.title_template.render(r).strip() or e["file"].rsplit("/", 1)[-1] for e, r in zip(items, rows)]

    t0 = time.perf_counter()
    try:  # the tsne stage's search of these rows (checked to fit them), else a search here
        searched = storage.read_npy(paths.knn).astype(np.int64)
    except (FileNotFoundError, ValueError, OSError, EOFError):  # missing or damaged: only a shortcut
        searched = None
    neighbours, nn_method = similar.nearest_neighbours(features, searched=searched)
    nn_bytes = similar.pack_neighbours(neighbours)
    storage.write_bytes(paths.neighbours(version), nn_bytes)
    nn_seconds = time.perf_counter() - t0

    dup_values, dup_groups = _write_duplicates(storage, paths, version, items,
                                               searched if nn_method.startswith("reused") else neighbours, features)

    region_values, region_names = _write_regions(storage, paths.regions(version), grid,
                                                 {c: values[c] for c in config.label_columns if c in values}, titles)

    skip = [c for c in columns if c in DATE_COLUMNS]
    filters = vocabulary.filter_columns(values, config.label_columns, skip=skip)
    storage.write_json(paths.vocabulary(version), {"format": vocabulary.FORMAT, "filter_columns": filters,
                                                   "label_columns": [c for c in config.label_columns if c in values]},
                       compact=True)
    report = StageReport(values={
        "items": len(items), "version": version, "neighbours_k": int(neighbours.shape[1]),
        "neighbours_method": nn_method, "neighbours_bytes": len(nn_bytes), "neighbours_seconds": round(nn_seconds, 3),
        **region_values, "filter_columns": ", ".join(filters) or "none", **dup_values,
    })
    report.tables["duplicate_groups"] = dup_groups
    report.tables["region_names"] = region_names
    return timed(report, started)


def _write_regions(storage: Storage, rel: str, grid: dict[str, Any], labels: dict[str, list[str]],
                   titles: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Find the named regions (cviz.publish.regions) and write regions.json at ``rel``. Returns the
    report's figures, with each scale's named regions and purity, and the names as table rows."""
    from cviz.publish import regions as regions_mod

    t0 = time.perf_counter()
    found = regions_mod.find_regions(grid["cells"], grid["cols"], grid["rows"], labels, titles)
    size = storage.write_json(rel, found.to_dict(grid["cols"], grid["rows"]), compact=True)
    values = {"regions_scales": len(found.scales), "regions": sum(len(s.regions) for s in found.scales),
              "regions_source": found.source or "none", "regions_bytes": size,
              "regions_seconds": round(time.perf_counter() - t0, 3), "regions_note": found.note,
              **{f"regions_{k}": v for k, v in found.quality().items()}}
    names = [{"scale": s.name, "name": r.name, "items": r.count, "share": round(r.share, 3)}
             for s in found.scales for r in s.regions][:200]
    return values, names


def _write_duplicates(storage: Storage, paths: CollectionPaths, version: str, items: list[dict[str, Any]],
                      knn: np.ndarray, projected: np.ndarray) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Find the near-duplicate groups (cviz.publish.duplicates: cosine distance of features.npy's rows
    between each item and its listed neighbours ``knn``; ``projected``, the PCA rows, rules out the
    pairs too far apart first) and write duplicates.json into the version. features.npy is
    memory-mapped where the storage allows (5 GB at 1,000,000 x 1280): only the rows of the
    remaining pairs are read. Returns the report's figures and the groups as table rows (first 200)."""
    from cviz.publish.duplicates import find_duplicates

    t0 = time.perf_counter()
    features = storage.load_npy(paths.features, mmap=True)
    if features.shape[0] != len(items):
        raise CollectionError(f"{paths.features} has {features.shape[0]} rows for {len(items)} items; "
                              "re-materialize features")
    found = find_duplicates(features, knn, projected=projected)
    ids = [e["file"] for e in items]
    storage.write_json(paths.duplicates(version), found.to_dict(ids), compact=True)
    rows = [{"items": ", ".join(ids[i] for i in g), "count": len(g), "max_distance": round(d, 4)}
            for g, d in zip(found.groups[:200], found.spread)]
    return {"duplicate_groups": len(found.groups), "duplicate_items": found.items,
            "duplicate_threshold": found.threshold, "duplicate_pairs_checked": found.pairs_checked,
            "duplicate_seconds": round(time.perf_counter() - t0, 3)}, rows
