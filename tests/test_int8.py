"""The int8 Lite0 model: converted offline from a fixed calibration set, cached like the float32
conversion, its vectors under their own model id, and its neighbours those of float32 on real photos.

Tolerances were measured on these very photos (Met sample, plus imageplot paintings when present)
before they were written down here; see the test docstrings.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from cviz.embed.features import compute_features, model_input
from cviz.embed.models import PRECISIONS, litert, load_extractor, resolve_precision
from cviz.embed.models.calibration import calibration_files, calibration_hash, representative_dataset
from cviz.storage import open_storage
from tests.test_backends import _neighbours, _real_photos


@pytest.fixture(scope="module")
def pair(shared_model_cache: str):
    """(float32, int8) Lite0 on LiteRT from the session's model cache."""
    return (load_extractor(cache_dir=shared_model_cache, backend="litert", precision="float32"),
            load_extractor(cache_dir=shared_model_cache, backend="litert"))


def test_int8_is_the_default_for_lite0_on_litert_and_names_its_precision(pair):
    f32, int8 = pair
    assert (f32.precision, int8.precision) == ("float32", "int8")
    assert int8.backend == "litert" and "XNNPACK" in int8.backend_version and "no XNNPACK" not in int8.backend_version
    assert int8.calibration == calibration_hash(224) and len(int8.calibration) == 16
    # float32 keeps the id its vectors were cached under; int8 names precision and calibration.
    assert f32.model_id == f"efficientnet_lite0-224-{f32.weights_hash}"
    assert int8.model_id == f"{f32.model_id}-int8-{int8.calibration}"


def test_int8_neighbours_agree_with_float32_on_real_photos(pair):
    """Measured on the 40 Met photos (imageplot absent) on 2026-12-07: each photo's nearest neighbour
    is the same for 0.775 of them, 0.86 of the 5 nearest and 0.925 of the 10 nearest are shared; the
    cosine of a photo's int8 and float32 vectors is at least 0.961 (mean 0.988); the largest element
    difference 0.82 (2.2 on 174 photos in bench_features). Held to 0.65, 0.75, 0.93 and 2.5, so a
    broken quantisation (a wrong scale, a wrong input range) fails."""
    f32, int8 = pair
    photos = _real_photos()
    batch = np.stack([model_input(b, 224) for b in photos])
    ref, got = f32(batch), int8(batch)
    assert got.shape == ref.shape == (len(photos), 1280) and got.dtype == np.float32
    assert float(np.abs(got - ref).max()) < 2.5 and float(np.abs(ref).max()) > 1.0
    cos = np.sum(ref * got, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    assert float(cos.min()) > 0.93, f"a photo's int8 vector points elsewhere (cosine {cos.min():.3f})"
    top1 = float(np.mean(_neighbours(got, 1)[:, 0] == _neighbours(ref, 1)[:, 0]))
    shared5 = float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(_neighbours(got, 5), _neighbours(ref, 5))]))
    assert top1 >= 0.65 and shared5 >= 0.75, (top1, shared5)


