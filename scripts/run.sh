#!/usr/bin/env bash
# `make run`: build the built-in sample collection, then serve the Dagster UI and the viewer on
# 127.0.0.1 only. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DAGSTER_HOME:=$PWD/dagster_home}" "${CVIZ_STORAGE_ROOT:=$PWD/cviz_data}"
: "${CVIZ_UI_PORT:=3000}" "${CVIZ_VIEWER_PORT:=8080}"
export DAGSTER_HOME CVIZ_STORAGE_ROOT CVIZ_VIEWER_PORT
export CVIZ_VIEWER_URL="http://127.0.0.1:${CVIZ_VIEWER_PORT}"
export CVIZ_UI_URL="${CVIZ_UI_URL:-http://127.0.0.1:${CVIZ_UI_PORT}}"
# The daily re-check of every published map runs here (tests and bare deployments leave it off).
export CVIZ_RECHECK_SCHEDULE="${CVIZ_RECHECK_SCHEDULE:-on}"
mkdir -p "$DAGSTER_HOME"
cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

sample="$CVIZ_STORAGE_ROOT/samples/met-sample"
.venv/bin/cviz sample --out "$sample"
.venv/bin/cviz run -id met-sample -imagedir "$sample/images" -metadata "$sample/metadata.csv"

# The viewer runs in the background and is stopped on exit; dagster dev runs in the foreground so
# Ctrl-C reaches it (started in the background it would ignore SIGINT and SIGTERM).
(cd viewer && exec node server.js) &
viewer_pid=$!
trap 'kill "$viewer_pid" 2>/dev/null || true' EXIT

ui="http://127.0.0.1:${CVIZ_UI_PORT}"
(
  for _ in $(seq 1 120); do
    if curl -fs -o /dev/null "$ui/server_info" 2>/dev/null; then break; fi
    sleep 1
  done
  printf '\n  Dagster UI: %s\n  Viewer:     %s/?c=met-sample\n  (Ctrl-C stops both)\n\n' "$ui" "$CVIZ_VIEWER_URL"
) &
# `dg dev` (the project is a dg project: pyproject.toml's [tool.dg]) loads the code location
# cviz_assets.definitions, named `cviz` as in workspace.yaml and production (deploy/).
export VIRTUAL_ENV="$PWD/.venv"
exec .venv/bin/dg dev -h 127.0.0.1 -p "$CVIZ_UI_PORT"
