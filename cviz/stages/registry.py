"""The stages by name, for the Dagster assets, the chunk jobs, tests and benchmarks.

Each stage lives in ``cviz/stages/`` (one module per stage group); the assets call them through
this module (``registry.stage_grid(...)``), so a test can substitute one stage for a whole run.
"""

from cviz.stages.common import StageReport, load_config, model_cache_dir, register, run_config
from cviz.stages.features import derive_outputs, stage_features
from cviz.stages.grid import stage_grid
from cviz.stages.images import stage_images
from cviz.stages.pca_tsne import stage_pca, stage_tsne
from cviz.stages.publish import stage_metadata_json, stage_publish, stage_viewer_extras
from cviz.stages.render import stage_dzi, stage_mosaic

__all__ = [
    "StageReport", "derive_outputs", "load_config", "model_cache_dir", "register", "run_config",
    "stage_dzi", "stage_features", "stage_grid", "stage_images", "stage_metadata_json", "stage_mosaic",
    "stage_pca", "stage_publish", "stage_tsne", "stage_viewer_extras",
]
