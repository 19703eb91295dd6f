#!/usr/bin/env bash
# `make run`: build the built-in sample collection, then serve the Dagster UI and the viewer on
# 127.0.0.1 only. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DAGSTER_HOME:=$PWD/dagster_home}" "${CVIZ_STORAGE_ROOT:=$PWD/cviz_data}"
: "${CVIZ_UI_PORT:=3000}" "${CVIZ_VIEWER_PORT:=8080}"
export DAGSTER_HOME CVIZ_STORAGE_ROOT CVIZ_VIEWER_PORT
export CVIZ_VIEWER_URL="http://127.0.0.1:${CVIZ_VIEWER_PORT}"
mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"

sample="$CVIZ_STORAGE_ROOT/samples/met-sample"
.venv/bin/cviz sample --out "$sample"
.venv/bin/cviz run -id met-sample -imagedir "$sample/images" -metadata "$sample/metadata.csv"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

(cd viewer && CVIZ_STORAGE_ROOT="$CVIZ_STORAGE_ROOT" exec node server.mjs) &
pids+=($!)
.venv/bin/dagster dev -m cviz_assets.definitions -h 127.0.0.1 -p "$CVIZ_UI_PORT" &
pids+=($!)

sleep 3
echo
echo "  Dagster UI: http://127.0.0.1:${CVIZ_UI_PORT}"
echo "  Viewer:     ${CVIZ_VIEWER_URL}/?c=met-sample"
echo "  (Ctrl-C stops both)"
echo
wait -n "${pids[@]}"
