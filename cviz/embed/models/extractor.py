"""What every feature model gives the rest of cviz: a :class:`FeatureExtractor`, and the errors and
hashes its loaders share (the loaders themselves: :mod:`cviz.embed.models`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


class WeightsUnavailable(RuntimeError):
    """The requested pretrained weights are not on this machine (and we never download them)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Full hex sha256 of a file, read in 1 MiB chunks (weights files reach 500 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FeatureExtractor:
    """A loaded feature model. Call it on ``uint8 (B, input_size, input_size, 3)`` RGB batches."""

    name: str
    dim: int
    input_size: int
    weights: str
    weights_source: str
    weights_hash: str
    _forward: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)
    _logits: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)
    model: Any = field(default=None, repr=False, compare=False)  # the Keras model, for inspection/saving
    backend: str = "keras"  # what runs __call__: "keras" or "litert"
    backend_version: str = ""  # e.g. "keras 3.15.1" or "ai-edge-litert 2.3.0 (XNNPACK, 2 parallel calls x 1 thread, batch 1)"
    # Threads that may call at once, one image each (cviz.embed.features runs decode + inference per worker
    # when > 1); 1: one caller, whole batches (Keras, which threads inside predict).
    parallel_calls: int = 1
    precision: str = "float32"  # "float32" or "int8" (cviz.embed.models.calibration.PRECISIONS)
    calibration: str = ""  # int8: the calibration set's hash (cviz.embed.models.calibration.calibration_hash)

    @property
    def model_id(self) -> str:
        """Stable id for caching features: changes with model, input size, weights and precision.

        float32 ids carry no suffix (the ids vectors were cached under before int8 existed stay
        valid); int8 ids end in ``-int8-<calibration hash>``, so int8 and float32 vectors, or two
        calibrations' vectors, never share a cache entry."""
        base = f"{self.name}-{self.input_size}-{self.weights_hash}"
        return base if self.precision == "float32" else f"{base}-{self.precision}-{self.calibration}"

    @property
    def is_random(self) -> bool:
        return self.weights == "random"

    def _check(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        s = self.input_size
        if batch.ndim != 4 or batch.shape[1:] != (s, s, 3):
            raise ValueError(f"{self.name} expects a (B, {s}, {s}, 3) RGB batch, got {batch.shape}")
        return batch.astype(np.float32, copy=False)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """uint8 RGB (B, s, s, 3) -> float32 (B, dim); preprocessing is done here."""
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._forward(self._check(batch)), dtype=np.float32)
        return out.reshape(len(out), self.dim)

    def predict_logits(self, batch: np.ndarray) -> np.ndarray:
        """ImageNet logits (B, 1000), for sanity checks; only models with a classifier head."""
        if self._logits is None:
            raise NotImplementedError(f"{self.name} has no ImageNet classifier head here")
        return np.asarray(self._logits(self._check(batch)), dtype=np.float32)


def keras_version() -> str:
    import keras

    return f"keras {keras.__version__}"
