"""The cviz code location: assets, jobs and resources, built from one :class:`~cviz.settings.Settings`.

``build_defs(settings)`` is the whole code location as a function of its settings; the module-level
``defs`` (what ``dg dev``, ``dg check defs``, the webserver and the daemon load) is
``build_defs(settings())``, the settings of the environment. The CLI builds its own from the same
settings with its flags applied, so a flag never has to travel through ``os.environ``.
"""

from __future__ import annotations

import dagster as dg

from cviz_assets.catalogue_checks import catalogue_checks
from cviz_assets.chunk_jobs import features_chunks
from cviz_assets.executors import executor_from_env
from cviz_assets.metadata import governed, parse_tags
from cviz_assets.jobs_ops import recheck_published, retire_collection
from cviz_assets.graph import graph_assets, graph_checks
from cviz_assets.register import register_collection
from cviz_assets.schedules import daily_recheck
from cviz_assets.sensors import sensors
from cviz_resources import FeatureModelResource, StorageResource
from cviz.settings import Settings, settings

build_collection = dg.define_asset_job(
    "build_collection",
    selection=dg.AssetSelection.assets(*graph_assets),  # all layouts by default (CLI, drop sensor)
    description="Materialize every stage of one collection, images to viewer files.",
)


def default_resources(s: Settings | None = None) -> dict:
    """The storage and model resources the settings name (default: the environment's)."""
    s = s or settings()
    return {
        "storage": StorageResource(root=s.storage_root, endpoint_url=s.s3_endpoint_url, viewer_url=s.viewer_url),
        "model": FeatureModelResource(name=s.model, weights=s.weights, backend=s.backend,
                                      precision=s.precision or None),
    }


def asset_owners(s: Settings) -> list[str]:
    """``CVIZ_ASSET_OWNERS``: comma-separated e-mail addresses or ``team:name`` (Dagster's owner forms)."""
    return [o.strip() for o in s.asset_owners.split(",") if o.strip()]


def build_defs(s: Settings) -> dg.Definitions:
    """Every definition of the code location, its resources and governance taken from ``s``."""
    return dg.Definitions(
        assets=governed(graph_assets, asset_owners(s), parse_tags(s.asset_tags)),
        asset_checks=[*graph_checks, *catalogue_checks],
        jobs=[build_collection, register_collection, features_chunks, recheck_published, retire_collection],
        sensors=sensors,
        schedules=[daily_recheck],
        resources=default_resources(s),
        # Every job without its own executor, Dagster's implicit asset job (the "Materialize" button)
        # included: in-process unless $CVIZ_EXECUTOR says otherwise (multiprocess, dask, celery, k8s).
        executor=executor_from_env(),
    )


defs = build_defs(settings())


def get_job(name: str = "build_collection") -> dg.JobDefinition:
    """A job of this code location with its resources bound (for ``dg.reconstructable``)."""
    return defs.resolve_job_def(name)


def build_collection_job() -> dg.JobDefinition:
    """``dg.execute_job(dg.reconstructable(build_collection_job), instance, tags=...)`` runs a
    collection from a script with the configured executor, as the daemon would."""
    return get_job("build_collection")


def features_chunks_job() -> dg.JobDefinition:
    return get_job("features_chunks")
