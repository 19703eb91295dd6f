"""Features in chunks (cviz/embed/chunks.py): the chunk files are the join between workers and the
``features`` asset; a chunk whose content or model changed is never reused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from cviz.embed.chunks import chunk_rel, compute_chunk, features_by_chunks, plan_chunks, worker_chunks
from cviz.ingest.catalogue import build_catalogue, usable_items
from cviz.ingest.collection import CollectionConfig
from cviz.storage import open_storage


class FakeExtractor:
    """Deterministic features from the pixels (the executor/chunk logic is under test, not the CNN)."""

    name = "fake"
    dim = 8
    input_size = 32
    model_id = "fake-8"

    def __init__(self) -> None:
        self.images = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.images += len(batch)
        flat = batch.reshape(len(batch), -1).astype(np.float32)
        return np.stack([flat[:, i::8].mean(axis=1) for i in range(8)], axis=1)


@pytest.fixture(scope="module")
def ten_items(met_sample_dir):
    config = CollectionConfig(name="ten", images=str(met_sample_dir / "images" / "[34]*.jpg"))
    items = usable_items(build_catalogue(config))[:10]
    assert len(items) == 10
    base = str(met_sample_dir / "images")
    return items, (lambda rel: open(f"{base}/{rel}", "rb").read())


def test_plan_covers_every_item_once_and_fingerprints_content_and_model(ten_items):
    items, _ = ten_items
    chunks = plan_chunks(items, "m1", size=4)
    assert [(c.start, c.stop) for c in chunks] == [(0, 4), (4, 8), (8, 10)]
    changed = [dict(e) for e in items]
    changed[5]["sha256"] = hashlib.sha256(b"other").hexdigest()
    again = plan_chunks(changed, "m1", size=4)
    assert [a.fingerprint == b.fingerprint for a, b in zip(chunks, again)] == [True, False, True]
    assert all(a.fingerprint != b.fingerprint for a, b in zip(chunks, plan_chunks(items, "m2", size=4)))
    split = [worker_chunks(chunks, w, 2) for w in range(2)]
    assert sorted(c.index for part in split for c in part) == [0, 1, 2] and not set(split[0]) & set(split[1])


def test_asset_reuses_chunks_workers_wrote_and_recomputes_stale_ones(ten_items, tmp_path, monkeypatch):
    monkeypatch.setenv("CVIZ_FEATURE_CHUNK", "4")
    items, read = ten_items
    storage = open_storage(str(tmp_path))
    extractor = FakeExtractor()
    # "workers": each computes its share of the chunks (no per-image cache shared: separate roots
    # would be separate machines; here one root, so the asset below must not recompute anything)
    for w in range(2):
        for chunk in worker_chunks(plan_chunks(items, extractor.model_id), w, 2):
            compute_chunk(storage, "ten", items, chunk, read, extractor)
    assert extractor.images == 10
    done = features_by_chunks(storage, "ten", items, read, extractor)
    assert (done.chunks, done.chunks_reused, done.run.computed) == (3, 3, 0)
    assert extractor.images == 10  # nothing recomputed
    whole = FakeExtractor()
    reference = features_by_chunks(open_storage(str(tmp_path / "fresh")), "ten", items, read, whole).run.features
    np.testing.assert_allclose(done.run.features, reference, rtol=1e-6)

    # A damaged chunk file is not used: recomputed (from the per-image cache) and rewritten.
    first = plan_chunks(items, extractor.model_id)[0]
    storage.write_bytes(chunk_rel("ten", extractor.model_id, first), b"not an npy")
    again = features_by_chunks(storage, "ten", items, read, extractor)
    assert again.chunks_reused == 2 and again.run.cache_hits == 10
    np.testing.assert_allclose(again.run.features, reference, rtol=1e-6)
    # A collection whose images changed gets new chunk names: the old files cannot be picked up.
    changed = [dict(e) for e in items]
    changed[0] = dict(changed[0], sha256=hashlib.sha256(b"x").hexdigest())
    assert chunk_rel("ten", extractor.model_id, plan_chunks(changed, extractor.model_id)[0]) != \
        chunk_rel("ten", extractor.model_id, first)
