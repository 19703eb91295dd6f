"""Features on more than one machine: a Dask worker killed mid-chunk costs time, never vectors.

The ``features_chunks`` job's work (cviz.embed.chunks.run_worker, what each of its steps runs) is
submitted as two Dask tasks to a cluster of two worker processes (each with a nanny, as
``dask worker`` runs them), with the storage root and the source images on a moto S3 server. When
one worker has started a chunk, the test kills its process (SIGKILL: no clean-up runs). Dask
resubmits the lost task; the retry skips the chunks already written and computes the rest. Then
the ``features`` asset's path (cviz.embed.chunks.features_by_chunks) must find every chunk written
(it computes nothing), and every vector must equal a single-process run's.

A tiny fake extractor (colour statistics, tests/bad_input/stages.py) that sleeps in each batch
makes "mid-chunk" a wide window, and keeps the test to seconds.
"""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.bad_input.stages import FakeExtractor
from tests.test_s3 import MotoServer  # skips with its reason when moto[server] or s3fs is absent

distributed = pytest.importorskip("distributed", reason="dagster-dask brings dask.distributed")
s3fs = pytest.importorskip("s3fs")

BUCKET = "cviz-dask-kill"
NAME = "kill"
ITEMS, CHUNK, BATCH = 32, 8, 4  # 4 chunks, 2 per worker, 2 batches per chunk


class SlowFake(FakeExtractor):
    """The fake extractor, slowed down, telling the test (a file per batch) which process is in a chunk."""

    def __init__(self, marks: str, pause_s: float = 0.6) -> None:
        super().__init__()
        self.marks, self.pause_s, self.calls = marks, pause_s, 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        Path(self.marks, f"{os.getpid()}-{self.calls}").touch()
        time.sleep(self.pause_s)
        return super().__call__(batch)


def worker_task(root: str, options: dict, worker: int, workers: int, marks: str) -> dict:
    """One ``features_chunks`` step, run in a Dask worker process."""
    from cviz.embed.chunks import run_worker
    from cviz.ingest.catalogue import open_source, usable_items
    from cviz.paths import CollectionPaths
    from cviz.storage import open_storage, read_source

    store = open_storage(root, options)
    catalogue = store.read_json(CollectionPaths(NAME).catalogue)
    fs, base = open_source(catalogue, store.storage_options)
    done = run_worker(store, NAME, usable_items(catalogue), SlowFake(marks), worker, workers,
                      lambda rel: read_source(fs, f"{base}/{rel}"), batch_size=BATCH)
    return {"pid": os.getpid(), "computed": done.computed, "reused": done.reused}


def _jpeg(i: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(i)
    px = (rng.random((40, 48, 3)) * 64 + np.array([i * 7 % 256, i * 13 % 256, i * 29 % 256])).clip(0, 255)
    buf = io.BytesIO()
    Image.fromarray(px.astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1",
                 "CVIZ_FEATURE_CHUNK": str(CHUNK)}.items():
        monkeypatch.setenv(k, v)  # before the cluster starts: its workers inherit them
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = MotoServer()
    server.start()
    fs = s3fs.S3FileSystem(endpoint_url=server.endpoint, skip_instance_cache=True)
    fs.mkdir(BUCKET)
    for i in range(ITEMS):
        fs.pipe(f"{BUCKET}/source/images/img{i:03d}.jpg", _jpeg(i))
    yield server.endpoint
    server.stop()


def test_killed_dask_worker_mid_chunk_loses_no_vector(s3: str, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    from cviz.embed.chunks import features_by_chunks, plan_chunks
    from cviz.embed.features import compute_features
    from cviz.ingest.catalogue import open_source, usable_items
    from cviz.ingest.collection import CollectionConfig
    from cviz.paths import CollectionPaths
    from cviz.stages import registry
    from cviz.storage import open_storage, read_source
    from cviz_resources.storage import s3_options

    root, options = f"s3://{BUCKET}/cviz", s3_options(s3)
    store = open_storage(root, options)
    registry.register(store, CollectionConfig.from_dict({"name": NAME, "images": f"s3://{BUCKET}/source/images"}))
    registry.stage_images(store, NAME)
    catalogue = store.read_json(CollectionPaths(NAME).catalogue)
    items = usable_items(catalogue)
    assert len(items) == ITEMS and len(plan_chunks(items, FakeExtractor.model_id)) == ITEMS // CHUNK
    fs, base = open_source(catalogue, store.storage_options)
    read = lambda rel: read_source(fs, f"{base}/{rel}")  # noqa: E731
    expected = compute_features(items, read, FakeExtractor(), None, BATCH).features  # one process, no cache

    marks = tmp_path / "marks"
    marks.mkdir()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        workers = set(client.run(os.getpid).values())
        futures = [client.submit(worker_task, root, options, w, 2, str(marks), pure=False) for w in range(2)]
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline:
            started = [p.name.split("-") for p in marks.iterdir()]
            victim = next((int(pid) for pid, call in started if call == "1" and int(pid) in workers), None)
            time.sleep(0.05)
        assert victim is not None, "no worker started a chunk within 60 s"
        os.kill(victim, signal.SIGKILL)  # in its first chunk's first batch: that chunk has no file yet
        results = client.gather(futures)  # Dask resubmits the lost task to a live (or restarted) worker

    assert victim not in {r["pid"] for r in results}, "the killed worker's task was not run again elsewhere"
    assert sum(r["computed"] for r in results) >= 2, results

    class MustNotRun(FakeExtractor):
        def __call__(self, batch: np.ndarray) -> np.ndarray:
            raise AssertionError("the features step computed a chunk the workers should have written")

    assembled = features_by_chunks(store, NAME, items, read, MustNotRun(), BATCH)
    assert assembled.chunks_reused == assembled.chunks == ITEMS // CHUNK
    assert assembled.run.features.shape == expected.shape
    assert np.array_equal(assembled.run.features, expected)  # every vector, bit for bit
