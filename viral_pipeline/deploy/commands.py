"""The command line of each service of the topology, every one bound to 127.0.0.1 on its port."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from viral_pipeline.deploy import postgres

BIN = Path(sys.executable).parent
LOCATION_NAME = "viral_pipeline"
# The module whose `defs` the code server serves (workspace.yaml's, for `dg dev`).
DEFINITIONS_MODULE = "viral_pipeline.definitions"
WORKER_APP = "viral_pipeline.deploy.celery_worker"
RUN_QUEUE = "dagster"  # dagster-celery's queue (its CeleryRunLauncher's default_queue)


def worker_command(node_name: str) -> list[str]:
    """A run worker: one run at a time (one pool process), on dagster-celery's queue. Its
    main process stays free to answer the launcher's "which tasks do you hold?"."""
    options = "-c 1 --prefetch-multiplier=1 --without-gossip --without-mingle -l INFO"
    # --quiet: no start-up banner, so every line the worker writes is a JSON log line.
    celery = [sys.executable, "-m", "celery", "-A", WORKER_APP, "--quiet"]
    return [*celery, "worker", "-Q", RUN_QUEUE] + [
        "-n",
        node_name,
        *options.split(),
    ]


@dataclass(frozen=True)
class ServiceCommands:
    workdir: Path
    ports: Mapping[str, int]
    workspace_file: Path
    mlflow_store: str
    api_workers: int
    definitions_module: str = DEFINITIONS_MODULE

    def postgres(self, bindir: Path, data_dir: Path) -> list[str]:
        return postgres.server_command(bindir, data_dir, self.ports["postgres"])

    def redis(self) -> list[str]:
        # No persistence: what it holds (queued run tasks, task states) is rebuilt by run
        # monitoring when it is lost.
        port = str(self.ports["redis"])
        options = "--bind 127.0.0.1 --appendonly no --save".split()
        return ["redis-server", "--port", port, *options, "", "--dir", str(self.workdir)]

    def mlflow(self) -> list[str]:
        # One uvicorn worker (MLflow's default is 4); its job runner is switched off by
        # MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false in the environment.
        artifacts = str(self.workdir / "mlflow_artifacts")
        return (
            [str(BIN / "mlflow"), "server", "--backend-store-uri", self.mlflow_store]
            + ["--artifacts-destination", artifacts, *self._bind("--host", "--port", "mlflow")]
            + ["--workers", "1"]
        )

    def code_server(self) -> list[str]:
        target = ["-m", self.definitions_module, "-a", "defs", "--location-name", LOCATION_NAME]
        return [str(BIN / "dagster"), "api", "grpc", *target] + [
            *self._bind("-h", "-p", "code_server"),
            "--log-format",
            "json",
        ]

    def webserver(self) -> list[str]:
        return [str(BIN / "dagster-webserver"), "-w", str(self.workspace_file)] + [
            *self._bind("-h", "-p", "webserver"),
            "--log-format",
            "json",
        ]

    def daemon(self) -> list[str]:
        return [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace_file)] + [
            "--log-format",
            "json",
        ]

    def api(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "viral_pipeline.api",
            *self._bind("--host", "--port", "api"),
        ] + ["--workers", str(self.api_workers)]

    def _bind(self, host_flag: str, port_flag: str, service: str) -> list[str]:
        return [host_flag, "127.0.0.1", port_flag, str(self.ports[service])]
