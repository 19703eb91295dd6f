"""Dagster's production shape on loopback, for tests and benchmarks: ``dagster-webserver`` and
``dagster-daemon`` as separate processes over the repository's ``workspace.yaml`` (location
``cviz``), a run launched through the webserver's GraphQL API as the UI's "Materialize" does.

Every process is started in its own session and stopped by its process group (SIGTERM, then SIGKILL
after ``STOP_GRACE_S``), so nothing outlives the test.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
UNITS = REPO / "deploy" / "systemd"


def unit_command(unit: str, **ports: int) -> list[str]:
    """The ExecStart of a shipped systemd unit, with the install path /opt/cviz replaced by this
    checkout and each ``-p``/``--port`` value replaced by ``ports["port"]`` when given."""
    for line in (UNITS / unit).read_text().splitlines():
        if line.startswith("ExecStart="):
            args = [a.replace("/opt/cviz", str(REPO)) for a in shlex.split(line[len("ExecStart="):])]
            if "port" in ports and "-p" in args:
                args[args.index("-p") + 1] = str(ports["port"])
            return args
    raise AssertionError(f"{unit} has no ExecStart")
# A code server that has launched a run can stay up past SIGTERM for 20 s and more, its gRPC server
# waiting for the finished run's bookkeeping; a test's teardown need not wait for that.
STOP_GRACE_S = 5.0
POLL_S = 0.25  # between GraphQL polls: a 1 s poll added half a second, on average, to every wait


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """A DAGSTER_HOME, a storage root, and the webserver + daemon processes serving them."""

    def __init__(self, home: Path, storage: Path, env: dict[str, str] | None = None, read_only: bool = False,
                 log_dir: Path | None = None) -> None:
        self.home, self.storage = home, storage
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.read_only = read_only
        self.log_dir = log_dir or home
        self.env = {**os.environ, "DAGSTER_HOME": str(home), "CVIZ_STORAGE_ROOT": str(storage),
                    "PYTHONPATH": str(REPO), "CVIZ_UI_URL": self.url, **(env or {})}
        self.procs: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen(args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def start_units(self, daemon: bool = True) -> "Deployment":
        """The production shape with the units' own commands: the code-location server first, then the
        webserver and the daemon over deploy/workspace.yaml (which points them at the code server)."""
        code_port = free_port()
        self.env.update({"CVIZ_CODE_SERVER_HOST": "127.0.0.1", "CVIZ_CODE_SERVER_PORT": str(code_port)})
        self._start("code-server", unit_command("cviz-code-server.service", port=code_port))
        self._start("webserver", unit_command("cviz-webserver.service", port=self.port))
        if daemon:
            self._start("daemon", unit_command("cviz-daemon.service"))
        return self

    def kill_group(self, name: str) -> None:
        """``kill -9`` of a process's whole group (the process and every child it started)."""
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(30)

    def start(self, daemon: bool = True) -> "Deployment":
        args = [str(BIN / "dagster-webserver"), "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(self.port)]
        if self.read_only:
            args.append("--read-only")
        self._start("webserver", args)
        if daemon:
            self._start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")])
        return self

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def log_text(self, name: str) -> str:
        """The whole log of process ``name``."""
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_ready(self, timeout: float = 240) -> None:
        """Until the webserver answers and its code location ``cviz`` has loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")
            try:
                data = self.graphql('{ workspaceOrError { ... on Workspace { locationEntries { name '
                                    'locationOrLoadError { __typename ... on PythonError { message } } } } } }', timeout=5)
                entries = data["workspaceOrError"]["locationEntries"]
                states = {e["name"]: e["locationOrLoadError"] for e in entries}
                if states.get("cviz", {}).get("__typename") == "RepositoryLocation":
                    return
                if states.get("cviz", {}).get("__typename") == "PythonError":
                    message = states["cviz"]["message"]
                    if "UNAVAILABLE" not in message:
                        raise RuntimeError(f"code location cviz failed to load: {message}")
                    # The code server is still loading: reload the location, as the UI's Reload button does.
                    self.graphql('mutation { reloadRepositoryLocation(repositoryLocationName: "cviz") { __typename } }',
                                 timeout=30)
                    time.sleep(1.0)
            except (OSError, ValueError, KeyError, TypeError):
                pass
            time.sleep(POLL_S)
        raise TimeoutError(f"webserver not ready after {timeout} s:\n{self.log('webserver')}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            doc = json.loads(resp.read(10 << 20))
        if doc.get("errors"):
            raise RuntimeError(f"GraphQL errors: {doc['errors']}")
        return doc["data"]

    def launch(self, job: str, partition: str | None = None, tags: dict[str, str] | None = None,
               run_config: dict | None = None) -> dict[str, Any]:
        """``launchRun`` as the Launchpad does; returns the mutation's answer (``__typename`` and ``runId``)."""
        all_tags = {**(tags or {}), **({"dagster/partition": partition} if partition else {})}
        data = self.graphql(
            """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
                 ... on LaunchRunSuccess { run { runId } }
                 ... on PythonError { message } ... on UnauthorizedError { message }
                 ... on RunConfigValidationInvalid { errors { message } } } }""",
            {"p": {"selector": {"repositoryLocationName": "cviz", "repositoryName": "__repository__", "jobName": job},
                   "runConfigData": run_config or {},
                   "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]}}},
        )["launchRun"]
        if data["__typename"] == "LaunchRunSuccess":
            data["runId"] = data["run"]["runId"]
        return data

    def materialize_button(self, asset_paths: list[list[str]], partition: str) -> dict[str, Any]:
        """What the asset graph's "Materialize" sends: ``launchPipelineExecution`` of Dagster's implicit
        asset job ``__ASSET_JOB`` with the selected assets and the partition tag."""
        data = self.graphql(
            """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) { __typename
                 ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            {"p": {"selector": {"repositoryLocationName": "cviz", "repositoryName": "__repository__",
                                "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": p} for p in asset_paths]},
                   "mode": "default",
                   "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]}}},
        )["launchPipelineExecution"]
        if data["__typename"] == "LaunchRunSuccess":
            data["runId"] = data["run"]["runId"]
        return data

    def run(self, run_id: str) -> dict[str, Any]:
        return self.graphql("""query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status
                 stats { ... on RunStatsSnapshot { startTime endTime stepsSucceeded stepsFailed } } } } }""",
                            {"id": run_id})["runOrError"]

    def wait_run(self, run_id: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
                return run
            time.sleep(POLL_S)
        raise TimeoutError(f"run {run_id} still {run.get('status')} after {timeout} s:\n{self.log('daemon')}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for name, proc in self.procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
