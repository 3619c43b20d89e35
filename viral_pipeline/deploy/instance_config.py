"""The Dagster instance file of the production topology, composed rather than copied: the
PostgreSQL instance (deploy/dagster.postgres.yaml: storage, run concurrency, run queue) with
deploy/dagster.production.yaml's keys replacing its keys of the same name. Run concurrency and
the run queue are thus stated once, for both. The production storage is the same PostgreSQL
storage over connection pools (viral_pipeline.deploy.storage), and the production queue the
same queue with a run coordinator that launches a run at once when the queue would let it
through on its next pass (viral_pipeline.deploy.run_coordinator), configured by the PostgreSQL
file's `run_queue`."""

from __future__ import annotations

from typing import Any

import yaml

from viral_pipeline.settings import PROJECT_ROOT

POSTGRES_INSTANCE = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"
PRODUCTION_OVERLAY = PROJECT_ROOT / "deploy" / "dagster.production.yaml"

LAUNCHERS = ("celery", "default")
POOLED_STORAGE = {"module": "viral_pipeline.deploy.storage", "class": "PooledPostgresStorage"}
RUN_COORDINATOR = {
    "module": "viral_pipeline.deploy.run_coordinator",
    "class": "LaunchWhenFreeRunCoordinator",
}


def production_instance(launcher: str = "celery") -> dict[str, Any]:
    """The instance config; with `default`, Dagster's DefaultRunLauncher (a process per run on
    the code server's machine) in the same topology, to compare both."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, not {launcher!r}")
    config: dict[str, Any] = yaml.safe_load(POSTGRES_INSTANCE.read_text())
    config.update(yaml.safe_load(PRODUCTION_OVERLAY.read_text()))
    if launcher == "default":
        del config["run_launcher"]
    # The same PostgreSQL storage, with connections kept open between statements.
    config["storage"] = {"custom": {**POOLED_STORAGE, "config": config["storage"]["postgres"]}}
    # Dagster takes `run_queue` as the stock coordinator's config and refuses it beside a
    # `run_coordinator`: the same settings become this coordinator's config.
    config["run_coordinator"] = {**RUN_COORDINATOR, "config": config.pop("run_queue")}
    return config


def production_instance_yaml(launcher: str = "celery") -> str:
    return yaml.safe_dump(production_instance(launcher), sort_keys=False)
