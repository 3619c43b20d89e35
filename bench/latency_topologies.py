"""The topologies bench/latency.py and bench/faults.py measure, behind one small interface.

`embedded`: what scripts/run.sh runs for requests (dagster-daemon with the repo's dagster.yaml,
SQLite storage, the default run launcher, one API process). `default` and `celery`: the
production topology (viral_pipeline.deploy.topology) with that run launcher. Each serves
bench/latency_location.py, the product's definitions plus the floor probe, as its code location,
so the floor is measured in the same topology as the real path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

from viral_pipeline.deploy.topology import free_port

ROOT = Path(__file__).resolve().parent.parent
LOCATION = ROOT / "bench" / "latency_location.py"

# The bench is one API caller whose limits admit a burst (the limits are measured by
# bench/rate_limits.py, not here).
BENCH_ENV = {
    "SIMULATED_VIDEOS_PER_DAY": "300",
    "LOG_LEVEL": "WARNING",
    "DAGSTER_DISABLE_TELEMETRY": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RATE_LIMIT_ANALYZE_PER_MINUTE": "100000",
    "RATE_LIMIT_READS_PER_MINUTE": "100000",
}


def wait_healthy(api: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{api} not healthy after {seconds:.0f} s")


class BenchTopology:
    """What a measurement needs of a running topology."""

    name: str
    api_url: str
    db_url: str
    token: str
    dagster_home: Path

    def service_pids(self) -> list[int]:
        raise NotImplementedError

    @contextmanager
    def instance(self) -> Iterator:
        import dagster as dg

        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        with dg.DagsterInstance.get() as instance:
            yield instance


class Embedded(BenchTopology):
    name = "embedded"

    def __enter__(self) -> Embedded:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_latency_"))
        self.dagster_home = self.tmp / "dagster_home"
        self.dagster_home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", self.dagster_home / "dagster.yaml")
        workspace = self.tmp / "workspace.yaml"
        workspace.write_text(
            f"load_from:\n  - python_file:\n      relative_path: {LOCATION}\n"
            f"      attribute: defs\n      location_name: viral_pipeline\n"
            f"      working_directory: {ROOT}\n"
        )
        self.token = uuid.uuid4().hex
        self.db_url = f"sqlite:///{self.tmp}/app.db"
        env = {
            **os.environ,
            **BENCH_ENV,
            "DAGSTER_HOME": str(self.dagster_home),
            "DATABASE_URL": self.db_url,
            "MLFLOW_TRACKING_URI": f"sqlite:///{self.tmp}/mlflow.db",
            "PYTHONPATH": str(ROOT),
            "API_TOKENS": f"bench={self.token}",
        }
        self.procs: list[subprocess.Popen] = []
        try:
            subprocess.run(
                [sys.executable, "-m", "viral_pipeline.bootstrap", "--days", "1"],
                env=env,
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=600,
            )
            port, log = free_port(), open(self.tmp / "servers.log", "w")
            daemon = str(Path(sys.executable).parent / "dagster-daemon")
            for command in (
                [sys.executable, "-m", "viral_pipeline.api", "--port", str(port)],
                [daemon, "run", "--log-format", "json", "-w", str(workspace)],
            ):
                self.procs.append(
                    subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
                )
            self.api_url = f"http://127.0.0.1:{port}"
            wait_healthy(self.api_url)
        except BaseException:
            self.__exit__()
            raise
        return self

    def service_pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def __exit__(self, *_: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def bench_location_topology(launcher: str, workdir: Path):
    """The production Topology with the bench's code location in place of the product's (the
    same definitions plus the floor probe), served by its code server like the product's."""
    from viral_pipeline.deploy.topology import Topology

    return Topology(
        workdir, launcher=launcher, env=BENCH_ENV, definitions_module="bench.latency_location"
    )


class Production(BenchTopology):
    def __init__(self, launcher: str) -> None:
        self.name = launcher
        self.launcher = launcher

    def __enter__(self) -> Production:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench_latency_{self.launcher}_"))
        self.topology = bench_location_topology(self.launcher, self.tmp)
        self.topology.start()
        self.api_url, self.token = self.topology.api_url, self.topology.api_token
        self.db_url = self.topology.env["DATABASE_URL"]
        return self

    def instance(self):
        return self.topology.instance()

    def service_pids(self) -> list[int]:
        pids = []
        for service in self.topology.services:
            index = 0
            while True:
                try:
                    pid = self.topology.pid(service, index)
                except Exception:  # TopologyError: no such index
                    break
                if pid:
                    pids.append(pid)
                index += 1
        return pids

    def __exit__(self, *_: object) -> None:
        self.topology.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


TOPOLOGIES: dict[str, Callable[[], AbstractContextManager[BenchTopology]]] = {
    "embedded": Embedded,
    "default": lambda: Production("default"),
    "celery": lambda: Production("celery"),
}
