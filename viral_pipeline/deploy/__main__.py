"""`python -m viral_pipeline.deploy`: the production topology's commands.

    up [--workdir .production] [--launcher celery|default] [--no-bootstrap]
                                      every service on this machine
    worker [--name run-worker-7]      one more run worker on this machine (needs the env below)
    instance-config [--launcher ...]  print the Dagster instance file ($DAGSTER_HOME/dagster.yaml)

`up` reads CELERY_WORKERS (2), API_WORKERS (2), DAGSTER_PORT (3000), API_PORT (8000) and
MLFLOW_PORT (5000); PostgreSQL, Redis and the code server take free ports. It prints every URL,
and Ctrl-C (or SIGTERM, SIGHUP) stops everything. A worker reads DAGSTER_HOME (holding the
instance file), DAGSTER_PG_*, CELERY_BROKER_URL, CELERY_RESULT_BACKEND, DATABASE_URL and
MLFLOW_TRACKING_URI: the values `up` prints.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from viral_pipeline.deploy.commands import worker_command
from viral_pipeline.deploy.instance_config import LAUNCHERS, production_instance_yaml
from viral_pipeline.observability import configure_logging
from viral_pipeline.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:  # the topology's imports are paid only by `up`
    from viral_pipeline.deploy.topology import Topology

# What a worker machine needs from this one, in the order `up` prints it.
WORKER_VARIABLES = (
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_DB",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DATABASE_URL",
    "MLFLOW_TRACKING_URI",
)
PUBLIC_PORTS = {"webserver": "DAGSTER_PORT", "api": "API_PORT", "mlflow": "MLFLOW_PORT"}
DEFAULT_PORTS = {"webserver": 3000, "api": 8000, "mlflow": 5000}


def topology_from_env(workdir: Path, launcher: str, *, bootstrap_model: bool = True) -> Topology:
    """The topology `up` starts: public ports and worker counts from the environment."""
    from viral_pipeline.deploy.topology import Topology

    ports = {
        name: int(os.environ.get(var) or DEFAULT_PORTS[name]) for name, var in PUBLIC_PORTS.items()
    }
    return Topology(
        workdir,
        launcher=launcher,
        celery_workers=int(os.environ.get("CELERY_WORKERS") or 2),
        api_workers=int(os.environ.get("API_WORKERS") or 2),
        ports=ports,
        bootstrap_model=bootstrap_model,
        bootstrap_days=int(os.environ.get("BOOTSTRAP_DAYS") or 1),
    )


def banner(topology: Topology) -> str:
    """What `up` prints once every service answers: the URLs, and how a worker machine joins."""
    lines = [f"  {name:<12} {url}" for name, url in topology.urls.items()]
    lines += ["", f"  API caller token: {topology.api_token}  (caller `topology`)", ""]
    lines += ["  A worker on another machine (replace 127.0.0.1 by this machine's address):"]
    lines += [f"    export {var}={topology.env[var]}" for var in WORKER_VARIABLES]
    lines += [
        "    python -m viral_pipeline.deploy instance-config > $DAGSTER_HOME/dagster.yaml",
        "    python -m viral_pipeline.deploy worker",
        "",
        f"  Logs: {topology.workdir / 'logs'}",
        "  Ctrl-C stops them all.",
    ]
    return "\n".join(["", *lines, ""]) + "\n"


def _up(args: argparse.Namespace) -> None:
    topology = topology_from_env(
        Path(args.workdir), args.launcher, bootstrap_model=not args.no_bootstrap
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.set())
    topology.start()
    try:
        sys.stdout.write(banner(topology))
        sys.stdout.flush()
        stopping.wait()
    finally:
        topology.stop()


def _worker(args: argparse.Namespace) -> None:
    command = worker_command(args.name or f"run-worker-{os.getpid()}@%h")
    os.chdir(PROJECT_ROOT)
    os.execv(command[0], command)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m viral_pipeline.deploy", description=__doc__.splitlines()[0]
    )
    parser.set_defaults(
        command="up",
        workdir=str(PROJECT_ROOT / ".production"),
        launcher="celery",
        no_bootstrap=False,
    )
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser("up", help="start every service on this machine")
    up.add_argument("--workdir", default=str(PROJECT_ROOT / ".production"))
    up.add_argument("--launcher", choices=LAUNCHERS, default="celery")
    up.add_argument(
        "--no-bootstrap",
        action="store_true",
        help="serve what the work directory holds: no scrape or training at start (schemas only)",
    )
    worker = commands.add_parser("worker", help="start one run worker on this machine")
    worker.add_argument("--name", help="Celery node name (name@host); unique per worker")
    config = commands.add_parser("instance-config", help="print the Dagster instance file")
    config.add_argument("--launcher", choices=LAUNCHERS, default="celery")
    args = parser.parse_args(argv)
    configure_logging(get_settings().log_level)
    if args.command == "worker":
        _worker(args)
    elif args.command == "instance-config":
        sys.stdout.write(production_instance_yaml(args.launcher))
    else:
        _up(args)


if __name__ == "__main__":  # pragma: no cover - started by scripts/run.sh --production
    main()