def test_the_feature_cache_keeps_precisions_apart(pair, tmp_path, met_sample_dir: Path):
    """Vectors cached by one precision are never served to the other; each reuses its own."""
    f32, int8 = pair
    files = sorted((met_sample_dir / "images").glob("*.jpg"))[:12]
    items = [{"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files]
    data = {p.name: p.read_bytes() for p in files}
    storage = open_storage(str(tmp_path / "root"))
    first = compute_features(items, data.__getitem__, int8, storage)
    assert (first.computed, first.cache_hits) == (12, 0)
    other = compute_features(items, data.__getitem__, f32, storage)
    assert (other.computed, other.cache_hits) == (12, 0)  # float32 does not take int8's vectors
    again = compute_features(items, data.__getitem__, int8, storage)
    assert (again.computed, again.cache_hits) == (0, 12)
    np.testing.assert_array_equal(again.features, first.features)
    assert not np.array_equal(other.features, first.features)


def test_int8_converts_offline_from_the_fixed_set_and_is_reused(small_models, pair, shared_model_cache,
                                                                tmp_path, monkeypatch):
    """A cold cache (conftest.small_models: converted with every network connection refused) reads
    only the shipped weights and calibration images, names its calibration in the file, and is
    reused after."""
    folder, report = small_models
    cache = tmp_path / "models"
    shutil.copytree(folder, cache)
    (tfl,) = sorted(cache.glob("*.tflite"))
    assert f"-int8-{calibration_hash(96)}-" in tfl.name and report["precision"] == "int8"
    assert report["model_id"].endswith(f"-int8-{calibration_hash(96)}") and report["calibration"] == calibration_hash(96)
    converted: list[int] = []
    monkeypatch.setattr(litert, "convert", lambda *a, **k: converted.append(1))
    x = np.random.default_rng(3).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    fx = load_extractor(input_size=96, cache_dir=str(cache), backend="litert")  # int8: the default
    assert converted == [] and fx.model_id == report["model_id"]  # served from the cache
    np.testing.assert_allclose(fx(x)[0, :8], report["row"], rtol=0, atol=1e-6)
    # The int8 model is about a third of the float32 one (int8 weights; the input size changes no
    # weight): a quantised flatbuffer.
    f32 = pair[0]
    (f32_file,) = [p for p in Path(shared_model_cache).glob(f"*{f32.weights_hash}*.tflite") if "-int8-" not in p.name]
    assert tfl.stat().st_size < 0.5 * f32_file.stat().st_size


def test_calibration_set_is_fixed_and_fed_as_the_features_loop_feeds_the_model():
    files = calibration_files()
    assert len(files) == 174 and [p.name for p in files] == sorted(p.name for p in files)
    assert calibration_hash(224) == calibration_hash(224) != calibration_hash(160)
    steps = list(representative_dataset(64)())
    assert len(steps) == len(files)
    (x,) = steps[0]
    assert x.shape == (1, 64, 64, 3) and x.dtype == np.float32 and 1.0 < float(x.max()) <= 255.0
    np.testing.assert_array_equal(x[0], model_input(files[0].read_bytes(), 64).astype(np.float32))


def test_precision_choices_and_errors():
    assert list(PRECISIONS) == ["int8", "float32"]
    assert resolve_precision(None, "efficientnet_lite0", "imagenet", "litert") == "int8"
    assert resolve_precision(None, "efficientnet_lite0", "random", "auto") == "float32"
    assert resolve_precision(None, "efficientnet_lite0", "imagenet", "keras") == "float32"
    assert resolve_precision(None, "vgg16", "imagenet", "auto") == "float32"
    assert resolve_precision("FLOAT32", "efficientnet_lite0", "imagenet", "auto") == "float32"
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        resolve_precision("int4", "efficientnet_lite0", "imagenet", "auto")
    with pytest.raises(ValueError, match="backend 'keras' runs float32"):
        load_extractor(backend="keras", precision="int8")
    with pytest.raises(ValueError, match="runs on Keras in float32"):
        load_extractor("mobilenetv3small", weights="random", input_size=64, precision="int8")


def test_cli_flag_and_launchpad_enum_derive_from_the_registry(monkeypatch):
    from cviz_assets.cli import build_parser, cli_settings
    from cviz_resources import FeatureModelResource

    parser = build_parser()
    args = parser.parse_args(["run", "-id", "x", "-imagedir", "/nowhere", "--precision", "float32"])
    assert args.precision == "float32"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "-id", "x", "-imagedir", "/nowhere", "--precision", "int4"])
    monkeypatch.setenv("CVIZ_PRECISION", "int8")  # the flag wins over the environment
    assert cli_settings(args).precision == "float32"
    schema = FeatureModelResource.model_json_schema()
    enum = schema["$defs"]["Precision"]["enum"] if "$defs" in schema else schema["properties"]["precision"]["enum"]
    assert set(enum) == set(PRECISIONS)
