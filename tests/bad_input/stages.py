"""Run a collection through ``cviz.stages.registry`` stage by stage with a tiny fake feature extractor.

The fake extractor has the interface of the real one (name, dim, input_size, model_id, weights
source/hash, ``__call__(uint8 batch) -> float32 (B, dim)``) and records every batch it is given,
so a test can look at the exact pixels the network would have seen. Its features are simple
colour statistics: deterministic, cheap, and different for different pictures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cviz.ingest.collection import CollectionConfig
from cviz.stages import registry
from cviz.storage import Storage

STAGES = ["images", "features", "pca", "tsne", "grid", "mosaic", "dzi", "metadata_json", "publish"]


class FakeExtractor:
    name = "fake-colour-stats"
    dim = 12
    input_size = 32
    model_id = "fake-colour-stats-12"
    weights_source = "none (test double)"
    weights_hash = "0" * 16

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.uint8 and batch.ndim == 4 and batch.shape[1:] == (32, 32, 3)
        self.batches.append(batch.copy())
        x = batch.astype(np.float32) / 255.0
        top, bottom = x[:, :16], x[:, 16:]
        feats = [x.mean(axis=(1, 2)), x.std(axis=(1, 2)), top.mean(axis=(1, 2)), bottom.mean(axis=(1, 2))]
        return np.concatenate(feats, axis=1).astype(np.float32)

    def seen(self) -> np.ndarray:
        return np.concatenate(self.batches) if self.batches else np.zeros((0, 32, 32, 3), np.uint8)


def register(storage: Storage, spec: dict[str, Any]) -> CollectionConfig:
    config = CollectionConfig.from_dict(spec)
    registry.register(storage, config)
    return config


def run_stage(storage: Storage, name: str, stage: str, extractor: FakeExtractor | None = None) -> registry.StageReport:
    fn = getattr(registry, f"stage_{stage}")
    if stage == "features":
        return fn(storage, name, extractor or FakeExtractor())
    return fn(storage, name)


def run_all(storage: Storage, name: str, extractor: FakeExtractor | None = None,
            stages: list[str] | None = None) -> dict[str, registry.StageReport]:
    extractor = extractor or FakeExtractor()
    return {s: run_stage(storage, name, s, extractor) for s in (stages or STAGES)}


def published(root: Path, name: str) -> tuple[dict, dict, Path]:
    """(current.json, items.json, folder of the version holding items.json)."""
    pub = root / "published" / name
    pointer = json.loads((pub / "current.json").read_text())
    items_path = pub / pointer["items"]
    return pointer, json.loads(items_path.read_text()), items_path.parent
