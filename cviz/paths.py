"""The one place that says where each collection output lives under the storage root.

Documented in docs/outputs.md; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from cviz.names import validate_collection_name

PUBLISHED = "published"
INDEX = f"{PUBLISHED}/index.json"
FEATURE_CACHE = "cache/features"
MODEL_CACHE = "cache/models"
# Folders of the storage root that hold cviz's own outputs and bookkeeping: never catalogued as
# images, even when the storage root lies inside a collection's image folder (issue 12, class 3).
OUTPUT_FOLDERS = ("collections", PUBLISHED, "cache", "ops")


@dataclass(frozen=True)
class CollectionPaths:
    name: str

    def __post_init__(self) -> None:
        validate_collection_name(self.name)

    @property
    def base(self) -> str:
        return f"collections/{self.name}"

    @property
    def config(self) -> str:
        return f"{self.base}/collection.json"

    @property
    def catalogue(self) -> str:
        return f"{self.base}/images.json"

    @property
    def features(self) -> str:
        return f"{self.base}/features.npy"

    @property
    def pca(self) -> str:
        return f"{self.base}/pca.npy"

    @property
    def tsne(self) -> str:
        return f"{self.base}/tsne.npy"

    @property
    def grid(self) -> str:
        return f"{self.base}/grid.json"

    @property
    def mosaic(self) -> str:
        return f"{self.base}/mosaic.json"

    def stamp(self, stage: str) -> str:
        """What a stage's outputs were built from (cviz.stamps): written after them, removed before."""
        return f"{self.base}/stamps/{stage}.json"

    @property
    def published(self) -> str:
        return f"{PUBLISHED}/{self.name}"

    @property
    def pointer(self) -> str:
        return f"{self.published}/current.json"

    def version(self, version: str) -> str:
        return f"{self.published}/{version}"

    @property
    def item_images(self) -> str:
        return f"{self.published}/images"

    # Viewer extras beside items.json in a version folder (docs/outputs.md, "Regions, neighbours, vocabulary").
    def regions(self, version: str) -> str:
        return f"{self.version(version)}/regions.json"

    def neighbours(self, version: str) -> str:
        return f"{self.version(version)}/neighbours.bin"

    def vocabulary(self, version: str) -> str:
        return f"{self.version(version)}/vocabulary.json"
