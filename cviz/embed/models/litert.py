"""LiteRT (``ai-edge-litert``) runtime for the Keras Lite models: the same features, faster on a CPU.

Why: EfficientNet-Lite was designed for the TensorFlow Lite runtime. The Keras Lite0 graph,
converted once with TensorFlow's own ``tf.lite.TFLiteConverter.from_keras_model`` (float32, no
quantisation) and run by the LiteRT interpreter with its XNNPACK CPU delegate, gives the Keras
features to about 1e-5 at two to three times Keras ``predict``'s speed (see ``benchmarks/bench_features.py``).
``ai-edge-litert`` is the maintained successor of ``tf.lite.Interpreter`` (deprecated in TF 2.21).

The converted flatbuffer is cached under ``<storage>/cache/models/`` keyed by the weights hash,
the input size, the converter (TensorFlow) version, the runtime version and :data:`CACHE_FORMAT`;
it is written atomically (temp file, rename) with a sha256 sidecar, and a cached file that fails
its hash or does not load is converted again, never used.

Batch size by measurement: ``bench_features.py --profile`` (one process, interleaved, CPU ms per
image, inference alone) gave batch 8 11-23% less CPU per image than batch 1 in three runs out of
three (11.4 vs 12.8, 18.4 vs 20.7, 11.7 vs 15.2 ms; shared machine, load 3-5) with identical
features; but end to end (``compute_features``: decode threads overlapped with inference, 320
thumbnails, 3 interleaved rounds, load 5) batch 8 gave 30.8 / 28.5 / 32.8 images/s against 34.5 /
31.9 / 33.5 for batch 1. So ``BATCH`` stays 1 until a quiet machine says otherwise; the runner takes
``batch=`` (full groups through a batch-``batch`` interpreter, the rest one at a time, no padding)
for that A/B. ``XNNPACK`` comes with the runtime's default op resolver and takes the whole graph as
one partition; the runner checks that the delegate was applied (``delegated``).

Threads: two one-thread interpreters, each called from its own decode worker on whole images
(``PARALLEL_CALLS``), beat one two-thread interpreter. ``bench_features.py --profile`` on a quiet
machine (load 0.7, 48 images x 3 rounds): one thread 17.8 CPU ms per image; two threads on one
image 23.6 CPU ms (12.3 wall), the difference being XNNPACK's thread synchronisation on small
late-stage layers; two interpreters x one thread on alternate images 10.4 wall ms per image, the
best of all variants, with identical features. The features loop (``cviz.embed.features``) runs decode and
inference of one image in the same worker when ``parallel_calls`` > 1, so decode fills the gaps.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

CONVERT_WAIT_S = 900.0  # longest wait for another process's conversion (one takes 20-60 s)
log = logging.getLogger(__name__)

NAME = "litert"
# Bump when the conversion changes (options, output selection): it invalidates cached .tflite files.
CACHE_FORMAT = 1
DEFAULT_THREADS = 1  # threads per interpreter
PARALLEL_CALLS = 2  # interpreters called at once, one per calling thread (the features loop's workers)
BATCH = 1


class BackendUnavailable(RuntimeError):
    """The LiteRT runtime is not importable here."""


def runtime_version() -> str:
    """``ai-edge-litert`` version, or raises :class:`BackendUnavailable`."""
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter  # noqa: F401 - the part we need must import too
    except ImportError as exc:
        raise BackendUnavailable(f"ai-edge-litert is not installed ({exc}); pip install ai-edge-litert==2.3.0") from exc
    return str(getattr(ai_edge_litert, "__version__", "unknown"))


def converter_version() -> str:
    """TensorFlow's version, read from its package metadata: naming a cached conversion must not
    import TensorFlow (about 750 MB of resident memory, which a cached LiteRT model never needs)."""
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    import tensorflow as tf

    return str(tf.__version__)


def cached(stem: str, cache_dir: str | os.PathLike[str] | None) -> bytes | None:
    """The cached conversion named ``stem`` when intact, without converting (or importing TensorFlow)."""
    if cache_dir is None:
        return None
    path = Path(cache_dir) / f"{stem}.tflite"
    return _read_cached(path, path.with_name(path.name + ".sha256"))


def cache_stem(model_name: str, input_size: int, weights_hash: str, quantised: str = "") -> str:
    """File stem naming everything the converted model depends on. ``quantised``: "" for float32,
    else the quantisation and its calibration set (``int8-<calibration hash>``)."""
    return (f"{model_name}-{input_size}-{weights_hash[:16]}{'-' + quantised if quantised else ''}"
            f"-tf{converter_version()}-litert{runtime_version()}-v{CACHE_FORMAT}")


def convert(keras_model: Any, output: int | None = 0, representative: Callable[[], Iterator[list]] | None = None) -> bytes:
    """TFLite flatbuffer of ``keras_model`` (only output ``output`` when it has several).

    ``representative``: None gives the float32 model; a ``representative_dataset`` generator gives
    TensorFlow Lite's post-training integer quantisation (``Optimize.DEFAULT`` plus calibration:
    int8 weights and activations, float32 input and output, so callers feed and read it as before)."""
    import keras
    import tensorflow as tf

    if output is not None and len(keras_model.outputs) > 1:
        keras_model = keras.Model(keras_model.inputs, keras_model.outputs[output])
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
    # The converter prints every captured variable of the traced function to stdout: hundreds of lines.
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_cached(path: Path, sidecar: Path) -> bytes | None:
    if not (path.is_file() and sidecar.is_file()):
        return None
    try:
        data = path.read_bytes()
        if sidecar.read_text().strip() != _sha(data):
            log.warning("cached LiteRT model %s fails its hash check; converting again", path)
            return None
        _check_loads(data)
        return data
    except Exception as exc:  # unreadable, or a flatbuffer the runtime refuses
        log.warning("cached LiteRT model %s unusable (%s); converting again", path, exc)
        return None


def _check_loads(data: bytes) -> None:
    """Raise when the runtime cannot load ``data``."""
    from ai_edge_litert.interpreter import Interpreter

    Interpreter(model_content=data, num_threads=1)


def _write_cached(path: Path, sidecar: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        tmp_side = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp_side.write_text(_sha(data) + "\n")
        os.replace(tmp_side, sidecar)
    except OSError as exc:  # a read-only cache must not stop feature extraction
        log.warning("could not cache the LiteRT model in %s: %s", path.parent, exc)


def load_or_convert(keras_model: Any, stem: str, cache_dir: str | os.PathLike[str] | None,
                    representative: Callable[[], Iterator[list]] | None = None) -> tuple[bytes, bool]:
    """(flatbuffer, from_cache): the cached conversion when intact, else a fresh one (then cached);
    ``representative``: as :func:`convert` (int8), and ``stem`` must then name the calibration."""
    runtime_version()  # fail before an 8 s conversion when the runtime is missing
    if cache_dir is None:
        return convert(keras_model, representative=representative), False
    path = Path(cache_dir) / f"{stem}.tflite"
    sidecar = path.with_name(path.name + ".sha256")
    cached = _read_cached(path, sidecar)
    if cached is not None:
        return cached, True
    with _converting(path):  # another process converting the same model: wait, then read its result
        cached = _read_cached(path, sidecar)
        if cached is not None:
            return cached, True
        data = convert(keras_model, representative=representative)
        _write_cached(path, sidecar, data)
    return data, False


@contextlib.contextmanager
def _converting(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` while converting: the steps of one run in several processes, or two runs
    sharing a storage root, convert a model once and not once each (20-50 s of CPU apiece). Where
    the lock cannot be had (a read-only cache folder, or a holder past ``CONVERT_WAIT_S``: filelock's
    Timeout is an OSError) the conversion goes on without it, as it did before the lock."""
    import filelock

    lock = filelock.FileLock(f"{path}.lock", timeout=CONVERT_WAIT_S)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as exc:
        log.warning("could not lock %s (%s); converting without the lock", path.parent, exc)
        yield
        return
    try:
        yield
    finally:
        lock.release()


