#!/usr/bin/env bash
# Command 1 of the README: install into .venv, materialize the data assets on the configured
# source (simulated by default) and train a first model, then serve the Dagster UI with its
# daemon, the HTTP API and the MLflow UI. Ctrl-C stops everything.
# Ports: DAGSTER_PORT (3000), API_PORT (8000), MLFLOW_PORT (5000).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# --production: the production topology instead (README: "The production topology"), every
# service its own process on a PostgreSQL server and a Redis it starts in .production/.
if [ "${1:-}" = "--production" ]; then
    bash scripts/bootstrap_venv.sh
    exec .venv/bin/python -m viral_pipeline.deploy up --workdir "$ROOT/.production"
fi
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
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
# The Dagster UI links each training run to the local MLflow UI started below (a tracking
# server given by MLFLOW_TRACKING_URI is its own UI, and the settings link to it).
if [ -z "${MLFLOW_TRACKING_URI:-}" ]; then
    export MLFLOW_UI_URL="${MLFLOW_UI_URL:-http://127.0.0.1:$MLFLOW_PORT}"
fi

# The API answers product calls only with a caller's token (API_TOKENS): a set-up without one
# gets a `local` caller, written once into the git-ignored .env that the API reads.
API_CALL_TOKEN="$(.venv/bin/python scripts/local_api_token.py)"

echo "run: materializing the data assets (source: ${SCRAPER_SOURCE:-simulated}) and training a first model"
.venv/bin/python -m viral_pipeline.bootstrap --days "${BOOTSTRAP_DAYS:-7}"

mkdir -p .run
# Each service runs as a job in its own process group (job control on). Started from a script
# without it, a background process ignores SIGINT, and `dg dev` (as `dagster dev`, whose code it
# runs) on SIGTERM stops its daemon threads but leaves itself, the webserver and the code servers
# hanging (seen on these machines).
# On SIGINT to its group, everything it started exits within seconds.
set -m
SERVICES=()
.venv/bin/python -m viral_pipeline.api --host 127.0.0.1 --port "$API_PORT" 2> .run/api.log &
SERVICES+=($!)
# The webserver with its daemon and code server, through `dg dev` (Dagster's local UI command;
# `dagster dev` is superseded by it). With -w it serves this workspace as it is, in this process,
# so SIGINT to its group stops it as before. JSON log lines from all three.
.venv/bin/dg dev --log-format json -w workspace.yaml -h 127.0.0.1 -p "$DAGSTER_PORT" \
    > .run/dagster.log 2>&1 &
SERVICES+=($!)
# The MLflow UI on the local store (the same command the README gives for comparing runs);
# with MLFLOW_TRACKING_URI set, the tracking server has its own UI. Started after bootstrap has
# created the store's schema: concurrent first migrations of one SQLite file collide.
if [ -z "${MLFLOW_TRACKING_URI:-}" ]; then
    .venv/bin/mlflow ui --backend-store-uri "sqlite:///$ROOT/mlflow/mlflow.db" \
        --default-artifact-root "$ROOT/mlflow/artifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" \
        > .run/mlflow.log 2>&1 &
    SERVICES+=($!)
fi
set +m  # later foreground commands stay in this script's group, so Ctrl-C reaches the trap below

# Ctrl-C (or SIGTERM or SIGHUP to this script): SIGINT to every service's process group, up to 60 s for
# them to finish (a predict run in flight included), then SIGKILL for whatever is left.
stop_services() {
    trap - INT TERM EXIT
    echo "run: stopping (SIGINT to each service)" >&2
    for pid in "${SERVICES[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 60); do
        alive=0
        for pid in "${SERVICES[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && return
        sleep 1
    done
    echo "run: still running after 60 s; killing" >&2
    for pid in "${SERVICES[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
# HUP too: closing the terminal window stops them as well.
trap 'stop_services; exit 130' INT TERM HUP
trap stop_services EXIT

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
  MLflow UI (compare training runs):                http://127.0.0.1:$MLFLOW_PORT
  Logs (JSON lines):                                .run/api.log, .run/dagster.log
  MLflow UI's own log (text):                       .run/mlflow.log

  API caller token (API_TOKENS in .env):            $API_CALL_TOKEN
  Try it:
    curl -s -X POST http://127.0.0.1:$API_PORT/api/analyze -H "Authorization: Bearer $API_CALL_TOKEN" \
      -H 'content-type: application/json' -d '{"caption": "The 10-minute pasta #food #recipe", "duration_s": 24}'

  Ctrl-C stops them all.
EOT
wait
