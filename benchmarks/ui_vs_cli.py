"""UI/daemon run time of a collection against ``cviz run``.

Both start from a fresh storage root (all features computed) and a fresh DAGSTER_HOME with the
repository's dagster.yaml. The CLI figure is ``cviz run``'s own "built in" time; the UI figure is
the run's duration as the UI shows it (start to end, RunStatsSnapshot), for a run launched through
the webserver's GraphQL API the way the asset graph's "Materialize" button does it
(``launchPipelineExecution`` of Dagster's implicit ``__ASSET_JOB`` with the partition; ``--job
build_collection`` launches the named job as the Launchpad does) and executed by the daemon's run
launcher with the executor the code location configures (``CVIZ_EXECUTOR``, set per variant: ``auto``
is the default, ``multiprocess`` what the button used before every job defaulted to in-process).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/ui_vs_cli.py [--variants auto,multiprocess] [--images 40]

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
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home, storage


def cli(base: Path, sample: Path, tag: str, env: dict[str, str]) -> tuple[float, str]:
    home, storage = _fresh(base, tag)
    out = subprocess.run([str(BIN / "cviz"), "run", "-id", NAME, "-imagedir", str(sample / "images"),
                          "-metadata", str(sample / "metadata.csv"), "--storage", str(storage)],
                         env={**os.environ, **env, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    by_step = re.search(r"time by step \(s, (.*)", out.stdout)
    return float(re.search(r"built in ([0-9.]+) s", out.stdout).group(1)), (by_step.group(1) if by_step else "")


def ui(base: Path, sample: Path, tag: str, env: dict[str, str], job: str = "__ASSET_JOB") -> dict:
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
        if job == "__ASSET_JOB":
            from cviz_assets.graph import graph_assets

            answer = dep.materialize_button([list(k.path) for a in graph_assets for k in a.keys], NAME)
        else:
            answer = dep.launch(job, partition=NAME)
        assert answer["__typename"] == "LaunchRunSuccess", answer
        run = dep.wait_run(answer["runId"])
        wall = time.monotonic() - launched
        stats = run["stats"]
        import dagster as dg

        from cviz_assets.step_times import from_records

        with dg.DagsterInstance.from_config(str(home)) as instance:
            records = instance.all_logs(answer["runId"])
            by_step = from_records(records).line()
        gaps = sorted(((b.timestamp - a.timestamp, f"{a.dagster_event.event_type_value if a.dagster_event else a.message[:60]}"
                        f" -> {b.dagster_event.event_type_value if b.dagster_event else b.message[:60]}")
                       for a, b in zip(records, records[1:])), reverse=True)[:4]
        return {"status": run["status"], "run_seconds": round(stats["endTime"] - stats["startTime"], 1),
                "launch_to_end_seconds": round(wall, 1), "steps": stats["stepsSucceeded"],
                "by_step": by_step.split("(s, ", 1)[-1], "largest_gaps": [[round(g, 1), w] for g, w in gaps]}
    finally:
        dep.stop()


def _trim(sample: Path, n: int) -> None:
    """Keep the sample's first ``n`` images (by name) and their metadata rows."""
    import csv

    keep = sorted(p.name for p in (sample / "images").iterdir())[:n]
    for p in (sample / "images").iterdir():
        if p.name not in keep:
            p.unlink()
    with open(sample / "metadata.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows, fields = [r for r in reader if r["filename"] in keep], reader.fieldnames
    with open(sample / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default="auto,multiprocess")
    parser.add_argument("--job", default="__ASSET_JOB", help="__ASSET_JOB (the Materialize button) or build_collection")
    parser.add_argument("--images", type=int, default=0, help="use the sample's first N images (0: all)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cviz-uivscli-") as tmp:
        base = Path(tmp)
        sample = base / "sample"
        subprocess.run([str(BIN / "cviz"), "sample", "--out", str(sample)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
        if args.images:
            _trim(sample, args.images)
        print(json.dumps({"images": len(list((sample / "images").iterdir())), "load": _load()}), flush=True)
        for i in range(args.repeat):
            if not args.skip_cli:
                seconds, by_step = cli(base, sample, f"cli{i}", {})
                print(json.dumps({"mode": "cli", "seconds": seconds, "by_step": by_step, "load": _load()}), flush=True)
            for variant in args.variants.split(","):
                env = {"CVIZ_EXECUTOR": variant}
                print(json.dumps({"mode": "ui", "job": args.job, "executor": variant,
                                  **ui(base, sample, f"{variant}{i}", env, args.job),
                                  "load": _load()}), flush=True)


if __name__ == "__main__":
    main()
