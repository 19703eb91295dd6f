"""``features_chunks``: one collection's features spread over several workers, before ``features``.

For a collection too large for one features step: launch this job for the collection's partition;
its ``CVIZ_FEATURE_WORKERS`` worker steps (default 2; fixed when the code location loads) each
compute every N-th chunk (cviz/embed/chunks.py) and write the chunk files. The executor (dask, celery,
k8s) places those steps on different machines. Then materialize the collection as usual: the
``features`` asset finds every chunk already written and only assembles them.

Static fan-out rather than ``DynamicOut``: dagster-dask cannot run dynamic steps. The steps pass
nothing to each other (the chunk files in storage are the join), so no IO manager has to be
shared between machines.
"""

import os
import time

import dagster as dg

from cviz.embed.chunks import run_worker
from cviz.ingest.catalogue import open_source, usable_items
from cviz.paths import CollectionPaths
from cviz.settings import settings
from cviz.stages import registry
from cviz.storage import read_source
from cviz_assets.executors import fan_out_executor
from cviz_assets.partitions import collection_partitions
from cviz_resources import FeatureModelResource, StorageResource


def feature_workers() -> int:
    return max(1, settings().feature_workers)


def _worker_op(worker: int, workers: int) -> dg.OpDefinition:
    @dg.op(name=f"features_worker_{worker}", out=dg.Out(dg.Nothing), tags={"kind": "tensorflow"},
           description=f"Compute chunks {worker}, {worker}+{workers}, ... of the collection's features.")
    def _op(context: dg.OpExecutionContext, storage: StorageResource, model: FeatureModelResource) -> None:
        started = time.perf_counter()
        name = context.partition_key
        store = storage.get()
        catalogue = store.read_json(CollectionPaths(name).catalogue)
        items = usable_items(catalogue)
        extractor = model.get(registry.model_cache_dir(store))
        fs, base = open_source(catalogue, store.storage_options)
        # One decode per original here too: it also fills the cell and item-image caches the mosaic copies.
        decode_at, derive = registry.derive_outputs(store, name, tuple(registry.run_config(store, name).cell_size))
        done = run_worker(store, name, items, extractor, worker, workers, lambda rel: read_source(fs, f"{base}/{rel}"),
                          model.batch_size, log=context.log.info, decode_at=decode_at, derive=derive)
        computed, reused, images = done.computed, done.reused, done.images
        context.add_output_metadata({
            "chunks_computed": computed, "chunks_already_there": reused, "images_computed": images,
            "pid": os.getpid(), "host": os.uname().nodename, "seconds": round(time.perf_counter() - started, 3),
        })

    return _op


def build_features_chunks_job(workers: int | None = None) -> dg.JobDefinition:
    workers = workers or feature_workers()
    ops = [_worker_op(i, workers) for i in range(workers)]

    @dg.job(name="features_chunks", partitions_def=collection_partitions, executor_def=fan_out_executor(),
            description="Compute one collection's features on several workers (chunk files), before materializing it.")
    def features_chunks() -> None:
        for op in ops:
            op()

    return features_chunks


features_chunks = build_features_chunks_job()
