"""Operator drills on loopback, in the production shape: PostgreSQL, the schema step, the code-location
server, the webserver and the daemon, each started with its systemd unit's own command (deploy/), and
the watchdog. One set of processes for the module, tiny collections.

1. The asset graph's "Materialize" (``launchPipelineExecution`` of Dagster's implicit ``__ASSET_JOB``
   with the partition, as the UI sends it) runs in-process, within 1.3x of ``cviz run``'s time.
2. ``kill -9`` of the backend's process groups (code server with its run worker, and the daemon) just
   after a run took its collection: after the units restart, the run is failed with its reason, the
   collection is free, a ``run_dead`` alert is written and the queued run of that collection goes on,
   all within 3 minutes of the kill.
3. PostgreSQL stopped for 20 s and started again: the watchdog alerts while it is down, the webserver
   answers within 10 s of the restart, and no run appears that nobody launched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from cviz.stages.dead_runs import pid_alive
from tests.conftest import MODEL, REPO, WEIGHTS, missing_prerequisite
from tests.dagster_processes import BIN, Deployment, unit_command
from tests.test_postgres import PASSWORD, PostgresServer, _pg_bin

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
KILL_BOUND_S = 180.0
DB_DOWN_S = 20.0
WEB_BACK_S = 10.0


class Postgres(PostgresServer):
    """The suite's throwaway server, with a stop and a start that keep its data and port."""

    def pause(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off", "start")


def _copy_images(src: Path, dest: Path, names: list[str]) -> None:
    dest.mkdir(parents=True)
    for name in names:
        shutil.copyfile(src / "images" / name, dest / name)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, met_sample_dir: Path):
    bin_dir = _pg_bin()
    if bin_dir is None:
        missing_prerequisite("no PostgreSQL server binaries (install with: apt-get install -y postgresql)")
    pg = Postgres(bin_dir)
    mp = pytest.MonkeyPatch()
    mp.setenv("PGPASSWORD", PASSWORD)
    pg.start()
    base = tmp_path_factory.mktemp("drills")
    home, storage = base / "dagster_home", base / "storage"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.production.yaml", home / "dagster.yaml")
    pg_env = {"CVIZ_PG_HOST": "127.0.0.1", "CVIZ_PG_PORT": str(pg.port), "CVIZ_PG_DB": "dagster",
              "CVIZ_PG_USER": "cviz", "CVIZ_PG_PASSWORD": PASSWORD}
    env = {**pg_env, "CVIZ_MODEL": MODEL, "CVIZ_WEIGHTS": WEIGHTS, "CVIZ_DROP_INTERVAL_SECONDS": "600"}
    dep = Deployment(home, storage, env=env)
    try:
        # The documented first step: the schema, before any process starts (cviz-setup.service).
        migrate = subprocess.run(unit_command("cviz-setup.service"), env=dep.env, capture_output=True, text=True,
                                 timeout=300, cwd=REPO)
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        names = sorted(p.name for p in (met_sample_dir / "images").iterdir())
        _copy_images(met_sample_dir, base / "src-button", names[:3])
        _copy_images(met_sample_dir, base / "src-kill", names[3:7])
        for key, value in pg_env.items():
            mp.setenv(key, value)
        from cviz_assets.register import register_spec
        from cviz_resources import StorageResource

        with dg.DagsterInstance.from_config(str(home)) as instance:
            for name in ("drill-button", "drill-kill"):
                register_spec(instance, StorageResource(root=str(storage)),
                              {"name": name, "images": str(base / f"src-{name.split('-')[1]}")})
        dep.start_units().wait_ready()
        yield {"pg": pg, "dep": dep, "home": home, "storage": storage, "base": base}
    finally:
        dep.stop()
        pg.stop()
        mp.undo()


def _alerts(storage: Path) -> list[dict]:
    path = storage / "ops" / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_materialize_button_runs_in_process_like_the_cli(stack) -> None:
    from cviz_assets.graph import graph_assets

    dep: Deployment = stack["dep"]
    answer = dep.materialize_button([list(key.path) for a in graph_assets for key in a.keys], "drill-button")
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id = answer["run"]["runId"]
    run = dep.wait_run(run_id, timeout=600)
    assert run["status"] == "SUCCESS", dep.log("code-server")
    with dg.DagsterInstance.from_config(str(stack["home"])) as instance:
        engine = [e.message for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)]
        assert instance.get_run_by_id(run_id).job_name == "__ASSET_JOB"
    assert any(m.startswith("Executing steps in process") for m in engine), engine
    assert not any("multiprocess" in m or "Launching subprocess" in m for m in engine), engine

    # How its time compares with `cviz run` on the same images is benchmarks/ui_vs_cli.py's to measure:
    # a timed assertion here would fail on a loaded machine and prove nothing on a quiet one.


