"""The production topology's Dagster instance file, composed from the PostgreSQL instance and the
production overlay: valid for Dagster, one statement of run concurrency, the worker-checking
Celery launcher, and run monitoring fast enough to retry a request within a minute."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from viral_pipeline.deploy.__main__ import DEFAULT_PORTS, main, topology_from_env
from viral_pipeline.deploy.commands import DEFINITIONS_MODULE, LOCATION_NAME, ServiceCommands
from viral_pipeline.deploy.instance_config import (
    POOLED_STORAGE,
    POSTGRES_INSTANCE,
    RUN_COORDINATOR,
    production_instance,
    production_instance_yaml,
)
from viral_pipeline.deploy.run_launcher import WorkerCheckingCeleryRunLauncher
from viral_pipeline.settings import PROJECT_ROOT


@pytest.mark.parametrize("launcher", ["celery", "default"])
def test_the_composed_file_is_a_valid_dagster_instance(launcher: str, tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text(production_instance_yaml(launcher))
    config, _ = dagster_instance_config(str(tmp_path))  # raises on a schema error
    storage = config["storage"]["custom"]
    assert storage["config"]["postgres_db"]["port"] == {"env": "DAGSTER_PG_PORT"}
    assert ("run_launcher" in config) is (launcher == "celery")


def test_run_concurrency_and_the_queue_come_from_the_postgres_instance_unchanged() -> None:
    shared = yaml.safe_load(POSTGRES_INSTANCE.read_text())
    composed = production_instance()
    assert composed["concurrency"] == shared["concurrency"]
    # The same PostgreSQL connection settings, read by the pooled storage.
    assert composed["storage"] == {
        "custom": {**POOLED_STORAGE, "config": shared["storage"]["postgres"]}
    }
    # The queue's settings configure the coordinator that launches at once when a slot is free.
    assert "run_queue" not in composed
    assert composed["run_coordinator"] == {**RUN_COORDINATOR, "config": shared["run_queue"]}


def test_runs_go_to_the_worker_checking_launcher_and_dead_workers_fail_fast() -> None:
    composed = production_instance()
    launcher = composed["run_launcher"]
    module = __import__(launcher["module"], fromlist=[launcher["class"]])
    assert getattr(module, launcher["class"]) is WorkerCheckingCeleryRunLauncher
    assert launcher["config"]["broker"] == {"env": "CELERY_BROKER_URL"}
    monitoring = composed["run_monitoring"]
    # Two missed checks a poll apart, then a retry: well within the minute a request may take.
    assert monitoring["poll_interval_seconds"] * 3 <= 30
    assert monitoring["max_resume_run_attempts"] == 0  # failed and retried, never resumed
    assert composed["run_retries"]["max_retries"] >= 1


def test_instance_config_command_prints_the_composed_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["instance-config"])
    assert yaml.safe_load(capsys.readouterr().out) == production_instance()


def test_an_unknown_launcher_is_refused() -> None:
    with pytest.raises(ValueError, match="launcher must be one of"):
        production_instance("k8s")


def test_up_takes_public_ports_and_worker_counts_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var, value in {
        "DAGSTER_PORT": "3111",
        "API_PORT": "8111",
        "MLFLOW_PORT": "5111",
        "CELERY_WORKERS": "3",
        "API_WORKERS": "4",
        "BOOTSTRAP_DAYS": "2",
    }.items():
        monkeypatch.setenv(var, value)
    topology = topology_from_env(tmp_path, "celery")  # built, not started
    assert {name: topology.ports[name] for name in DEFAULT_PORTS} == {
        "webserver": 3111,
        "api": 8111,
        "mlflow": 5111,
    }
    assert (topology.celery_workers, topology.api_workers, topology.bootstrap_days) == (3, 4, 2)
    assert topology.env["DAGSTER_HOME"] == str(tmp_path.resolve() / "dagster_home")


def test_up_defaults_to_the_documented_ports_and_the_default_launcher_has_no_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("DAGSTER_PORT", "API_PORT", "MLFLOW_PORT", "CELERY_WORKERS", "API_WORKERS"):
        monkeypatch.delenv(var, raising=False)
    topology = topology_from_env(tmp_path, "default")
    assert {name: topology.ports[name] for name in DEFAULT_PORTS} == DEFAULT_PORTS
    assert (topology.celery_workers, topology.api_workers) == (0, 2)


def test_the_code_server_serves_the_module_workspace_yaml_names(tmp_path: Path) -> None:
    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    assert entry["python_module"]["module_name"] == DEFINITIONS_MODULE
    assert entry["python_module"]["location_name"] == LOCATION_NAME

    def served(commands: ServiceCommands) -> str:
        command = commands.code_server()
        return command[command.index("-m") + 1]

    ports = {"code_server": 4266}
    product = ServiceCommands(tmp_path, ports, tmp_path / "w.yaml", "sqlite://", 1)
    assert served(product) == DEFINITIONS_MODULE
    bench = ServiceCommands(tmp_path, ports, tmp_path / "w.yaml", "sqlite://", 1, "bench.floor")
    assert served(bench) == "bench.floor"
