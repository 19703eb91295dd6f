"""The extra layouts: one asset per layout, collection-partitioned like the others.

``timeline_layout`` and ``category_layout`` each read the catalogue (dates, categories) and the
t-SNE points (similarity order inside a bin or block) and build their own version folder
(arrangement, mosaic from the cell cache, Deep Zoom pyramid, layout.json) in one step, through
cviz.stages.layouts; `publish` (downstream of both) names them in current.json. Why one asset per
layout rather than a layout x collection ``MultiPartitionsDefinition``: Dagster runs only assets of
one partitions definition in one run, so the CLI's and the drop sensor's single run per collection
could not build them; one asset each gives each layout its own lineage, metadata and checks, and
"materialize timeline_layout + publish" rebuilds that layout alone.

Each has the similarity map's three checks (blocking: a failure skips `publish`), through the same
cviz.publish.verify functions given the layout's grid, pyramid and layout.json. A layout the collection
does not have passes them with a note saying why.
"""

from typing import Callable

import dagster as dg

from cviz.paths import CollectionPaths
from cviz.publish import layout_versions, verify
from cviz.stages import layouts as layout_stages
from cviz.stages.progress import Progress
from cviz.storage import Storage
from cviz_assets.assets import _stage, collection_asset, images, tsne
from cviz_assets.checks import check_from
from cviz_resources import StorageResource

METADATA = ("Metadata: built (false when the collection has no such layout; reason says why, e.g. no date "
            "column); version: the folder under published/<name>/layouts/<layout>/ (live once publish names it); "
            "cols x rows with empty_cells; labels: bins or blocks (the labels table lists text and count); "
            "column; bin_years (timeline); cells_cached vs cells_decoded (the cell cache); arrange_seconds, "
            "mosaic_seconds, pyramid_seconds.")


TIMELINE = ("Items by date: one band per year bin, similarity order inside each, undated items in their own "
            "block; mosaic and Deep Zoom pyramid in its own version folder.\n\n" + METADATA)
CATEGORY = ("Items by category: one block per value of a column (first value of a multi-valued item), largest "
            "first, similarity order inside each; mosaic and Deep Zoom pyramid in its own version folder.\n\n" + METADATA)


class LayoutConfig(dg.Config):
    """``keep_previous``: items already on the layout keep their cells; new images take free cells of
    their bin or block (each is sized with slack for that), and the map reflows only when one is full.
    ``cviz run --update place_new`` sets it. Unchanged tiles are linked from the previous version either way."""

    keep_previous: bool = False


def _build(context: dg.AssetExecutionContext, storage: StorageResource, layout: str,
           config: LayoutConfig) -> dg.MaterializeResult:
    """One layout step, skipped like the other stages when its inputs (item list, the layout's
    column and values, t-SNE points) are unchanged (cviz.stages.stamps)."""
    progress = Progress(f"{layout}_layout", log=context.log.info, unit="cells")
    store = storage.get()
    return _stage(context, store, f"{layout}_layout", {"keep_previous": config.keep_previous},
                  lambda: layout_stages.stage_layout(store, context.partition_key, layout, progress=progress,
                                                     keep_previous=config.keep_previous))


@collection_asset(deps=[tsne, images], kinds={"python"}, description=TIMELINE)
def timeline_layout(context: dg.AssetExecutionContext, config: LayoutConfig, storage: StorageResource) -> dg.MaterializeResult:
    return _build(context, storage, "timeline", config)


@collection_asset(deps=[tsne, images], kinds={"python"}, description=CATEGORY)
def category_layout(context: dg.AssetExecutionContext, config: LayoutConfig, storage: StorageResource) -> dg.MaterializeResult:
    return _build(context, storage, "category", config)


def layout_verdict(storage: StorageResource, name: str, layout: str,
                   verify_built: Callable[[layout_versions.Built], verify.Verdict]) -> verify.Verdict:
    """``verify_built`` on the layout version the last step built; an absent layout passes with why."""
    store = storage.get()
    built = layout_versions.built_layout(store, name, layout)
    if built.absent is not None:
        return verify.Verdict(True, [], {"items": 0}, f"no {layout}: {built.absent}")
    if built.record is None:  # a collection built before layouts existed (a recheck): nothing to verify yet
        return verify.Verdict(True, [], {"items": 0}, f"no {layout} built yet: {built.problem}")
    if built.problem:
        return verify.Verdict(False, [{"problem": built.problem}], {"offending": 1}, built.problem)
    return verify_built(built)


def _layout_checks(asset: dg.AssetsDefinition, layout: str) -> list[dg.AssetChecksDefinition]:
    """The similarity map's three checks (cviz_assets/checks.py), on this layout's built version."""

    def grid_of(b: layout_versions.Built) -> dict:
        return {**b.doc["grid"], "cells": b.doc["cells"]}

    def on_built(verify_built: Callable[[Storage, str, layout_versions.Built], verify.Verdict]
                 ) -> Callable[[StorageResource, str], verify.Verdict]:
        return lambda storage, name: layout_verdict(storage, name, layout, lambda b: verify_built(storage.get(), name, b))

    return [
        check_from(asset, "one_cell_per_image",
                   f"Every usable image has exactly one cell of the {layout} layout; no cell holds two.",
                   on_built(lambda store, name, b: verify.verify_grid(store, name, grid=grid_of(b)))),
        check_from(asset, "pyramid_complete",
                   f"The {layout} version's .dzi declares its grid's size and every tile of every level exists.",
                   on_built(lambda store, name, b: verify.verify_pyramid(
                       store, name, dzi_rel=CollectionPaths(name).layout_dzi(layout, str(b.record["version"])),
                       grid=b.doc["grid"]))),
        check_from(asset, "items_resolved",
                   f"The {layout} layout.json places each item of items.json once, inside one label.",
                   on_built(lambda store, name, b: verify.verify_items(store, name, layout=b.doc))),
    ]


layout_assets = [timeline_layout, category_layout]
layout_checks = [*_layout_checks(timeline_layout, "timeline"), *_layout_checks(category_layout, "category")]
