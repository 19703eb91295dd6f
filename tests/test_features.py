"""Features: computed once per image content and model, cache damage detected, colour/orientation consistent."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cviz.embed.feature_store import FeatureStore, packs_folder
from cviz.embed.features import cache_key, compute_features, model_input
from cviz.embed.models import load_extractor
from cviz.measure.knn import neighbour_agreement
from cviz.storage import open_storage
from tests.conftest import MODEL, WEIGHTS


@pytest.fixture(scope="module")
def extractor(shared_model_cache: str):
    """From the session's model cache (conftest): without a cache_dir, load_extractor converts to
    LiteRT again (about 10 s)."""
    return load_extractor(MODEL, WEIGHTS, cache_dir=shared_model_cache)


def items_for(folder: Path) -> list[dict]:
    import hashlib

    return [{"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in sorted(folder.iterdir())]


def copy_images(src: Path, dst: Path, names: list[str]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copyfile(src / n, dst / n)


def test_adding_ten_images_computes_only_ten(tmp_path: Path, met_sample_dir: Path, extractor) -> None:
    names = sorted(p.name for p in (met_sample_dir / "images").iterdir())[:30]
    folder = tmp_path / "imgs"
    copy_images(met_sample_dir / "images", folder, names[:20])
    storage = open_storage(str(tmp_path / "root"))
    read = lambda rel: (folder / rel).read_bytes()  # noqa: E731
    first = compute_features(items_for(folder), read, extractor, storage)
    assert (first.computed, first.cache_hits) == (20, 0)

    copy_images(met_sample_dir / "images", folder, names[20:30])
    second = compute_features(items_for(folder), read, extractor, storage)
    assert (second.computed, second.cache_hits, second.cache_rejected) == (10, 20, 0)
    # Cached rows are the very vectors computed the first time, in the new order.
    order = {it["file"]: i for i, it in enumerate(items_for(folder))}
    for j, it in enumerate(items_for(tmp_path / "imgs")):
        if it["file"] in names[:20]:
            np.testing.assert_array_equal(second.features[order[it["file"]]], first.features[names[:20].index(it["file"])])

    # Another collection holding some of the same images reuses their vectors.
    other = tmp_path / "other"
    copy_images(met_sample_dir / "images", other, names[5:15])
    third = compute_features(items_for(other), lambda rel: (other / rel).read_bytes(), extractor, storage)
    assert (third.computed, third.cache_hits) == (0, 10)


def _segment(root: Path, model_id: str) -> tuple[Path, Path]:
    (keys,) = sorted((root / packs_folder(model_id)).glob("*.keys.npy"))
    return keys, keys.with_name(keys.name.replace(".keys.npy", ".vecs.npy"))


@pytest.mark.parametrize("damage, rejected", [("truncate", 3), ("nan", 1), ("garbage", 3), ("wrong_shape", 3)])
def test_damaged_store_segment_is_recomputed(tmp_path: Path, met_sample_dir: Path, extractor, damage: str,
                                             rejected: int) -> None:
    folder = tmp_path / "imgs"
    copy_images(met_sample_dir / "images", folder, sorted(p.name for p in (met_sample_dir / "images").iterdir())[:3])
    storage = open_storage(str(tmp_path / "root"))
    items = items_for(folder)
    read = lambda rel: (folder / rel).read_bytes()  # noqa: E731
    good = compute_features(items, read, extractor, storage).features
    _, vecs = _segment(tmp_path / "root", extractor.model_id)
    data = vecs.read_bytes()
    if damage == "truncate":
        vecs.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        vecs.write_bytes(b"not a numpy file")
    else:
        arr = np.load(vecs).copy()
        if damage == "nan":
            arr[1] = np.nan
        else:
            arr = arr[:, :7].copy()
        np.save(vecs, arr)
    again = compute_features(items, read, extractor, storage)
    assert (again.cache_rejected, again.computed, again.cache_hits) == (rejected, rejected, 3 - rejected)
    np.testing.assert_allclose(again.features, good, rtol=1e-5, atol=1e-5)
    third = compute_features(items, read, extractor, storage)  # the recomputed rows were written whole
    assert (third.cache_rejected, third.computed, third.cache_hits) == (0, 0, 3)
    assert third.images_per_s is None and third.cached_per_s is not None  # no 0.0 rate for a cached run


@pytest.mark.parametrize("damage", ["truncate", "nan", "garbage", "wrong_shape"])
def test_per_image_files_of_earlier_versions_are_read_and_checked(tmp_path: Path, met_sample_dir: Path, extractor,
                                                                  damage: str) -> None:
    folder = tmp_path / "imgs"
    copy_images(met_sample_dir / "images", folder, sorted(p.name for p in (met_sample_dir / "images").iterdir())[:3])
    items = items_for(folder)
    read = lambda rel: (folder / rel).read_bytes()  # noqa: E731
    good = compute_features(items, read, extractor, None).features
    storage = open_storage(str(tmp_path / "root"))
    for it, vec in zip(items, good):  # the layout an earlier cviz wrote: one .npy per image
        buf = io.BytesIO()
        np.save(buf, vec)
        storage.write_bytes(cache_key(extractor.model_id, it["sha256"]), buf.getvalue())
    path = tmp_path / "root" / cache_key(extractor.model_id, items[1]["sha256"])
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a numpy file")
    else:
        buf = io.BytesIO()
        bad = np.full(extractor.dim, np.nan, np.float32) if damage == "nan" else np.zeros(7, np.float32)
        np.save(buf, bad)
        path.write_bytes(buf.getvalue())
    again = compute_features(items, read, extractor, storage)
    assert (again.cache_rejected, again.computed, again.cache_hits) == (1, 1, 2)
    np.testing.assert_allclose(again.features, good, rtol=1e-5, atol=1e-5)
    third = compute_features(items, read, extractor, storage)  # now from the store
    assert (third.computed, third.cache_hits) == (0, 3)


def test_store_reads_in_bulk_and_merges_segments(tmp_path: Path, monkeypatch) -> None:
    import hashlib

    from cviz.embed import feature_store
    storage = open_storage(str(tmp_path))
    store = FeatureStore(storage, "m-4", 4)
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)]
    vecs = np.arange(160, dtype=np.float32).reshape(40, 4)
    monkeypatch.setattr(feature_store, "MAX_SEGMENTS", 3)
    for k in range(0, 40, 10):  # four segments: the fourth write merges them into one
        store.add(shas[k : k + 10], vecs[k : k + 10])
    assert len(list((tmp_path / packs_folder("m-4")).glob("*.keys.npy"))) == 1
    fresh = FeatureStore(storage, "m-4", 4)
    order = [7, 39, 0, 21]
    got = fresh.lookup([shas[i] for i in order] + ["f" * 64])
    assert fresh.segments_read == 1
    np.testing.assert_array_equal(got.vectors[:4], vecs[order])
    assert got.found.tolist() == [True] * 4 + [False] and not got.rejected.any()
    store.add(shas[:1], np.full((1, 4), 5, np.float32))  # a later segment wins for the same image
    np.testing.assert_array_equal(FeatureStore(storage, "m-4", 4).lookup(shas[:2]).vectors, [[5] * 4, vecs[1]])


def _features_of(img: Image.Image, extractor) -> np.ndarray:
    buf = io.BytesIO()
    img.save(buf, "JPEG" if img.mode in ("RGB", "L", "CMYK") else "PNG", quality=95, exif=img.info.get("exif", b""))
    return extractor(model_input(buf.getvalue(), extractor.input_size)[None])[0]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_orientation_and_colour_modes_give_consistent_features(met_sample_dir: Path, extractor) -> None:
    src = sorted((met_sample_dir / "images").iterdir())[0]
    upright = Image.open(src).convert("RGB")
    base = _features_of(upright, extractor)

    # Stored rotated with an EXIF tag saying "rotate 90 CW to display": must be read upright.
    rotated = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated.info["exif"] = exif.tobytes()
    assert _cos(_features_of(rotated, extractor), base) > 0.97
    # Ignoring the tag would give a visibly different vector (so the check above has teeth).
    rotated_plain = rotated.copy()
    rotated_plain.info.pop("exif")
    assert _cos(_features_of(rotated_plain, extractor), base) < _cos(_features_of(rotated, extractor), base)

    assert _cos(_features_of(upright.convert("CMYK"), extractor), base) > 0.97
    assert _cos(_features_of(upright.convert("P", palette=Image.Palette.ADAPTIVE), extractor), base) > 0.9
    rgba = upright.convert("RGBA")
    assert _cos(_features_of(rgba, extractor), base) > 0.97  # opaque alpha changes nothing


def test_neighbour_agreement_separates_clusters_from_noise() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (60, 8)) + np.eye(8)[0] * 5
    b = rng.normal(0, 0.1, (60, 8)) + np.eye(8)[1] * 5
    feats = np.vstack([a, b]).astype(np.float32)
    good = neighbour_agreement(feats, ["a"] * 60 + ["b"] * 60)
    assert good is not None and good.score == pytest.approx(1.0) and good.chance == pytest.approx(0.5)
    shuffled = neighbour_agreement(feats, list(rng.permutation(["a"] * 60 + ["b"] * 60)))
    assert shuffled is not None and abs(shuffled.score - 0.5) < 0.15
    multi = neighbour_agreement(feats, ["a|x"] * 60 + ["b|x"] * 60)  # a shared value counts
    assert multi is not None and multi.score == pytest.approx(1.0)
    assert neighbour_agreement(feats[:5], ["a"] * 5) is None


class _ThreadRecordingModel:
    """Mean colour as a 3-d feature; records which threads called it and with how many images."""

    name, dim, input_size, model_id = "mean-colour", 3, 32, "mean-colour-32"

    def __init__(self, parallel_calls: int) -> None:
        import threading

        self.parallel_calls, self.calls, self.lock = parallel_calls, [], threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import threading

        with self.lock:
            self.calls.append((threading.current_thread().name, len(batch)))
        return np.asarray(batch, np.float32).mean(axis=(1, 2))


@pytest.mark.parametrize("parallel", [1, 2])
def test_parallel_calls_run_the_model_in_the_decode_workers(met_sample_dir: Path, parallel: int) -> None:
    """``parallel_calls`` > 1 (LiteRT): each decode worker runs the model on its own images, one
    per call; 1 (Keras): this thread runs whole batches. Same vectors, in item order, either way."""
    folder = met_sample_dir / "images"
    items = items_for(folder)[:12]
    model = _ThreadRecordingModel(parallel)
    run = compute_features(items, lambda rel: (folder / rel).read_bytes(), model, None, batch_size=5)
    want = np.stack([model_input((folder / e["file"]).read_bytes(), 32).astype(np.float32).mean(axis=(0, 1))
                     for e in items])
    np.testing.assert_allclose(run.features, want, rtol=1e-6)
    threads = {name for name, _ in model.calls}
    if parallel == 2:
        assert {n for _, n in model.calls} == {1} and len(model.calls) == len(items)
        assert "MainThread" not in threads and len(threads) == 2
        assert run.inference_seconds > 0
    else:
        assert threads == {"MainThread"} and [n for _, n in model.calls] == [5, 5, 2]


def test_neighbour_agreement_on_a_sample_scores_those_items_against_all() -> None:
    """The features stage scores a fixed sample (AGREEMENT_SAMPLE), not N x N: each sampled item's
    neighbours are still searched among all items, and the mean is close to the full one."""
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 1, (6, 32))
    which = rng.integers(0, 6, 3000)
    feats = (centres[which] + rng.normal(0, 4.0, (3000, 32))).astype(np.float32)
    labels = [f"c{w}" for w in which]
    full = neighbour_agreement(feats, labels)
    part = neighbour_agreement(feats, labels, sample=400)
    assert (full.items, part.items) == (3000, 400) and part.chance == full.chance
    again = neighbour_agreement(feats, labels, sample=400)
    assert again.score == part.score  # the same sample for the same N
    q = np.sort(np.random.default_rng(0).choice(3000, size=400, replace=False))
    x = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sims = x[q] @ x.T
    sims[np.arange(400), q] = -np.inf
    nearest = np.argsort(-sims, axis=1)[:, :10]
    want = np.mean([np.mean([labels[j] == labels[i] for j in row]) for i, row in zip(q, nearest)])
    assert abs(part.score - want) < 1e-9
    assert abs(part.score - full.score) < 0.05 and 0.3 < full.score < 0.95
