"""Dagster instance storage on a real PostgreSQL server (dagster-postgres), on a free loopback port.

The server is Debian's ``postgresql`` (installed by the build: ``apt-get install -y postgresql``);
this test creates a throwaway cluster with initdb, starts it with pg_ctl (as the ``postgres``
user when the tests run as root: PostgreSQL refuses to run as root), materializes a small
collection with an instance configured by ``deploy/dagster.production.yaml`` (the repository's
dagster.yaml plus ``deploy/dagster.postgres.yaml``: what the webserver and daemon run with), and
reads the run back through a second, fresh instance.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import REPO, materialize_collection, missing_prerequisite

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PASSWORD = "cviz-pg-test-pw"


def _pg_bin() -> Path | None:
    for folder in sorted(glob.glob(PG_BIN_GLOB), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")) and os.path.exists(os.path.join(folder, "pg_ctl")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = _free_port()
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="cviz-pg-"))
        self.data = self.dir / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                missing_prerequisite("running as root and there is no 'postgres' user to run the server as "
                            "(apt-get install -y postgresql creates it)")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")

    def start(self) -> None:
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_user:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "cviz", "--pwfile", str(pwfile),
                  "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off", "start")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "cviz", "dagster")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    bin_dir = _pg_bin()
    if bin_dir is None:
        missing_prerequisite(f"no PostgreSQL server binaries at {PG_BIN_GLOB} (install with: apt-get install -y postgresql)")
    server = PostgresServer(bin_dir)
    mp = pytest.MonkeyPatch()
    mp.setenv("PGPASSWORD", PASSWORD)  # for createdb
    server.start()
    try:
        yield server
    finally:
        server.stop()
        mp.undo()


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


def test_materialize_with_postgres_instance_and_read_the_run_back(postgres, met_sample_dir, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.production.yaml", home / "dagster.yaml")
    monkeypatch.setenv("CVIZ_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("CVIZ_PG_PORT", str(postgres.port))
    monkeypatch.setenv("CVIZ_PG_DB", "dagster")
    monkeypatch.setenv("CVIZ_PG_USER", "cviz")
    monkeypatch.setenv("CVIZ_PG_PASSWORD", PASSWORD)

    src = tmp_path / "pg6"
    (src / "images").mkdir(parents=True)
    for p in sorted((met_sample_dir / "images").iterdir())[:6]:
        shutil.copyfile(p, src / "images" / p.name)
    spec = {"name": "pg-six", "images": str(src / "images")}

    with _instance(home) as instance:
        from dagster_postgres import PostgresRunStorage

        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2  # dagster.yaml's settings too
        result = materialize_collection(tmp_path / "storage", spec, instance=instance)
        assert result.success
        run_id = result.run_id

    with _instance(home) as fresh:  # a new connection: what another machine would see
        run = fresh.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert "pg-six" in fresh.get_dynamic_partitions("collections")
        event = fresh.get_latest_materialization_event(dg.AssetKey("metadata_json"))
        assert event is not None and event.run_id == run_id
        assert event.asset_materialization.partition == "pg-six"
        assert event.asset_materialization.metadata["items"].value == 6
        steps = {r.step_key for r in fresh.all_logs(run_id) if r.is_dagster_event and r.dagster_event.is_step_success}
        assert {"images", "features", "dzi", "metadata_json"} <= steps

    # And straight from the database, so the rows are really in PostgreSQL.
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=postgres.port, dbname="dagster", user="cviz", password=PASSWORD) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchone() == ("SUCCESS",)
