"""Write deploy/dagster.production.yaml: the repository's dagster.yaml plus the PostgreSQL storage
block of deploy/dagster.postgres.yaml (``make deploy-config``; tests/test_deploy.py checks it is current)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
HEADER = """\
# The production instance: the repository's dagster.yaml (queue, limits, retries, monitoring,
# retention) plus PostgreSQL instance storage (deploy/dagster.postgres.yaml), in one file.
# Copy it to $DAGSTER_HOME/dagster.yaml on the webserver and daemon machines (and every run
# worker). tests/test_deploy.py checks that it is exactly those two files merged: edit them, then
# regenerate this one with: make deploy-config

"""


def merged() -> dict:
    base = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    storage = yaml.safe_load((REPO / "deploy" / "dagster.postgres.yaml").read_text())
    return {**base, **storage}


def main() -> int:
    out = REPO / "deploy" / "dagster.production.yaml"
    out.write_text(HEADER + yaml.safe_dump(merged(), sort_keys=False))
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
