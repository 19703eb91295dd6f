#!/usr/bin/env bash
# `make validate`: load the code location `cviz` from workspace.yaml against an instance configured
# by deploy/dagster.yaml, and schema-check every instance file we ship. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
cp deploy/dagster.yaml "$home/dagster.yaml"
for f in deploy/dagster.yaml deploy/dagster.postgres.yaml deploy/dagster.production.yaml; do
  check=$(mktemp -d "$home/check.XXXX")
  cp "$f" "$check/dagster.yaml"
  .venv/bin/python -c "import sys; from dagster._core.instance.config import dagster_instance_config as c; c(sys.argv[1])" "$check" \
    || { echo "validate: $f is not a valid Dagster instance configuration"; exit 1; }
  echo "validate: $f: valid instance configuration"
done
DAGSTER_HOME="$home" .venv/bin/dagster definitions validate -w workspace.yaml
