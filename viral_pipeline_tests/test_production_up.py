"""The production topology's one command, `python -m viral_pipeline.deploy up` (what
`scripts/run.sh --production` runs), as a user starts it: a real process tree that prints every
URL once each service answers, and that SIGINT (Ctrl-C) stops whole.

Runs with Dagster's default run launcher and without the model bootstrap: the Celery launcher
and predictions on it are proven on a topology of their own (test_production_topology.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from viral_pipeline.deploy import health, postgres
from viral_pipeline.deploy.__main__ import PUBLIC_PORTS
from viral_pipeline.deploy.topology import free_port
from viral_pipeline_tests.conftest import _missing

START_BOUND_S = 600.0  # the services' start on a loaded 2-core machine
STOP_BOUND_S = 120.0
LAST_BANNER_LINE = "Ctrl-C stops them all."


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_prints_its_urls_serves_them_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        _missing("redis-server not found: install with apt-get install redis-server")
    if postgres.server_bindir() is None:
        _missing("PostgreSQL server binaries not found: install with apt-get install postgresql")
    ports = {name: free_port() for name in PUBLIC_PORTS}
    env = {**os.environ, **{var: str(ports[name]) for name, var in PUBLIC_PORTS.items()}}
    env["API_WORKERS"] = "1"
    workdir = tmp_path / "production"
    up = subprocess.Popen(
        [sys.executable, "-m", "viral_pipeline.deploy", "up", "--workdir", str(workdir)]
        + ["--launcher", "default", "--no-bootstrap"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own group, as a terminal's Ctrl-C reaches it
    )
    printed: list[str] = []
    banner_done = threading.Event()

    def read() -> None:
        assert up.stdout is not None
        for line in up.stdout:
            printed.append(line)
            if LAST_BANNER_LINE in line:
                banner_done.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert banner_done.wait(START_BOUND_S), f"no banner within {START_BOUND_S} s: {printed}"
        text = "".join(printed)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for url in urls.values():
            assert url in text
        assert health.http_ok(f"{urls['api']}/healthz")
        assert health.http_ok(f"{urls['webserver']}/server_info")
        assert health.http_ok(f"{urls['mlflow']}/health")

        os.killpg(up.pid, signal.SIGINT)
        assert up.wait(timeout=STOP_BOUND_S) == 0
        deadline = time.monotonic() + STOP_BOUND_S
        while time.monotonic() < deadline and any(_accepts(p) for p in ports.values()):
            time.sleep(0.5)
        assert [name for name, port in ports.items() if _accepts(port)] == []
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(timeout=30)
        shutil.rmtree(postgres.data_dir_for(workdir.resolve()).parent, ignore_errors=True)
