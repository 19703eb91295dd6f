"""The whole per-collection asset graph in one place: the similarity map's stages, the extra layouts,
and their checks. ``build_collection`` (the CLI, the drop sensor) runs all of it; tests that build
their own Definitions around that job take it from here."""

from cviz_assets.assets import collection_assets
from cviz_assets.checks import collection_checks
from cviz_assets.duplicate_checks import duplicate_checks
from cviz_assets.layout_assets import layout_assets, layout_checks

graph_assets = [*collection_assets, *layout_assets]
graph_checks = [*collection_checks, *duplicate_checks, *layout_checks]
