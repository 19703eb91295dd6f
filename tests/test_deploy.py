"""The production shape: dagster-webserver and dagster-daemon as separate
processes over workspace.yaml (location ``cviz``), started with the commands the systemd units
ship; a run launched through GraphQL is queued, launched by the daemon and succeeds with its
checks; a read-only webserver refuses to launch. Also: the production instance file is the
repository's dagster.yaml plus the PostgreSQL block, and every instance file validates."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.conftest import MODEL, REPO, WEIGHTS
from tests.dagster_processes import Deployment

UNITS = REPO / "deploy" / "systemd"


def unit_command(unit: str) -> list[str]:
    """The ExecStart of a shipped unit, with the install path /opt/cviz replaced by this checkout."""
    for line in (UNITS / unit).read_text().splitlines():
        if line.startswith("ExecStart="):
            return [a.replace("/opt/cviz", str(REPO)) for a in shlex.split(line[len("ExecStart="):])]
    raise AssertionError(f"{unit} has no ExecStart")


def test_units_run_webserver_and_daemon_over_the_workspace() -> None:
    web, ro, daemon = (unit_command(u) for u in ("cviz-webserver.service", "cviz-webserver-readonly.service",
                                                 "cviz-daemon.service"))
    workspace = str(REPO / "workspace.yaml")
    assert Path(web[0]).name == "dagster-webserver" and web[1:3] == ["-w", workspace]
    assert Path(ro[0]).name == "dagster-webserver" and "--read-only" in ro and "--read-only" not in web
    assert Path(daemon[0]).name == "dagster-daemon" and daemon[1:4] == ["run", "-w", workspace]
    [entry] = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]
    assert entry["python_module"]["location_name"] == "cviz"
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())
    assert {"postgres", "webserver", "webserver-readonly", "daemon"} <= set(compose["services"])
    assert "--read-only" in compose["services"]["webserver-readonly"]["command"]


def test_production_instance_is_dagster_yaml_plus_postgres() -> None:
    from deploy.merge_config import merged

    production = yaml.safe_load((REPO / "deploy" / "dagster.production.yaml").read_text())
    assert production == merged(), "deploy/dagster.production.yaml is stale: run make deploy-config"
    assert production["storage"]["postgres"]["postgres_db"]["password"] == {"env": "CVIZ_PG_PASSWORD"}


@pytest.mark.parametrize("name", ["dagster.yaml", "deploy/dagster.production.yaml", "deploy/dagster.postgres.yaml"])
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
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    src = tmp_path / "six"
    src.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:6]:
        shutil.copyfile(p, src / p.name)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_spec(instance, StorageResource(root=str(storage)), {"name": "six", "images": str(src)})

    env = {"CVIZ_MODEL": MODEL, "CVIZ_WEIGHTS": WEIGHTS, "CVIZ_DROP_INTERVAL_SECONDS": "600"}
    dep = Deployment(home, storage, env=env)
    dep._start("webserver", [*unit_command("cviz-webserver.service")[:-1], str(dep.port)])
    dep._start("daemon", unit_command("cviz-daemon.service"))
    readonly = Deployment(home, storage, env=env, log_dir=tmp_path)
    ro_cmd = unit_command("cviz-webserver-readonly.service")
    port_at = ro_cmd.index("-p") + 1
    # Started now, so that it loads its code location while the other one does and the run goes:
    # nothing below asks it anything before the run has finished.
    readonly._start("webserver", [*ro_cmd[:port_at], str(readonly.port), *ro_cmd[port_at + 1:]])
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
