"""Dagster resources: where outputs live (storage) and which network computes features (model)."""

from cviz_resources.model import FeatureModelResource
from cviz_resources.storage import StorageResource

__all__ = ["FeatureModelResource", "StorageResource"]
