"""UI/daemon run time of the built-in sample against ``cviz run``.

Both start from a fresh storage root (all 174 features computed) and a fresh DAGSTER_HOME with
the repository's dagster.yaml. The CLI figure is ``cviz run``'s own "built in" time; the UI figure
is the run's duration as the UI shows it (start to end, RunStatsSnapshot), for a run launched
through the webserver's GraphQL API (as "Materialize all" does) and executed by the daemon's run
launcher with the executor the code location configures (``CVIZ_EXECUTOR``, set per variant).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/ui_vs_cli.py [--variants multiprocess,in_process] [--repeat 1]

Prints one JSON line per measurement with the machine's load (timings here are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.dagster_processes import BIN, Deployment  # noqa: E402

NAME = "met-sample"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _fresh(base: Path, tag: str) -> tuple[Path, Path]:
    home, storage = base / f"home-{tag}", base / f"storage-{tag}"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    return home, storage


def cli(base: Path, sample: Path, tag: str, env: dict[str, str]) -> float:
    home, storage = _fresh(base, tag)
    out = subprocess.run([str(BIN / "cviz"), "run", "-id", NAME, "-imagedir", str(sample / "images"),
                          "-metadata", str(sample / "metadata.csv"), "--storage", str(storage)],
                         env={**os.environ, **env, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return float(re.search(r"built in ([0-9.]+) s", out.stdout).group(1))


def ui(base: Path, sample: Path, tag: str, env: dict[str, str]) -> dict:
    home, storage = _fresh(base, tag)
    add = subprocess.run([str(BIN / "cviz"), "add", "-id", NAME, "-imagedir", str(sample / "images"),
                          "-metadata", str(sample / "metadata.csv"), "--storage", str(storage)],
                         env={**os.environ, **env, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=300)
    if add.returncode:
        raise RuntimeError(add.stderr[-3000:])
    dep = Deployment(home, storage, env=env).start()
    try:
        dep.wait_ready()
        launched = time.monotonic()
        answer = dep.launch("build_collection", partition=NAME)
        assert answer["__typename"] == "LaunchRunSuccess", answer
        run = dep.wait_run(answer["runId"])
        wall = time.monotonic() - launched
        stats = run["stats"]
        return {"status": run["status"], "run_seconds": round(stats["endTime"] - stats["startTime"], 1),
                "launch_to_end_seconds": round(wall, 1), "steps": stats["stepsSucceeded"]}
    finally:
        dep.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default="multiprocess,in_process")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cviz-uivscli-") as tmp:
        base = Path(tmp)
        sample = base / "sample"
        subprocess.run([str(BIN / "cviz"), "sample", "--out", str(sample)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
        for i in range(args.repeat):
            if not args.skip_cli:
                print(json.dumps({"mode": "cli", "seconds": cli(base, sample, f"cli{i}", {}), "load": _load()}), flush=True)
            for variant in args.variants.split(","):
                env = {"CVIZ_EXECUTOR": variant}
                print(json.dumps({"mode": "ui", "executor": variant, **ui(base, sample, f"{variant}{i}", env),
                                  "load": _load()}), flush=True)


if __name__ == "__main__":
    main()
