"""Jobs for benchmarks/bench_storage.py on the dask executor, importable by dask workers
(``dg.reconstructable`` cannot point into a script run as ``__main__``). Resources and chunking
come from the environment the workers inherit."""

import dagster as dg


def build_job() -> dg.JobDefinition:
    from cviz_assets.assets import collection_assets
    from cviz_assets.definitions import default_resources
    from cviz_assets.executors import dask_executor

    job = dg.define_asset_job("build_collection", selection=dg.AssetSelection.assets(*collection_assets),
                              executor_def=dask_executor)
    return dg.Definitions(assets=collection_assets, jobs=[job], resources=default_resources()).resolve_job_def(job.name)


def chunks_job() -> dg.JobDefinition:
    from cviz_assets.chunk_jobs import build_features_chunks_job, feature_workers
    from cviz_assets.definitions import default_resources
    from cviz_assets.executors import dask_executor

    job = build_features_chunks_job(workers=feature_workers())
    return dg.Definitions(jobs=[job], resources=default_resources(), executor=dask_executor).resolve_job_def(job.name)