@dataclass
class LiteRTRunner:
    """Batch -> features through LiteRT interpreters (XNNPACK, ``threads`` threads): full groups of
    ``batch`` images through a batch-``batch`` interpreter, the remainder through a batch-1 one.

    An interpreter is not thread-safe: each calling thread gets its own (usually just one: the
    features loop calls from one thread while decode runs in others).
    """

    model: bytes
    threads: int = DEFAULT_THREADS
    batch: int = BATCH
    parallel_calls: int = PARALLEL_CALLS  # how many threads may call at once (each gets its own interpreter)

    def describe(self) -> str:
        """How it runs, for the features asset's ``backend_version``."""
        xnn = "XNNPACK" if self.delegated else "no XNNPACK"
        return f"{xnn}, {self.parallel_calls} parallel calls x {self.threads} thread, batch {self.batch}"

    def __post_init__(self) -> None:
        self._local = threading.local()
        self.delegated = self._interpreter(1)[3]

    def _interpreter(self, size: int) -> tuple[Any, int, int, bool]:
        states = getattr(self._local, "states", None)
        if states is None:
            states = self._local.states = {}
        state = states.get(size)
        if state is None:
            from ai_edge_litert.interpreter import Interpreter

            it = Interpreter(model_content=self.model, num_threads=self.threads)
            inp = it.get_input_details()[0]
            if tuple(inp["shape"][1:]) and int(inp["shape"][0]) != size:
                it.resize_tensor_input(inp["index"], [size, *inp["shape"][1:]])
            it.allocate_tensors()
            # XNNPACK replaces the graph's ops by a delegate kernel; without it there are ~60 op kernels.
            ops = it._get_ops_details() if hasattr(it, "_get_ops_details") else []
            delegated = any("DELEGATE" in str(op.get("op_name", "")).upper() for op in ops)
            state = states[size] = (it, inp["index"], it.get_output_details()[0]["index"], delegated)
        return state

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        n, rows = len(batch), []
        full = n - n % self.batch if self.batch > 1 else 0
        for start, size in [(k, self.batch) for k in range(0, full, self.batch)] + [(k, 1) for k in range(full, n)]:
            it, inp, out, _ = self._interpreter(size)
            it.set_tensor(inp, batch[start : start + size])
            it.invoke()
            rows.append(it.get_tensor(out).reshape(size, -1).copy())
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
