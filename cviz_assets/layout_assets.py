"""The extra layouts (issue 16): one asset per layout, collection-partitioned like the others.

``timeline_layout`` and ``category_layout`` each read the catalogue (dates, categories) and the
t-SNE points (similarity order inside a bin or block) and build their own version folder
(arrangement, mosaic from the cell cache, Deep Zoom pyramid, layout.json) in one step, through
cviz.layout_stage; `publish` (downstream of both) names them in current.json. Why one asset per
layout rather than a layout x collection ``MultiPartitionsDefinition``: Dagster runs only assets of
one partitions definition in one run, so the CLI's and the drop sensor's single run per collection
could not build them; one asset each gives each layout its own lineage, metadata and checks, and
"materialize timeline_layout + publish" rebuilds that layout alone.

Each has the similarity map's three checks (blocking: a failure skips `publish`), through the same
cviz.verify functions given the layout's grid, pyramid and layout.json. A layout the collection
does not have passes them with a note saying why.
"""

from typing import Callable

import dagster as dg

from cviz import layout_stage, layout_versions, verify
from cviz.progress import Progress
from cviz_assets.assets import _stage, collection_asset, images, tsne
from cviz_assets.checks import _result as check_result
from cviz_assets.checks import _under_run_lock
from cviz_assets.partitions import collection_partitions as collections
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


def _build(context: dg.AssetExecutionContext, storage: StorageResource, layout: str) -> dg.MaterializeResult:
    """One layout step, skipped like the other stages when its inputs are unchanged (cviz.stamps)."""
    progress = Progress(f"{layout}_layout", log=context.log.info, unit="cells")
    store = storage.get()
    return _stage(context, store, f"{layout}_layout", {},
                  lambda: layout_stage.stage_layout(store, context.partition_key, layout, progress=progress))


@collection_asset(deps=[tsne, images], kinds={"python"}, description=TIMELINE)
def timeline_layout(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    return _build(context, storage, "timeline")


@collection_asset(deps=[tsne, images], kinds={"python"}, description=CATEGORY)
def category_layout(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    return _build(context, storage, "category")


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
    def grid_of(b: layout_versions.Built) -> dict:
        return {**b.doc["grid"], "cells": b.doc["cells"]}

    @dg.asset_check(asset=asset, partitions_def=collections, name="one_cell_per_image", blocking=True,
                    description=f"Every usable image has exactly one cell of the {layout} layout; no cell holds two.")
    @_under_run_lock
    def one_cell(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        return check_result(layout_verdict(storage, context.partition_key, layout,
                                           lambda b: verify.verify_grid(storage.get(), context.partition_key, grid=grid_of(b))))

    @dg.asset_check(asset=asset, partitions_def=collections, name="pyramid_complete", blocking=True,
                    description=f"The {layout} version's .dzi declares its grid's size and every tile of every level exists.")
    @_under_run_lock
    def pyramid(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        return check_result(layout_verdict(storage, context.partition_key, layout,
                                           lambda b: verify.verify_pyramid(storage.get(), context.partition_key,
                                                                           dzi_rel=f"{b.folder}/map.dzi", grid=b.doc["grid"])))

    @dg.asset_check(asset=asset, partitions_def=collections, name="items_resolved", blocking=True,
                    description=f"The {layout} layout.json places each item of items.json once, inside one label.")
    @_under_run_lock
    def items(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
        return check_result(layout_verdict(storage, context.partition_key, layout,
                                           lambda b: verify.verify_items(storage.get(), context.partition_key, layout=b.doc)))

    return [one_cell, pyramid, items]


layout_assets = [timeline_layout, category_layout]
layout_checks = [*_layout_checks(timeline_layout, "timeline"), *_layout_checks(category_layout, "category")]