def _wait(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def test_a_killed_backend_leaves_no_run_started_for_ever(stack) -> None:
    dep: Deployment = stack["dep"]
    lock = stack["storage"] / "collections" / "drill-kill" / "lock.json"
    first = dep.launch("build_collection", partition="drill-kill")
    assert first["__typename"] == "LaunchRunSuccess", first

    def holding() -> dict | None:
        try:
            info = json.loads(lock.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return info if info.get("owner") == first["runId"] else None

    held = _wait(holding, 300, "the run taking its collection's lock", poll=0.1)
    second = dep.launch("build_collection", partition="drill-kill")
    assert dep.run(second["runId"])["status"] in ("QUEUED", "NOT_STARTED")
    dep.kill_group("code-server")  # with its run worker
    dep.kill_group("daemon")
    killed = time.monotonic()
    _wait(lambda: not pid_alive(int(held["pid"])), 10, "the run worker dying with its process group", poll=0.1)
    assert dep.run(first["runId"])["status"] == "STARTED"  # what an operator saw for ever before

    # systemd's Restart=always: the code server and the daemon come back with their units' commands.
    port = int(dep.env["CVIZ_CODE_SERVER_PORT"])
    dep._start("code-server", unit_command("cviz-code-server.service", port=port))
    dep._start("daemon", unit_command("cviz-daemon.service"))
    failed = _wait(lambda: dep.run(first["runId"])["status"] == "FAILURE", KILL_BOUND_S, "the dead run failed")
    assert failed
    failed_after = time.monotonic() - killed
    moved = _wait(lambda: dep.run(second["runId"])["status"] not in ("QUEUED", "NOT_STARTED"),
                  KILL_BOUND_S - (time.monotonic() - killed), "the queued run of the collection started")
    assert moved and time.monotonic() - killed <= KILL_BOUND_S
    print(f"drill kill: run failed {failed_after:.0f} s after the kill, queued run started "
          f"{time.monotonic() - killed:.0f} s after")
    [alert] = [a for a in _alerts(stack["storage"]) if a["kind"] == "run_dead"]
    assert alert["collection"] == "drill-kill" and alert["run_id"] == first["runId"]
    with dg.DagsterInstance.from_config(str(stack["home"])) as instance:
        [event] = instance.all_logs(first["runId"], of_type=dg.DagsterEventType.RUN_FAILURE)
        assert "is dead" in event.message and "dead_runs sensor" in event.message
    assert dep.wait_run(second["runId"], timeout=400)["status"] == "SUCCESS", dep.log("daemon")
    assert not lock.exists()  # the next run took the collection and released it
    # The daemon's log holds its own lines, each once: the sensors' own log lines are the code server's.
    lines = [line for line in dep.log_text("daemon").splitlines() if line[:4].isdigit() or line.startswith("\x1b[")]
    assert len(lines) == len(set(lines)) and not any("failed as dead" in line and " - dagster - " in line
                                                     for line in lines)
    assert "failed as dead" in dep.log_text("daemon")  # in the tick's message, once


def test_a_database_outage_is_alerted_and_survived(stack) -> None:
    dep: Deployment = stack["dep"]
    pg: Postgres = stack["pg"]
    count = '{ runsOrError { ... on Runs { count } } }'
    runs_before = dep.graphql(count)["runsOrError"]["count"]
    watchdog = [str(BIN / "cviz"), "watchdog", "--webserver", dep.url]
    pg.pause()
    down = time.monotonic()
    try:
        during = subprocess.run(watchdog, env=dep.env, capture_output=True, text=True, timeout=120, cwd=REPO)
        assert during.returncode == 1 and "database_unreachable" in during.stdout, during.stdout + during.stderr
        time.sleep(max(0.0, DB_DOWN_S - (time.monotonic() - down)))
    finally:
        pg.resume()
    back = time.monotonic()

    def answers() -> bool:
        try:
            return dep.graphql(count, timeout=5)["runsOrError"]["count"] >= 0
        except Exception:
            return False

    _wait(answers, WEB_BACK_S, "the webserver answering after the database came back", poll=0.25)
    assert time.monotonic() - back <= WEB_BACK_S
    print(f"drill database: webserver answering {time.monotonic() - back:.1f} s after PostgreSQL restarted; "
          f"daemon exited: {dep.procs['daemon'].poll() is not None}")
    for name in ("code-server", "daemon"):  # systemd would restart a process that exited
        if dep.procs[name].poll() is not None:
            dep._start(name, unit_command(f"cviz-{name}.service", **(
                {"port": int(dep.env["CVIZ_CODE_SERVER_PORT"])} if name == "code-server" else {})))

    def recovered() -> bool:
        return subprocess.run(watchdog, env=dep.env, capture_output=True, timeout=120, cwd=REPO).returncode == 0

    _wait(recovered, 120, "the watchdog seeing the daemon heartbeat again", poll=5)
    kinds = [a["kind"] for a in _alerts(stack["storage"])]
    assert "database_unreachable" in kinds and "recovered" in kinds
    assert dep.graphql(count)["runsOrError"]["count"] == runs_before  # no retried or phantom run
