"""The production shape: dagster-webserver and dagster-daemon as separate
processes over workspace.yaml (location ``cviz``), started with the commands the systemd units
ship; a run launched through GraphQL is queued, launched by the daemon and succeeds with its
checks; a read-only webserver refuses to launch. Also: the production instance file is the
repository's dagster.yaml plus the PostgreSQL block, and every instance file validates."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.conftest import MODEL, REPO, WEIGHTS
from tests.dagster_processes import UNITS, Deployment, unit_command

def test_units_run_a_code_server_and_webserver_and_daemon_over_the_deploy_workspace() -> None:
    web, ro, daemon, code = (unit_command(u) for u in ("cviz-webserver.service", "cviz-webserver-readonly.service",
                                                       "cviz-daemon.service", "cviz-code-server.service"))
    workspace = str(REPO / "deploy" / "workspace.yaml")
    assert Path(web[0]).name == "dagster-webserver" and web[1:3] == ["-w", workspace]
    assert Path(ro[0]).name == "dagster-webserver" and "--read-only" in ro and "--read-only" not in web
    assert Path(daemon[0]).name == "dagster-daemon" and daemon[1:4] == ["run", "-w", workspace]
    assert code[1:4] == ["code-server", "start", "-m"] and code[code.index("--location-name") + 1] == "cviz"
    [entry] = yaml.safe_load((REPO / "deploy" / "workspace.yaml").read_text())["load_from"]
    assert entry["grpc_server"] == {"host": {"env": "CVIZ_CODE_SERVER_HOST"}, "port": {"env": "CVIZ_CODE_SERVER_PORT"},
                                    "location_name": "cviz"}
    [dev] = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]  # make run keeps loading the module
    assert dev["python_module"]["location_name"] == "cviz"
    for unit in ("cviz-webserver.service", "cviz-webserver-readonly.service", "cviz-daemon.service",
                 "cviz-code-server.service", "cviz-watchdog.service"):
        text = (UNITS / unit).read_text()
        assert "Restart=always" in text, unit  # a process that exits, even with status 0, comes back
    for unit in ("cviz-webserver.service", "cviz-daemon.service"):
        assert "Requires=cviz-setup.service" in (UNITS / unit).read_text()  # the schema exists before they start
    assert unit_command("cviz-setup.service")[1:] == ["instance", "migrate"]
    watchdog = unit_command("cviz-watchdog.service")
    assert Path(watchdog[0]).name == "cviz" and watchdog[1] == "watchdog" and "--every" in watchdog


def test_compose_file_has_the_production_shape(tmp_path: Path) -> None:
    """Docker is not run here: the file's shape is checked (tests/test_deploy.py), and its schema by
    ``docker-compose config`` where that command exists."""
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "setup", "code-server", "webserver", "webserver-readonly", "daemon", "watchdog"} <= set(services)
    assert "--read-only" in services["webserver-readonly"]["command"]
    text = (REPO / "deploy" / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD:" not in text and "${CVIZ_PG_PASSWORD" not in text  # the password only in env_file
    assert services["postgres"]["env_file"] == "cviz.env"
    for name in ("code-server", "webserver", "webserver-readonly", "daemon", "watchdog"):
        svc = services[name]
        assert svc["env_file"] == "cviz.env" and "dagsterhome:/var/lib/cviz/dagster_home" in svc["volumes"], name
        if name != "watchdog":
            assert svc["healthcheck"]["interval"] in ("10s", "30s") and svc["healthcheck"]["retries"] <= 3, name
    for name in ("webserver", "webserver-readonly", "daemon"):
        assert "deploy/workspace.yaml" in services[name]["command"], name
        assert services[name]["depends_on"] == {"code-server": {"condition": "service_healthy"}}
    assert services["code-server"]["depends_on"] == {"setup": {"condition": "service_completed_successfully"}}
    assert "instance migrate" in " ".join(services["setup"]["command"])

    if shutil.which("docker-compose"):  # Debian's docker-compose 1.29 validates against the Compose schema
        import subprocess

        (tmp_path / "deploy").mkdir()
        shutil.copyfile(REPO / "deploy" / "docker-compose.yml", tmp_path / "deploy" / "docker-compose.yml")
        shutil.copyfile(UNITS / "cviz.env.example", tmp_path / "deploy" / "cviz.env")
        out = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "-q"], capture_output=True,
                             text=True, timeout=60, cwd=tmp_path / "deploy", env={"PATH": "/usr/bin:/bin"})
        assert out.returncode == 0, out.stderr


def test_production_instance_is_dagster_yaml_plus_postgres() -> None:
    from deploy.merge_config import merged

    production = yaml.safe_load((REPO / "deploy" / "dagster.production.yaml").read_text())
    assert production == merged(), "deploy/dagster.production.yaml is stale: run make deploy-config"
    assert production["storage"]["postgres"]["postgres_db"]["password"] == {"env": "CVIZ_PG_PASSWORD"}


@pytest.mark.parametrize("name", ["deploy/dagster.yaml", "deploy/dagster.production.yaml", "deploy/dagster.postgres.yaml"])
def test_instance_files_validate(name: str, tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    shutil.copyfile(REPO / name, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))  # schema-checked; raises on an unknown or mistyped key
    assert config


def test_a_broken_instance_file_is_refused(tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text("run_retries:\n  enabled: maybe\n")
    with pytest.raises(Exception, match="enabled"):
        dagster_instance_config(str(tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_webserver_and_daemon_processes_run_a_materialization(tmp_path: Path, met_sample_dir: Path) -> None:
    from cviz_assets.register import register_spec
    from cviz_resources import StorageResource

    home, storage = tmp_path / "dagster_home", tmp_path / "storage"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    src = tmp_path / "six"
    src.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:6]:
        shutil.copyfile(p, src / p.name)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_spec(instance, StorageResource(root=str(storage)), {"name": "six", "images": str(src)})

    env = {"CVIZ_MODEL": MODEL, "CVIZ_WEIGHTS": WEIGHTS, "CVIZ_DROP_INTERVAL_SECONDS": "600"}
    dep = Deployment(home, storage, env=env).start_units()
    readonly = Deployment(home, storage, env=dep.env, log_dir=tmp_path)  # the same code server
    # Started now, so that it loads its code location while the other one does and the run goes:
    # nothing below asks it anything before the run has finished.
    readonly._start("webserver", unit_command("cviz-webserver-readonly.service", port=readonly.port))
    try:
        dep.wait_ready()
        answer = dep.launch("build_collection", partition="six")
        assert answer["__typename"] == "LaunchRunSuccess", answer
        run = dep.wait_run(answer["runId"], timeout=600)
        assert run["status"] == "SUCCESS", dep.log("daemon")
        assert run["stats"]["stepsFailed"] == 0 and run["stats"]["stepsSucceeded"] >= 8
        assert (storage / "published" / "six" / "current.json").exists()

        readonly.wait_ready()
        refused = readonly.launch("build_collection", partition="six")
        assert refused["__typename"] == "UnauthorizedError", refused
    finally:
        readonly.stop()
        dep.stop()
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the daemon, not this process, ran it
        record = instance.get_run_by_id(answer["runId"])
        assert record.status == dg.DagsterRunStatus.SUCCESS and record.tags["dagster/partition"] == "six"
        evaluations = instance.event_log_storage.get_logs_for_run(
            answer["runId"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        assert evaluations and all(e.dagster_event.asset_check_evaluation_data.passed
                                   for e in evaluations if e.dagster_event.asset_check_evaluation_data.severity
                                   == dg.AssetCheckSeverity.ERROR)
