#!/usr/bin/env bash
# Idempotent set-up for the test command: a Python 3.11 virtualenv in .venv with the locked
# dependencies and the project installed editable (re-installed only when uv.lock or
# pyproject.toml change), and PostgreSQL's server binaries, which the test session uses to start
# a throwaway server, and Redis, which the production topology runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.viral_pipeline-install.sha256"
cd "$ROOT"

is_py311() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && is_py311 "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# ---- virtualenv -----------------------------------------------------------------------
if [ -x "$VENV/bin/python" ] && ! is_py311 "$VENV/bin/python"; then
    echo "bootstrap: $VENV does not run Python 3.11; recreating it" >&2
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    if ! PYTHON="$(find_python)"; then
        echo "bootstrap: ERROR: Python 3.11 is required (pyproject.toml: >=3.11,<3.12), but neither" >&2
        echo "bootstrap:        python3.11 nor python3 on PATH is 3.11. Install it and run again." >&2
        exit 1
    fi
    echo "bootstrap: creating $VENV with $PYTHON"
    if ! "$PYTHON" -m venv "$VENV"; then
        echo "bootstrap: ERROR: '$PYTHON -m venv' failed (on Debian: apt-get install python3.11-venv)" >&2
        rm -rf "$VENV"
        exit 1
    fi
fi

# Installs come from uv.lock: every machine gets the versions CI tested, and nothing is resolved
# at install time. uv itself comes from PyPI at the version the lock names (pip reads the
# machine's pip configuration; uv goes to PyPI). To change a dependency: edit pyproject.toml,
# run `.venv/bin/uv lock`, commit both.
# The stamp covers the lock, pyproject.toml and where the repo lives (an editable install
# points there).
WANT="$( (cat pyproject.toml uv.lock; echo "$ROOT") | sha256sum | cut -d' ' -f1)"
HAVE="$(cat "$STAMP" 2>/dev/null || true)"
installed_here() {
    # -I: do not let the current directory stand in for the installed package.
    (cd / && "$VENV/bin/python" -I -c '
import sys, pathlib, viral_pipeline, pytest, pytest_cov
sys.exit(0 if pathlib.Path(viral_pipeline.__file__).resolve().is_relative_to(pathlib.Path(sys.argv[1])) else 1)
' "$ROOT") >/dev/null 2>&1
}
if [ "$WANT" != "$HAVE" ] || ! installed_here; then
    echo "bootstrap: installing the locked dependencies (uv.lock) and the project into $VENV"
    rm -f "$STAMP"
    UV_VERSION="$(awk '/^name = "uv"$/ { found = 1; next } found && /^version = / { gsub(/"/, "", $3); print $3; exit }' uv.lock)"
    if [ -z "$UV_VERSION" ]; then
        echo "bootstrap: ERROR: uv.lock names no uv version (is uv still a dev dependency?)" >&2
        exit 1
    fi
    if [ "$("$VENV/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    fi
    # --locked: refuse to install when pyproject.toml changed and uv.lock was not updated.
    # --inexact: keep pip, which the venv was made with.
    UV_PROJECT_ENVIRONMENT="$VENV" UV_PYTHON_DOWNLOADS=never \
        "$VENV/bin/uv" sync --locked --inexact --extra dev --python "$VENV/bin/python" --quiet
    echo "$WANT" > "$STAMP"
else
    echo "bootstrap: $VENV is up to date"
fi

# ---- PostgreSQL and Redis server binaries ---------------------------------------------
# The test session starts a throwaway PostgreSQL server, and the production topology
# (scripts/run.sh --production, and its tests) a PostgreSQL and a Redis server of its own.
have_postgres() {
    command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && return 0
    local bindir
    for bindir in /usr/lib/postgresql/*/bin; do
        [ -x "$bindir/pg_ctl" ] && [ -x "$bindir/initdb" ] && return 0
    done
    return 1
}
have_redis() {
    command -v redis-server >/dev/null 2>&1
}

# Installs Debian's package for what is missing; never waits for a password (CI has no stdin).
apt_install() {
    local SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            return 1
        fi
        SUDO=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || return 1
    echo "bootstrap: installing Debian's $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
        && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# scripts/run.sh sets SKIP_SERVER_INSTALL=1: the embedded product needs neither server.
if [ "${SKIP_SERVER_INSTALL:-0}" != "1" ]; then
    MISSING=()
    have_postgres || MISSING+=(postgresql)
    have_redis || MISSING+=(redis-server)
    if [ "${#MISSING[@]}" -gt 0 ] && ! apt_install "${MISSING[@]}"; then
        echo "bootstrap: WARNING: apt-get install ${MISSING[*]} failed" >&2
    fi
    if ! have_postgres; then
        echo "bootstrap: WARNING: PostgreSQL server binaries (pg_ctl/initdb) are not installed, so the" >&2
        echo "bootstrap:          PostgreSQL tests will skip (or fail when CI is set)." >&2
        echo "bootstrap:          Install them with: apt-get install postgresql" >&2
    fi
    if ! have_redis; then
        echo "bootstrap: WARNING: redis-server is not installed, so the production topology cannot" >&2
        echo "bootstrap:          start and its tests will skip (or fail when CI is set)." >&2
        echo "bootstrap:          Install it with: apt-get install redis-server" >&2
    fi
fi
