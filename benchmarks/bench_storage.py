"""Benchmark: one collection end to end, local folder vs S3 (moto server), and 1 vs N dask workers.

Modes (each with its own fresh storage root, so every mode computes every feature):
- ``local``: images and outputs in local folders, every step in this process (in_process executor).
- ``s3``: images uploaded to a bucket on a moto S3 server (a separate process on 127.0.0.1),
  outputs written there too, through s3fs; every step in this process. The upload is timed apart.
- ``dask1``, ``dask2``, ...: local storage, a dask LocalCluster of that many single-threaded worker
  processes (started before the clock; its start is reported apart). The collection's features go
  through the ``features_chunks`` job (one worker step per dask worker, round robin over chunks of
  ``--chunk`` images), then ``build_collection`` runs on the same cluster (features assembled).

    .venv/bin/python benchmarks/bench_storage.py                       # ../shared/data/imageplot, all modes
    .venv/bin/python benchmarks/bench_storage.py --modes local,s3 --limit 200

Prints a table and writes JSON under benchmarks/results/. Report ``uptime`` load beside the
figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imageplot"
BUCKET = "cviz-bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _subset(data: Path, out: Path, limit: int | None) -> Path:
    """The collection as a folder (images + metadata.csv), possibly its first ``limit`` images."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in (data / "images").iterdir())[: limit or None]
    for n in names:
        shutil.copyfile(data / "images" / n, out / "images" / n)
    shutil.copyfile(data / "metadata.csv", out / "metadata.csv")
    return out


def _materialize_in_process(root: str, spec: dict) -> float:
    import dagster as dg

    from cviz_assets.assets import collection_assets
    from cviz_assets.definitions import default_resources
    from cviz_assets.register import register_spec

    os.environ["CVIZ_STORAGE_ROOT"] = root
    resources = default_resources()
    instance = dg.DagsterInstance.ephemeral()
    register_spec(instance, resources["storage"], spec)
    started = time.perf_counter()
    result = dg.materialize(collection_assets, partition_key=spec["name"], instance=instance, resources=resources)
    seconds = time.perf_counter() - started
    assert result.success
    return seconds


def run_local(src: Path, work: Path) -> dict:
    spec = {"name": "bench", "images": str(src / "images"), "metadata": str(src / "metadata.csv")}
    return {"seconds": round(_materialize_in_process(str(work / "storage-local"), spec), 2)}


def run_s3(src: Path, work: Path) -> dict:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                          CVIZ_S3_ENDPOINT_URL=endpoint)
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        for _ in range(100):
            try:
                fs.mkdir(BUCKET)
                break
            except Exception:
                time.sleep(0.1)
        started = time.perf_counter()
        fs.put(str(src / "images") + "/", f"{BUCKET}/src/images/", recursive=True)
        fs.put_file(str(src / "metadata.csv"), f"{BUCKET}/src/metadata.csv")
        upload = time.perf_counter() - started
        spec = {"name": "bench", "images": f"s3://{BUCKET}/src/images", "metadata": f"s3://{BUCKET}/src/metadata.csv"}
        seconds = _materialize_in_process(f"s3://{BUCKET}/cviz", spec)
        objects = len(fs.find(f"{BUCKET}/cviz"))
        return {"seconds": round(seconds, 2), "upload_seconds": round(upload, 2), "objects_written": objects}
    finally:
        server.terminate()
        server.wait(timeout=30)
        os.environ.pop("CVIZ_S3_ENDPOINT_URL", None)


def run_dask(src: Path, work: Path, workers: int, chunk: int) -> dict:
    import dagster as dg
    from distributed import Client, LocalCluster

    root = work / f"storage-dask{workers}"
    os.environ.update(CVIZ_STORAGE_ROOT=str(root), CVIZ_FEATURE_CHUNK=str(chunk), CVIZ_FEATURE_WORKERS=str(workers),
                      CVIZ_EXECUTOR="dask")
    from cviz_assets.register import register_spec
    from cviz_resources import StorageResource

    t = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    cluster_start = time.perf_counter() - t
    instance = dg.DagsterInstance.local_temp(tempfile.mkdtemp(prefix="bench-home-", dir=work))
    spec = {"name": "bench", "images": str(src / "images"), "metadata": str(src / "metadata.csv")}
    register_spec(instance, StorageResource(root=str(root)), spec)
    run_config = {"execution": {"config": {"cluster": {"existing": {"address": cluster.scheduler_address}}}}}
    tags = {"dagster/partition": "bench"}
    from benchmarks.bench_storage_jobs import build_job, chunks_job

    timings = {}
    try:
        started = time.perf_counter()
        with dg.execute_job(dg.reconstructable(build_job), instance, run_config=run_config, tags=tags,
                            asset_selection=[dg.AssetKey("images")]) as r:
            assert r.success
        timings["images"] = time.perf_counter() - started
        t = time.perf_counter()
        with dg.execute_job(dg.reconstructable(chunks_job), instance, run_config=run_config, tags=tags) as r:
            assert r.success
        timings["features_chunks"] = time.perf_counter() - t
        t = time.perf_counter()
        with dg.execute_job(dg.reconstructable(build_job), instance, run_config=run_config, tags=tags) as r:
            assert r.success
        timings["build_collection"] = time.perf_counter() - t
        seconds = time.perf_counter() - started
    finally:
        client.close()
        cluster.close()
    return {"seconds": round(seconds, 2), "cluster_start_seconds": round(cluster_start, 2),
            **{f"{k}_seconds": round(v, 2) for k, v in timings.items()}, "chunk": chunk}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--modes", default="local,s3,dask1,dask2")
    parser.add_argument("--chunk", type=int, default=128, help="images per feature chunk (dask modes)")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "images").is_dir():
        sys.exit(f"no collection at {data} (expected images/ and metadata.csv)")
    results_dir = REPO / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    src = _subset(data, work / "src", args.limit)
    n = len(list((src / "images").iterdir()))
    rows = []
    try:
        for mode in args.modes.split(","):
            load_before = _load()
            if mode == "local":
                r = run_local(src, work)
            elif mode == "s3":
                r = run_s3(src, work)
            elif mode.startswith("dask"):
                r = run_dask(src, work, int(mode[4:] or 1), args.chunk)
            else:
                sys.exit(f"unknown mode {mode}")
            r.update(mode=mode, images=n, load_before=load_before, load_after=_load(),
                     images_per_s=round(n / r["seconds"], 2))
            rows.append(r)
            print(json.dumps(r), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = results_dir / f"bench_storage-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=1))
    print(f"\n{'mode':8} {'images':>6} {'seconds':>8} {'img/s':>6}  load(1,5,15 min) before -> after")
    for r in rows:
        print(f"{r['mode']:8} {r['images']:>6} {r['seconds']:>8} {r['images_per_s']:>6}  {r['load_before']} -> {r['load_after']}")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
