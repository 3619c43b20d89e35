"""The production topology on one machine, every service its own process (README: "The
production topology"): PostgreSQL, Redis, the MLflow tracking server, the code server, the
Dagster webserver and daemon, the HTTP API and N Celery run workers, all in one work directory.

`Topology(workdir).start()` brings it up and waits until every service answers; `.kill()` and
`.restart()` are for fault tests; a supervisor restarts a service that dies on its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from viral_pipeline.deploy import health, postgres
from viral_pipeline.deploy.commands import (
    DEFINITIONS_MODULE,
    LOCATION_NAME,
    ServiceCommands,
    worker_command,
)
from viral_pipeline.deploy.instance_config import production_instance, production_instance_yaml
from viral_pipeline.deploy.processes import ManagedProcess, Supervisor
from viral_pipeline.observability import get_logger
from viral_pipeline.settings import PROJECT_ROOT

log = get_logger(__name__)

SERVICES = (
    "postgres",
    "redis",
    "mlflow",
    "code_server",
    "webserver",
    "daemon",
    "api",
    "celery_worker",
)
DATABASES = {"dagster": "dagster", "app": "viral_pipeline", "mlflow": "mlflow"}
HEALTHY_TIMEOUT_S = 180.0
BOOTSTRAP_TIMEOUT_S = 900.0
SUPERVISE_INTERVAL_S = 1.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TopologyError(RuntimeError):
    """A service did not come up, or a name or index does not exist."""


class Topology:
    def __init__(
        self,
        workdir: Path,
        *,
        launcher: str = "celery",
        celery_workers: int = 2,
        api_workers: int = 2,
        ports: Mapping[str, int] | None = None,
        env: Mapping[str, str] | None = None,
        bootstrap_model: bool = True,
        bootstrap_days: int = 1,
        supervise: bool = True,
        definitions_module: str = DEFINITIONS_MODULE,
    ) -> None:
        production_instance(launcher)  # rejects an unknown launcher now
        self.workdir = Path(workdir).resolve()
        self.launcher = launcher
        self.celery_workers = celery_workers if launcher == "celery" else 0
        self.api_workers = api_workers
        self.bootstrap_model, self.bootstrap_days = bootstrap_model, bootstrap_days
        chosen = dict(ports or {})
        self.ports = {name: chosen.get(name) or free_port() for name in SERVICES[:-1]}
        self.api_token = secrets.token_urlsafe(24)
        self.env = self._environment(env or {})
        self._processes: dict[str, list[ManagedProcess]] = {}
        self._commands = ServiceCommands(
            workdir=self.workdir,
            ports=self.ports,
            workspace_file=self.workspace_file,
            mlflow_store=f"{self._postgres_url('postgresql+psycopg2')}/{DATABASES['mlflow']}",
            api_workers=api_workers,
            definitions_module=definitions_module,
        )
        self._supervisor = (
            Supervisor(self._all_processes, SUPERVISE_INTERVAL_S) if supervise else None
        )

    # ---- what a client or a worker needs ------------------------------------------------

    @property
    def dagster_home(self) -> Path:
        return self.workdir / "dagster_home"

    @property
    def postgres_data_dir(self) -> Path:
        return postgres.data_dir_for(self.workdir)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def urls(self) -> dict[str, str]:
        return {
            "webserver": f"http://127.0.0.1:{self.ports['webserver']}",
            "api": self.api_url,
            "mlflow": f"http://127.0.0.1:{self.ports['mlflow']}",
            "code_server": f"grpc://127.0.0.1:{self.ports['code_server']}",
            "postgres": self._postgres_url("postgresql"),
            "redis": f"redis://127.0.0.1:{self.ports['redis']}",
        }

    @property
    def services(self) -> list[str]:
        return [name for name in SERVICES if self.celery_workers or name != "celery_worker"]

    def _postgres_url(self, scheme: str) -> str:
        return f"{scheme}://{postgres.SUPERUSER}@127.0.0.1:{self.ports['postgres']}"

    def _environment(self, overrides: Mapping[str, str]) -> dict[str, str]:
        pg, redis = self.ports["postgres"], self.ports["redis"]
        return {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_PG_USERNAME": postgres.SUPERUSER,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(pg),
            "DAGSTER_PG_DB": DATABASES["dagster"],
            "DATABASE_URL": f"{self._postgres_url('postgresql')}/{DATABASES['app']}",
            # psycopg2: the driver MLflow's PostgreSQL store is tested with.
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{self.ports['mlflow']}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis}/0",
            "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{redis}/1",
            "API_TOKENS": f"topology={self.api_token}",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "DAGSTER_DISABLE_TELEMETRY": "true",
            **overrides,
        }

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> Topology:
        """Bring every service up in dependency order; returns once each one answers."""
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_instance_files()
        try:
            self._start_postgres()
            self._launch("redis")
            self._launch("mlflow")
            self._wait_healthy(["redis", "mlflow"])
            self._bootstrap()
            self._launch("code_server")
            self._wait_healthy(["code_server"])
            for name in ("webserver", "daemon", "api"):
                self._launch(name)
            for index in range(self.celery_workers):
                self._launch("celery_worker", index)
            self._wait_healthy(self.services)
        except BaseException:
            self.stop()
            raise
        if self._supervisor is not None:
            self._supervisor.start()
        log.info("topology up", seconds=round(time.monotonic() - started, 1), **self.urls)
        return self

    def stop(self) -> None:
        """Stop every service, dependents first (SIGTERM, SIGKILL after a bound)."""
        if self._supervisor is not None:
            self._supervisor.stop()
        for name in reversed(SERVICES):
            for process in self._processes.get(name, []):
                process.stop()
        log.info("topology stopped", workdir=str(self.workdir))

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def kill(self, service: str, index: int = 0) -> None:
        """SIGKILL to the service's process group; it stays down until `restart`."""
        self.process(service, index).kill()

    def restart(self, service: str, index: int = 0, *, wait: bool = True) -> None:
        """Start it again on the same port (stopping it first if it runs); with `wait`, return
        once it answers."""
        self.process(service, index).restart()
        if wait:
            self._wait_until_healthy(service, index)

    def process(self, service: str, index: int = 0) -> ManagedProcess:
        try:
            return self._processes[service][index]
        except (KeyError, IndexError):
            raise TopologyError(f"no service {service}[{index}] in {self.services}") from None

    def pid(self, service: str, index: int = 0) -> int | None:
        """The process group leader's pid (its group id too)."""
        return self.process(service, index).pid

    def healthy(self, service: str, index: int = 0) -> bool:
        port = self.ports.get(service, 0)
        if service == "postgres":
            return health.postgres_ok(port)
        if service == "redis":
            return health.redis_ok(port)
        if service == "mlflow":
            return health.http_ok(f"{self.urls['mlflow']}/health")
        if service == "code_server":
            return health.code_server_ok(port)
        if service == "webserver":
            return health.http_ok(f"{self.urls['webserver']}/server_info")
        if service == "api":
            return health.http_ok(f"{self.api_url}/healthz")
        if service == "daemon":
            return self.process("daemon").alive() and self._daemon_heartbeats()
        if service == "celery_worker":
            return health.celery_worker_ok(
                self.env["CELERY_BROKER_URL"],
                self.env["CELERY_RESULT_BACKEND"],
                self.worker_name(index),
            )
        raise TopologyError(f"no service {service}")

    @staticmethod
    def worker_name(index: int) -> str:
        """The Celery node name of worker `index` (its name@host)."""
        return f"run-worker-{index}@{socket.gethostname()}"

    @contextlib.contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """The topology's Dagster instance, its connections resolved from `env` (this process's
        own environment need not hold them)."""
        from dagster._core.instance.ref import InstanceRef

        ref = InstanceRef.from_dir(str(self.dagster_home), overrides=self._resolved_instance())
        with dg.DagsterInstance.from_ref(ref) as instance:
            yield instance

    # ---- internals ---------------------------------------------------------------------

    def _all_processes(self) -> list[ManagedProcess]:
        return [process for group in self._processes.values() for process in group]

    def _resolved_instance(self) -> dict[str, Any]:
        def resolve(value: Any) -> Any:
            if isinstance(value, dict):
                if set(value) == {"env"}:  # an IntSource (a port) reads digits as a number
                    text = self.env[value["env"]]
                    return int(text) if text.isdigit() else text
                return {key: resolve(item) for key, item in value.items()}
            if isinstance(value, list):
                return [resolve(item) for item in value]
            return value

        config: dict[str, Any] = resolve(production_instance(self.launcher))
        return config

    def _write_instance_files(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text(production_instance_yaml(self.launcher))
        workspace = {
            "load_from": [
                {
                    "grpc_server": {
                        "host": "127.0.0.1",
                        "port": self.ports["code_server"],
                        "location_name": LOCATION_NAME,
                    }
                }
            ]
        }
        self.workspace_file.write_text(yaml.safe_dump(workspace))

    @property
    def workspace_file(self) -> Path:
        return self.workdir / "workspace.yaml"

    def _start_postgres(self) -> None:
        bindir = postgres.server_bindir()
        if bindir is None:
            raise TopologyError("PostgreSQL server binaries (initdb/postgres) not found")
        data_dir = self.postgres_data_dir
        if not (data_dir / "PG_VERSION").exists():
            postgres.initdb(bindir, data_dir)
        self._add("postgres", self._commands.postgres(bindir, data_dir))
        self._wait_healthy(["postgres"])
        postgres.create_databases(self.ports["postgres"], list(DATABASES.values()))

    def _bootstrap(self) -> None:
        """The app database's schema and Dagster's, then (unless told not to) the data assets and
        a first champion model, as scripts/run.sh's bootstrap does."""
        with self.instance():
            pass  # opening it creates Dagster's schema before three services race to
        python = [sys.executable, "-m", "viral_pipeline.bootstrap"]
        if self.bootstrap_model:
            command = [*python, "--days", str(self.bootstrap_days)]
        else:
            command = [
                sys.executable,
                "-c",
                "from viral_pipeline.store.db import ready_engine;"
                f"ready_engine({self.env['DATABASE_URL']!r})",
            ]
        log_path = self.workdir / "logs" / "bootstrap.log"
        with open(log_path, "ab") as out:
            subprocess.run(
                command,
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=out,
                check=True,
                timeout=BOOTSTRAP_TIMEOUT_S,
            )

    def _command(self, service: str, index: int) -> list[str]:
        if service == "celery_worker":
            return worker_command(f"run-worker-{index}@%h")
        return list(getattr(self._commands, service)())

    def _launch(self, service: str, index: int = 0) -> None:
        self._add(service, self._command(service, index))

    def _add(self, service: str, command: list[str]) -> None:
        group = self._processes.setdefault(service, [])
        process = ManagedProcess(
            name=f"{service}[{len(group)}]",
            command=command,
            env=self.env,
            cwd=PROJECT_ROOT,
            log_path=self.workdir / "logs" / f"{service}-{len(group)}.log",
        )
        group.append(process)
        process.start()

    def _wait_healthy(self, services: list[str]) -> None:
        for service in services:
            for index in range(len(self._processes.get(service, []))):
                self._wait_until_healthy(service, index)

    def _wait_until_healthy(self, service: str, index: int) -> None:
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        what = f"{service}[{index}]"
        while time.monotonic() < deadline:
            if self.healthy(service, index):
                return
            time.sleep(0.5)
        raise TopologyError(
            f"{what} did not answer within {HEALTHY_TIMEOUT_S:.0f} s "
            f"(logs in {self.workdir / 'logs'})"
        )

    def _daemon_heartbeats(self) -> bool:
        """Every daemon the instance needs has sent a heartbeat since the process started."""
        since = self.process("daemon").started_at
        with self.instance() as instance:
            beats = instance.get_daemon_heartbeats()
            required = instance.get_required_daemon_types()
        return all(name in beats and beats[name].timestamp >= since for name in required)
