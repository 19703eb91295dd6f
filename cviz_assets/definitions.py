"""The cviz code location: assets, jobs and resources (``dagster dev -m cviz_assets.definitions``)."""

from __future__ import annotations

import os

import dagster as dg

from cviz_assets.assets import collection_assets
from cviz_assets.checks import collection_checks
from cviz_assets.chunk_jobs import features_chunks
from cviz_assets.executors import executor_from_env
from cviz_assets.partitions import collections
from cviz_assets.register import register_collection
from cviz_assets.sensors import sensors
from cviz_resources import FeatureModelResource, StorageResource
from cviz_resources.storage import default_root

build_collection = dg.define_asset_job(
    "build_collection",
    selection=dg.AssetSelection.assets(*collection_assets),
    partitions_def=collections,
    description="Materialize every stage of one collection, images to viewer files.",
)


def default_resources() -> dict:
    return {
        "storage": StorageResource(
            root=default_root(),
            endpoint_url=os.environ.get("CVIZ_S3_ENDPOINT_URL") or None,
            viewer_url=os.environ.get("CVIZ_VIEWER_URL", "http://127.0.0.1:8080"),
        ),
        "model": FeatureModelResource(
            name=os.environ.get("CVIZ_MODEL", "efficientnet_lite0"),
            weights=os.environ.get("CVIZ_WEIGHTS", "imagenet"),
            backend=os.environ.get("CVIZ_BACKEND", "auto"),
        ),
    }


defs = dg.Definitions(
    assets=collection_assets,
    asset_checks=collection_checks,
    jobs=[build_collection, register_collection, features_chunks],
    sensors=sensors,
    resources=default_resources(),
    executor=executor_from_env(),  # $CVIZ_EXECUTOR: multiprocess (default), dask, in_process
)


def get_job(name: str = "build_collection") -> dg.JobDefinition:
    """A job of this code location with its resources bound (for ``dg.reconstructable``)."""
    return defs.resolve_job_def(name)


def build_collection_job() -> dg.JobDefinition:
    """``dg.execute_job(dg.reconstructable(build_collection_job), instance, tags=...)`` runs a
    collection from a script with the configured executor, as the daemon would."""
    return get_job("build_collection")


def features_chunks_job() -> dg.JobDefinition:
    return get_job("features_chunks")
