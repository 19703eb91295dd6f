"""Collections on S3, through the real s3fs client against a real S3 protocol server on loopback.

The server is moto in server mode (as s3fs's own test suite uses), started here on a free port of
127.0.0.1; nothing leaves the machine. Images, metadata CSV and every output live in the bucket.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import socket
import time
import urllib.request
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from tests.conftest import materialize_collection, short_step_retry_waits

pytest.importorskip("moto.server", reason="moto[server] is a test dependency (pip install -e '.[test]')")
s3fs = pytest.importorskip("s3fs")

BUCKET = "cviz-test"
ROOT = f"s3://{BUCKET}/cviz"
SECRET = "cviz-test-secret-9f8e7d6c5b4a"  # must never appear in run logs or metadata
NAME = "met12"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto's S3 on 127.0.0.1:<port>; stop() and start() again keep the bucket (state is in-process)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._factory = lambda: ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server = None

    def start(self) -> None:
        if self._server is None:
            self._server = self._factory()
            self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture(scope="module")
def s3_server():
    mp = pytest.MonkeyPatch()
    server = MotoServer()
    mp.setenv("AWS_ACCESS_KEY_ID", "cviz-test-key")
    mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.delenv("AWS_PROFILE", raising=False)
    mp.setenv("CVIZ_S3_ENDPOINT_URL", server.endpoint)
    mp.setenv("CVIZ_STORAGE_RETRIES", "3")
    mp.setenv("CVIZ_STORAGE_BACKOFF_S", "0.2")
    server.start()
    fs = s3fs.S3FileSystem(endpoint_url=server.endpoint)
    fs.mkdir(BUCKET)
    _static_hosting(server)
    yield server
    server.stop()
    mp.undo()


def _static_hosting(server: MotoServer) -> None:
    """The bucket setup the README documents: public read of published/ only, CORS for the viewer."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1")
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "PublicReadPublished", "Effect": "Allow", "Principal": "*",
                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/cviz/published/*"}],
    }))
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 3600,
    }]})


def _fs(server: MotoServer):
    """A fresh client (no listing cache shared with the code under test)."""
    return s3fs.S3FileSystem(endpoint_url=server.endpoint, skip_instance_cache=True)


def _upload_sample(server: MotoServer, src: Path, prefix: str, count: int) -> list[str]:
    """The first ``count`` met-sample images and their metadata rows, under s3://BUCKET/prefix/."""
    fs = _fs(server)
    names = sorted(p.name for p in (src / "images").iterdir())[:count]
    for n in names:
        fs.pipe_file(f"{BUCKET}/{prefix}/images/{n}", (src / "images" / n).read_bytes())
    with open(src / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(r for r in rows if r["filename"] in set(names))
    fs.pipe_file(f"{BUCKET}/{prefix}/metadata.csv", out.getvalue().encode("utf-8"))
    return names


def _http_get(server: MotoServer, key: str) -> bytes:
    """What a browser pointed at the bucket's URL would fetch (path-style, no signing)."""
    with urllib.request.urlopen(f"{server.endpoint}/{BUCKET}/{key}", timeout=10) as r:
        return r.read()


def _listing(server: MotoServer, prefix: str) -> dict[str, int]:
    fs = _fs(server)
    return {p: info["size"] for p, info in fs.find(f"{BUCKET}/{prefix}", detail=True).items()}


@pytest.fixture(scope="module")
def s3_collection(s3_server: MotoServer, met_sample_dir: Path):
    """``met12``: 12 met-sample images on S3, materialized with outputs on S3 (the real assets)."""
    names = _upload_sample(s3_server, met_sample_dir, "sources/met12", 12)
    spec = {"name": NAME, "images": f"s3://{BUCKET}/sources/met12/images",
            "metadata": f"s3://{BUCKET}/sources/met12/metadata.csv"}
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_collection(ROOT, spec, instance=instance)
    assert result.success
    return {"names": names, "result": result, "instance": instance, "spec": spec}


def test_collection_on_s3_materializes_and_is_readable_from_the_bucket(s3_server, s3_collection):
    fs = _fs(s3_server)
    assert not Path("cviz-test").exists(), "an s3:// root must never become a local folder"
    catalogue = json.loads(fs.cat_file(f"{BUCKET}/cviz/collections/{NAME}/images.json"))
    assert catalogue["counts"]["usable"] == 12
    assert catalogue["base"].startswith(f"s3://{BUCKET}/sources/met12/images")
    keys = [k for k in fs.find(f"{BUCKET}/cviz/cache/features") if k.endswith(".keys.npy")]
    assert keys  # the packed feature store lives in the bucket too, and holds every image's vector
    stored = {k.decode() for f in keys for k in np.load(io.BytesIO(fs.cat_file(f)), allow_pickle=False).tolist()}
    assert len(stored) >= 12 and {e["sha256"] for e in catalogue["files"] if e["status"] == "usable"} <= stored

    # The published files, read as the static viewer reads them: plain HTTP GETs under one base URL.
    index = json.loads(_http_get(s3_server, "cviz/published/index.json"))
    assert [c["name"] for c in index["collections"]] == [NAME]
    pointer = json.loads(_http_get(s3_server, f"cviz/published/{NAME}/current.json"))
    items = json.loads(_http_get(s3_server, f"cviz/published/{NAME}/{pointer['items']}"))
    assert items["count"] == 12
    assert sorted(items["fields"]["id"]) == s3_collection["names"]
    dzi = _http_get(s3_server, f"cviz/published/{NAME}/{pointer['dzi']}").decode()
    assert "<Image" in dzi and 'Format="jpg"' in dzi
    version = pointer["dzi"].split("/")[0]
    tiles = fs.find(f"{BUCKET}/cviz/published/{NAME}/{version}/map_files")
    assert tiles and all(t.endswith(".jpg") for t in tiles)
    assert _http_get(s3_server, tiles[0].split("/", 1)[1])[:3] == b"\xff\xd8\xff"  # a JPEG tile
    first_image = items["fields"]["image"][0]  # relative to items.json's folder
    item_key = f"cviz/published/{NAME}/{version}/{first_image}"
    item_key = "/".join(p for p in re.sub(r"[^/]+/\.\./", "", item_key).split("/"))
    assert _http_get(s3_server, item_key)[:3] == b"\xff\xd8\xff"


def test_credentials_never_reach_logs_or_metadata(s3_collection):
    instance: dg.DagsterInstance = s3_collection["instance"]
    run_id = s3_collection["result"].run_id
    records = instance.all_logs(run_id)
    assert records
    for record in records:
        assert SECRET not in str(record), f"secret leaked in {record.dagster_event_type}"
    run = instance.get_run_by_id(run_id)
    assert SECRET not in json.dumps(run.run_config, default=str) and SECRET not in json.dumps(run.tags)


def _messages(error) -> str:
    """The failure's message and those of its causes (a step retry policy wraps the original)."""
    out = []
    while error is not None:
        out.append(error.message)
        error = error.cause or error.context
    return "\n".join(out)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_server_stopping_mid_run_retries_then_fails_naming_the_key_and_keeps_outputs(
        s3_server, s3_collection, monkeypatch):
    from cviz.stages import registry
    fs = _fs(s3_server)
    pointer_key = f"{BUCKET}/cviz/published/{NAME}/current.json"
    pointer_before = fs.cat_file(pointer_key)
    version = json.loads(pointer_before)["dzi"].split("/")[0]
    published_before = _listing(s3_server, f"cviz/published/{NAME}")
    grid_before = fs.cat_file(f"{BUCKET}/cviz/collections/{NAME}/grid.json")

    real_grid = registry.stage_grid

    def server_dies_then_grid(*args, **kwargs):
        s3_server.stop()  # mid-run: images..tsne are written; the grid step finds no server
        return real_grid(*args, **kwargs)

    monkeypatch.setattr(registry, "stage_grid", server_dies_then_grid)
    from cviz_assets.assets import collection_assets

    assert short_step_retry_waits(monkeypatch, collection_assets) >= 1  # the grid step's re-runs, without 5 s + 10 s waits
    # One try per call inside s3fs (its own 5, with 1.9 s of sleeps, made each of cviz's attempts on
    # the stopped server take 2 s): the retries under test are cviz's, counted and logged below.
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 1)
    handler = _Collect()
    logging.getLogger("cviz.storage").addHandler(handler)
    try:
        started = time.perf_counter()
        # Forced: nothing changed since the fixture's build, so the grid step would be skipped.
        result = materialize_collection(ROOT, s3_collection["spec"], instance=s3_collection["instance"],
                                        raise_on_error=False, tags={"cviz/force": "true"})
        elapsed = time.perf_counter() - started
    finally:
        logging.getLogger("cviz.storage").removeHandler(handler)
        s3_server.start()

    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["grid"]
    message = _messages(failures[0].step_failure_data.error)
    key = re.search(rf"cannot \w+ (s3://{BUCKET}/cviz/\S+): still failing after 3 attempts", message)
    assert key, message
    assert "/." not in key.group(1)  # a real key under the root, e.g. collections/met12/tsne.npy
    retried = [m for m in handler.messages if key.group(1) in m and "retry" in m]
    # 3 attempts = 2 retries per step attempt, each logged with the key (Dagster's step retry
    # policy, cviz_assets/retries.py, may then re-run the step: more of the same)
    assert len(retried) >= 2 and len(retried) % 2 == 0, handler.messages
    assert elapsed > 0.2  # the backoff waited
    assert SECRET not in message

    # Nothing published was touched: same pointer, same files, same sizes; grid.json as it was.
    fs = _fs(s3_server)
    assert fs.cat_file(pointer_key) == pointer_before
    assert _listing(s3_server, f"cviz/published/{NAME}") == published_before
    assert fs.cat_file(f"{BUCKET}/cviz/collections/{NAME}/grid.json") == grid_before
    assert fs.exists(f"{BUCKET}/cviz/published/{NAME}/{version}/map.dzi")


def test_drop_sensor_sees_a_new_prefix_on_s3(s3_server, met_sample_dir):
    """The drop root in the bucket: a prefix uploaded between ticks is seen by the next tick."""
    from cviz_assets.sensors import build_drop_sensor
    from cviz_resources import StorageResource

    root = f"s3://{BUCKET}/sensor-root"
    _upload_sample(s3_server, met_sample_dir, "sensor-root/drop/alpha", 3)
    clock = [time.time() + 1.0]
    sensor = build_drop_sensor(quiet_seconds=5.0, clock=lambda: clock[0])
    instance = dg.DagsterInstance.ephemeral()
    resources = {"storage": StorageResource(root=root)}

    def tick(cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            return sensor(ctx)

    first = tick(None)  # alpha seen, settling
    assert not first.run_requests
    clock[0] += 10
    second = tick(first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["alpha"]

    _upload_sample(s3_server, met_sample_dir, "sensor-root/drop/beta", 2)  # a new prefix
    clock[0] += 10
    third = tick(second.cursor)
    assert not third.run_requests
    assert "beta" in json.loads(third.cursor)["c"], third.cursor
    clock[0] += 10
    fourth = tick(third.cursor)
    assert [r.partition_key for r in fourth.run_requests] == ["beta"]
    config = json.loads(_fs(s3_server).cat_file(f"{BUCKET}/sensor-root/collections/beta/collection.json"))
    assert config["images"].startswith(f"s3://{BUCKET}/sensor-root/drop/beta")
