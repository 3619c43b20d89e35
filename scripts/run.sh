#!/usr/bin/env bash
# Command 1 of the README: install into .venv, materialize the data assets on the configured
# source (simulated by default), then serve the Dagster UI with its daemon and the HTTP API.
# Ctrl-C stops everything. Ports: DAGSTER_PORT (3000), API_PORT (8000).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SKIP_POSTGRES_INSTALL=1 bash scripts/bootstrap_venv.sh

export DAGSTER_HOME="${DAGSTER_HOME:-$ROOT/.dagster_home}"
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true DAGSTER_DISABLE_TELEMETRY=true
mkdir -p "$DAGSTER_HOME" "$ROOT/data" "$ROOT/mlflow"
# Dagster reads its instance config from $DAGSTER_HOME/dagster.yaml.
if [ "${DAGSTER_STORAGE:-sqlite}" = "postgres" ]; then
    cp deploy/dagster.postgres.yaml "$DAGSTER_HOME/dagster.yaml"
else
    cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
fi

DAGSTER_PORT="${DAGSTER_PORT:-3000}"
API_PORT="${API_PORT:-8000}"

echo "run: materializing scraped_videos, creator_profiles, trending_sounds (source: ${SCRAPER_SOURCE:-simulated})"
.venv/bin/python -m viral_pipeline.bootstrap --days "${BOOTSTRAP_DAYS:-3}"

mkdir -p .run
.venv/bin/python -m viral_pipeline.api --host 127.0.0.1 --port "$API_PORT" 2> .run/api.log &
API_PID=$!
.venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "$DAGSTER_PORT" > .run/dagster.log 2>&1 &
DAGSTER_PID=$!
trap 'kill $API_PID $DAGSTER_PID 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

# Wait (at most 2 minutes) until both answer; curl may not be installed, Python is.
.venv/bin/python - "$DAGSTER_PORT" "$API_PORT" <<'PY' || echo "run: WARNING: not answering after 2 minutes yet; see .run/dagster.log and .run/api.log" >&2
import sys, time, urllib.request
urls = [f"http://127.0.0.1:{sys.argv[1]}/server_info", f"http://127.0.0.1:{sys.argv[2]}/healthz"]
deadline = time.monotonic() + 120
while urls and time.monotonic() < deadline:
    try:
        urllib.request.urlopen(urls[0], timeout=2).close()
        urls.pop(0)
    except OSError:
        time.sleep(1)
sys.exit(1 if urls else 0)
PY

cat <<EOT

  Dagster UI (assets, checks, schedules, sensors):  http://127.0.0.1:$DAGSTER_PORT/asset-groups
  HTTP API (OpenAPI docs):                          http://127.0.0.1:$API_PORT/docs
  Logs (JSON lines):                                .run/api.log, .run/dagster.log

  Ctrl-C stops both.
EOT
wait
