"""The asset graph on a distributed engine: dagster-dask, on a cluster of worker processes here.

Two collections are materialized at once through the dask executor connected to an ``existing``
scheduler (a LocalCluster of two single-threaded worker processes started by the test), and the
steps must have run in both workers, never in the test process. A third collection's features are
split into chunks computed by the ``features_chunks`` job on a ``local`` cluster, after which the
``features`` asset only assembles them. Real assets and the real model; tiny collections.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import MODEL, REPO, WEIGHTS, materialize_collection

distributed = pytest.importorskip("distributed", reason="dagster-dask brings dask.distributed")

CHUNK = 4


def dask_build_collection() -> dg.JobDefinition:
    """``build_collection`` on the (unconfigured) dask executor; resources from the environment,
    which the worker processes inherit. Module-level so workers can reconstruct it."""
    from cviz_assets.executors import dask_executor

    from cviz_assets.assets import collection_assets
    from cviz_assets.definitions import default_resources

    job = dg.define_asset_job("build_collection", selection=dg.AssetSelection.assets(*collection_assets),
                              executor_def=dask_executor)
    return dg.Definitions(assets=collection_assets, jobs=[job], resources=default_resources()).resolve_job_def(job.name)


def dask_features_chunks() -> dg.JobDefinition:
    from cviz_assets.executors import dask_executor

    from cviz_assets.chunk_jobs import build_features_chunks_job
    from cviz_assets.definitions import default_resources

    job = build_features_chunks_job(workers=2)
    return dg.Definitions(jobs=[job], resources=default_resources(), executor=dask_executor).resolve_job_def(job.name)


def _subset(src: Path, out: Path, start: int, count: int) -> dict:
    (out / "images").mkdir(parents=True)
    for p in sorted((src / "images").iterdir())[start:start + count]:
        shutil.copyfile(p, out / "images" / p.name)
    return {"name": out.name, "images": str(out / "images")}


@pytest.fixture(scope="module")
def dask_env(tmp_path_factory, met_sample_dir):
    root = tmp_path_factory.mktemp("dist-storage")
    mp = pytest.MonkeyPatch()
    # Set before the workers start: they inherit the environment, as real workers are configured.
    mp.setenv("CVIZ_STORAGE_ROOT", str(root))
    mp.setenv("CVIZ_MODEL", MODEL)
    mp.setenv("CVIZ_WEIGHTS", WEIGHTS)
    mp.setenv("CVIZ_FEATURE_CHUNK", str(CHUNK))
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    instance = dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dist-home")))
    src = tmp_path_factory.mktemp("dist-src")
    specs = [_subset(met_sample_dir, src / n, i * 8, 8) for i, n in enumerate(["coll-a", "coll-b", "coll-c"])]
    try:
        yield {"root": root, "address": cluster.scheduler_address, "instance": instance, "specs": specs,
               "worker_pids": set(client.run(os.getpid).values())}
    finally:
        client.close()
        cluster.close()
        instance.dispose()
        mp.undo()


def _step_pids(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    return {r.step_key: r.dagster_event.pid for r in instance.all_logs(run_id)
            if r.is_dagster_event and r.dagster_event.is_step_success}


def test_two_collections_run_in_parallel_on_dask_workers(dask_env):
    from cviz_assets.register import register_spec
    from cviz_resources import StorageResource

    instance = dask_env["instance"]
    a, b = dask_env["specs"][:2]
    for spec in (a, b):
        register_spec(instance, StorageResource(root=str(dask_env["root"])), spec)
    run_config = {"execution": {"config": {"cluster": {"existing": {"address": dask_env["address"]}}}}}

    def run(name: str) -> dg.ExecuteJobResult:
        return dg.execute_job(dg.reconstructable(dask_build_collection), instance=instance,
                              run_config=run_config, tags={"dagster/partition": name})

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: run(s["name"]), (a, b)))
    pids: set[int] = set()
    for spec, result in zip((a, b), results):
        with result:
            assert result.success, spec["name"]
            steps = _step_pids(instance, result.run_id)
        assert {"images", "features", "pca", "tsne", "grid", "mosaic", "dzi", "metadata_json"} <= set(steps)
        pids |= set(steps.values())
        pointer = json.loads((dask_env["root"] / "published" / spec["name"] / "current.json").read_text())
        items = json.loads((dask_env["root"] / "published" / spec["name"] / pointer["items"]).read_text())
        assert items["count"] == 8
    assert os.getpid() not in pids
    assert pids <= dask_env["worker_pids"]
    assert len(pids) == 2, f"steps ran in {pids}, workers {dask_env['worker_pids']}"


def test_features_of_one_collection_split_over_workers_then_assembled(dask_env):
    from cviz_assets.executors import dask_cluster_config
    from cviz_assets.register import register_spec
    from cviz_resources import StorageResource

    instance = dask_env["instance"]
    spec = dask_env["specs"][2]
    storage = StorageResource(root=str(dask_env["root"]))
    register_spec(instance, storage, spec)
    # the catalogue first (the chunk workers read it), then the chunks on a `local` dask cluster
    from cviz_assets.assets import images
    from tests.conftest import resources

    assert dg.materialize([images], partition_key=spec["name"], instance=instance,
                          resources=resources(dask_env["root"])).success
    with dg.execute_job(dg.reconstructable(dask_features_chunks), instance=instance,
                        run_config={"execution": {"config": dask_cluster_config(workers=2)}},
                        tags={"dagster/partition": spec["name"]}) as result:
        assert result.success
        steps = _step_pids(instance, result.run_id)
    assert set(steps) == {"features_worker_0", "features_worker_1"}
    assert len(set(steps.values())) == 2 and os.getpid() not in steps.values()
    chunk_files = sorted((dask_env["root"] / "collections" / spec["name"] / "feature_chunks").rglob("*.npy"))
    assert len(chunk_files) == 8 // CHUNK

    result = materialize_collection(dask_env["root"], spec, instance=instance)
    assert result.success
    md = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("features")][0]
    md = md.materialization.metadata
    assert md["chunks"].value == 2 and md["chunks_reused"].value == 2 and md["computed"].value == 0
    mosaic = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("mosaic")][0]
    assert mosaic.materialization.metadata["originals_decoded"].value == 0  # the chunk workers' decode filled the caches


def test_code_location_takes_the_executor_from_the_environment():
    code = ("import json, cviz_assets.definitions as d; j = d.build_collection_job(); "
            "print(json.dumps([j.executor_def.name, d.features_chunks_job().executor_def.name]))")
    env = {**os.environ, "CVIZ_EXECUTOR": "dask", "CVIZ_DASK_ADDRESS": "tcp://10.0.0.5:8786"}
    # Both code locations load at once (each import takes several seconds), each in its own process.
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for e in (env, {**env, "CVIZ_EXECUTOR": "sparkk"})]
    try:
        (out, err), (_, bad_err) = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    good, bad = procs
    assert good.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1]) == ["dask", "dask"]
    assert bad.returncode != 0 and "CVIZ_EXECUTOR='sparkk' is not one of" in bad_err


def test_executors_cviz_does_not_install_fail_with_the_package_to_install(monkeypatch):
    from cviz.errors import CvizError
    from cviz_assets.executors import dask_cluster_config, executor_from_env

    for name, package in (("celery", "dagster-celery"), ("k8s", "dagster-k8s")):
        monkeypatch.setenv("CVIZ_EXECUTOR", name)
        try:
            __import__(package.replace("-", "_"))
            continue  # installed: nothing to check here
        except ImportError:
            pass
        with pytest.raises(CvizError, match=f"pip install '{package}==0.29.27'"):
            executor_from_env()
    assert dask_cluster_config("tcp://h:8786") == {"cluster": {"existing": {"address": "tcp://h:8786"}}}
    assert dask_cluster_config(workers=3)["cluster"]["local"]["n_workers"] == 3
