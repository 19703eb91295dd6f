"""The `mosaic` and `dzi` stages: the pyramid's top level (cviz.render.mosaic), then its lower levels
(cviz.render.levels) and ``map.dzi``, into a new version folder that nothing names yet.

Cost in N: the mosaic and the pyramid stream (O(N) time, memory of one band or block of tiles,
not of N); cells come from the cell cache (O(1) requests per item), a changed item re-renders
only its block (cviz.render.tile_reuse).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from cviz.errors import CollectionError
from cviz.ingest.catalogue import open_source, usable_items
from cviz.ingest.decode import ImageRejected, decode
from cviz.paths import CollectionPaths
from cviz.publish.iiif_info import write_level0
from cviz.publish.versions import Version, empty_trash, live_version
from cviz.render import cells
from cviz.render.dzi import Pyramid, choose_tile_size
from cviz.render.levels import build_lower_levels
from cviz.render.mosaic import MOSAIC_BACKGROUND, MosaicStats, render_mosaic
from cviz.render.tile_reuse import CellMap, Previous, find_previous, render_key
from cviz.settings import settings
from cviz.stages.common import StageReport, changed_since_catalogue, read_catalogue, timed
from cviz.stages.versions import built_version, rendered_from
from cviz.storage import Storage, read_source


def stage_mosaic(storage: Storage, name: str, workers: int = 2,
                 progress: Callable[[int, int], None] | None = None) -> StageReport:
    """Render the full-resolution mosaic as the top level of a new pyramid version, plus item images.

    ``progress(done, total)`` after every cell loaded (cached or decoded). The versions the last
    publish retired (local roots: renamed into the trash) are deleted meanwhile in a thread, so a
    13,000-tile deletion is off the update's critical path; the stage returns once both are done."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cviz-empty-trash") as pool:
        emptied = pool.submit(empty_trash, storage, name)
        report = _render_version(storage, name, workers, progress)
    report.values["retired_versions_deleted"] = emptied.result()
    return report


def _render_version(storage: Storage, name: str, workers: int,
                    progress: Callable[[int, int], None] | None) -> StageReport:
    started = time.perf_counter()
    paths = CollectionPaths(name)
    catalogue = read_catalogue(storage, name)
    items = usable_items(catalogue)
    grid = storage.read_json(paths.grid)
    if len(grid["cells"]) != len(items):
        raise CollectionError(f"collection {name}: grid has {len(grid['cells'])} cells for {len(items)} items; re-materialize grid")
    cols, rows, cw, ch = grid["cols"], grid["rows"], grid["cell_width"], grid["cell_height"]
    pyramid = Pyramid(cols * cw, rows * ch, choose_tile_size(cw, ch))
    built = Version(name, storage.new_version())
    version = built.id
    folder = built.tiles
    fs, base = open_source(catalogue, storage.storage_options)
    load_cell = cells.CellLoader(
        storage, items, (cw, ch), published=paths.published, existing=set(storage.list(paths.item_images)),
        background=MOSAIC_BACKGROUND,
        decode_original=lambda e, side: decode(read_source(fs, f"{base}/{e['file']}"), name=e["file"],
                                               at_least=(0, side))[0],
        progress=progress)
    item_at_cell = {int(c): i for i, c in enumerate(grid["cells"])}
    cell_map = CellMap.of(cols, rows, item_at_cell, [e["sha256"] for e in items],
                       render_key(pyramid.tile_size, (cw, ch), MOSAIC_BACKGROUND))
    previous, why = find_previous(storage, name, live_version(storage, name), cell_map.render)
    try:
        stats = render_mosaic(storage, folder, pyramid, cols, rows, (cw, ch), item_at_cell, load_cell, MOSAIC_BACKGROUND,
                              workers, cells=cell_map, previous=previous)
    except BaseException as exc:
        _discard_version(storage, paths, version)  # nothing names it yet; give the space back (disk full)
        if isinstance(exc, (ImageRejected, FileNotFoundError)):
            raise _vanished(storage, name, previous, exc) or changed_since_catalogue(name, exc) from exc
        raise
    storage.write_bytes(built.preview, stats.preview)
    storage.write_json(paths.cells(version), cell_map.to_json(), compact=True)  # what the next update may reuse
    storage.write_json(paths.mosaic, {"version": version, "pyramid": pyramid.to_dict(), "cols": cols, "rows": rows,
                                      "cell_width": cw, "cell_height": ch, "items": len(items),
                                      "lowest_level": stats.lowest_level, **rendered_from(storage, name, catalogue)})
    report = StageReport(values={
        "items": len(items), "width": pyramid.width, "height": pyramid.height, "tile_size": pyramid.tile_size,
        **_reuse_values(stats, previous, why), "levels_written": pyramid.max_level + 1 - stats.lowest_level,
        **load_cell.counts, "originals_decoded": load_cell.counts["cells_decoded"],
        "version": version,
    })
    report.pictures["mosaic_preview"] = stats.preview
    return timed(report, started)


def _vanished(storage: Storage, name: str, previous: Previous | None, exc: BaseException) -> CollectionError | None:
    """The error to report when the version whose tiles were being linked was removed meanwhile."""
    if previous is None or not isinstance(exc, FileNotFoundError) or storage.exists(CollectionPaths(name).dzi(previous.version)):
        return None
    return CollectionError(f"collection {name}: version {previous.version} was removed while this mosaic linked its "
                           "unchanged tiles (a publish at the same time?); re-materialize mosaic")


def _reuse_values(stats: MosaicStats, previous: Previous | None, why: str) -> dict[str, object]:
    """``tiles_written`` (made), ``tiles_reused`` (linked) and from which version, or why none."""
    if previous is not None and not stats.reused:
        why = f"nothing reusable in version {previous.version} (no tile unchanged, or cells are not tiles)"
    reused_from = previous.version if previous is not None and stats.reused else f"none: {why}"
    return {"tiles_written": stats.tiles - stats.reused, "tiles_reused": stats.reused, "reused_from": reused_from}


def _discard_version(storage: Storage, paths: CollectionPaths, version: str) -> None:
    try:
        storage.remove_tree(paths.version(version))
    except Exception:  # best effort: the original error is the one to report
        pass


def stage_dzi(storage: Storage, name: str) -> StageReport:
    """The lower pyramid levels and ``map.dzi`` of the version `mosaic` started (never a live one).
    On the cell-tile path `mosaic` wrote levels max..max-2 ("lowest_level"): a sixteenth of the tiles to read."""
    started = time.perf_counter()
    version, manifest = built_version(storage, name, "dzi")
    pyramid = Pyramid(**manifest["pyramid"])
    stats = build_lower_levels(storage, version.tiles, pyramid, start_level=manifest.get("lowest_level"))
    storage.write_bytes(version.dzi, pyramid.xml().encode())
    service = f"{settings().viewer_url.rstrip('/')}/data/{name}/{version.id}/iiif"  # viewer/server.js: /data/ = published/
    iiif_tiles = write_level0(storage, name, version.id, pyramid, service)
    return timed(StageReport(values={
        "items": int(manifest["items"]), "levels": stats.levels, "tiles": pyramid.tile_count(), "width": pyramid.width, "height": pyramid.height,
        "tile_size": pyramid.tile_size, "version": version.id, "iiif_tiles_linked": iiif_tiles,
    }), started)
