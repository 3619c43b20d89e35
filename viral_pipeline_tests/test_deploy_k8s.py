"""deploy/k8s: the API, MLflow and the Celery run workers as plain Kubernetes manifests. They parse,
read only variables something reads, start commands with options their programs accept, and
probe paths their servers serve. No cluster runs here: this is what can be checked without one."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import click
import pytest
from fastapi.routing import APIRoute
from mlflow.cli import server as mlflow_server_command
from mlflow.server.security_utils import is_allowed_host_header

from viral_pipeline.api import __main__ as api_main
from viral_pipeline.api.app import create_app
from viral_pipeline.deploy import __main__ as deploy_main
from viral_pipeline.deploy.commands import RUN_QUEUE
from viral_pipeline.settings import Settings
from viral_pipeline_tests.deploy_files import (
    APP_SECRET,
    DOCKERFILE,
    HELM_CELERY_VALUES,
    K8S_DIR,
    all_manifests,
    containers,
    dockerfile_instructions,
    load_yaml,
    manifests,
    of_kind,
    options,
)

API = "viral-pipeline-api"
MLFLOW = "mlflow"
WORKERS = "viral-pipeline-celery-workers"
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}


def click_options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in param.opts}


def click_envvars(command: click.Command) -> set[str]:
    return {
        envvar
        for param in command.params
        for envvar in ([param.envvar] if isinstance(param.envvar, str) else param.envvar or [])
    }


def env_sources(node: Any) -> set[str]:
    """Variables a Dagster config names as `{env: NAME}`."""
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            return {node["env"]}
        return set().union(*(env_sources(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(env_sources(item) for item in node))
    return set()


def secret_keys() -> set[str]:
    return set(of_kind("Secret", APP_SECRET)["stringData"])


def test_every_manifest_parses_as_a_kubernetes_object() -> None:
    files = sorted(K8S_DIR.glob("*.yaml"))
    assert {path.name for path in files} >= {
        "api.yaml",
        "mlflow.yaml",
        "celery-workers.yaml",
        "secret.example.yaml",
    }
    for path in files:
        for doc in manifests(path):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path
            assert doc["metadata"]["name"] and doc["metadata"]["namespace"], path


def test_the_secret_holds_only_variables_something_reads() -> None:
    readers = {
        "the app's settings": SETTINGS_VARIABLES,
        "mlflow server": click_envvars(mlflow_server_command),
        "the Celery run launcher": env_sources(load_yaml(HELM_CELERY_VALUES)),
    }
    unread = secret_keys() - set().union(*readers.values())
    assert unread == set(), f"no reader for {unread}"
    assert "MLFLOW_BACKEND_STORE_URI" in secret_keys() & readers["mlflow server"]
    assert readers["the Celery run launcher"] <= secret_keys()


def test_the_celery_launcher_reads_the_settings_variables_the_workers_read() -> None:
    # The launcher sends to the broker the workers' app takes from the settings: one name each.
    launcher = env_sources(load_yaml(HELM_CELERY_VALUES))
    assert launcher == {"CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
    assert launcher <= SETTINGS_VARIABLES


def test_settings_that_default_to_a_local_file_are_set_for_every_pod() -> None:
    # A pod's own SQLite file would give each replica a database of its own.
    local = {
        name.upper()
        for name, field in Settings.model_fields.items()
        if isinstance(field.default, str) and field.default.startswith("sqlite:")
    }
    assert local == {"DATABASE_URL", "MLFLOW_TRACKING_URI"}
    assert local <= secret_keys()


def test_every_deployment_reads_its_environment_from_the_one_secret() -> None:
    deployments = [doc for doc in all_manifests() if doc["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {API, MLFLOW, WORKERS}
    for deployment in deployments:
        for container in containers(deployment):
            assert {"secretRef": {"name": APP_SECRET}} in container["envFrom"], deployment
            for variable in container.get("env", []):
                # A variable set one by one must be one something reads too.
                assert variable["name"] in SETTINGS_VARIABLES | {"DAGSTER_PG_PASSWORD"}


def test_services_select_their_deployments_and_named_ports() -> None:
    for name in (API, MLFLOW):
        deployment = of_kind("Deployment", name)
        service = of_kind("Service", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ports = {p["name"] for c in containers(deployment) for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


# ---- The API -------------------------------------------------------------------------------


def api_container() -> dict[str, Any]:
    (container,) = containers(of_kind("Deployment", API))
    return container


def test_the_api_starts_as_the_readme_starts_it_listening_on_its_container_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = api_container()
    assert container["command"] == ["python", "-m", "viral_pipeline.api"]
    served: dict[str, Any] = {}
    monkeypatch.setattr(api_main.uvicorn, "run", lambda app, **kwargs: served.update(kwargs))
    api_main.main(container["args"])  # an option it does not know exits here
    assert served["host"] == "0.0.0.0"
    assert {p["containerPort"] for p in container["ports"]} == {served["port"]}


def test_the_api_readiness_probe_is_a_route_of_the_app() -> None:
    routes = {route.path for route in create_app().routes if isinstance(route, APIRoute)}
    path = api_container()["readinessProbe"]["httpGet"]["path"]
    assert path in routes
    assert path == "/healthz"  # the one that checks the database, not just the process


# ---- MLflow --------------------------------------------------------------------------------


def test_mlflow_serves_with_options_mlflow_server_accepts() -> None:
    (container,) = containers(of_kind("Deployment", MLFLOW))
    assert container["command"] == ["mlflow", "server"]
    assert options(container["args"]) <= click_options(mlflow_server_command)
    # Its backend store is PostgreSQL, from the Secret (MLFLOW_BACKEND_STORE_URI).
    example = of_kind("Secret", APP_SECRET)["stringData"]["MLFLOW_BACKEND_STORE_URI"]
    assert example.startswith("postgresql")
    args = container["args"]
    destination = args[args.index("--artifacts-destination") + 1]
    assert destination in {m["mountPath"] for m in container["volumeMounts"]}
    port = int(args[args.index("--port") + 1])
    assert {p["containerPort"] for p in container["ports"]} == {port}


def test_mlflow_lets_in_the_address_the_pods_are_given() -> None:
    # MLflow's server answers only the Host headers it allows; the pods use the Secret's URI.
    (container,) = containers(of_kind("Deployment", MLFLOW))
    args = container["args"]
    allowed = args[args.index("--allowed-hosts") + 1].split(",")
    tracking = of_kind("Secret", APP_SECRET)["stringData"]["MLFLOW_TRACKING_URI"]
    assert is_allowed_host_header(allowed, urlsplit(tracking).netloc)
    assert not is_allowed_host_header(allowed, "attacker.example.com:5000")


def test_mlflows_probe_path_is_a_route_of_the_mlflow_server() -> None:
    from mlflow.server import app as mlflow_app

    (container,) = containers(of_kind("Deployment", MLFLOW))
    path = container["readinessProbe"]["httpGet"]["path"]
    assert path == "/health"
    assert path in {rule.rule for rule in mlflow_app.url_map.iter_rules()}


# ---- The Celery run workers ----------------------------------------------------------------


def worker_container() -> dict[str, Any]:
    (container,) = containers(of_kind("Deployment", WORKERS))
    return container


def test_workers_start_the_deploy_clis_worker_command(monkeypatch: pytest.MonkeyPatch) -> None:
    container = worker_container()
    assert container["command"][:3] == ["python", "-m", "viral_pipeline.deploy"]
    started: list[Any] = []
    monkeypatch.setattr(deploy_main, "_worker", started.append)
    deploy_main.main(container["command"][3:] + container.get("args", []))  # unknown: exits
    (args,) = started
    assert args.command == "worker"


def test_workers_take_runs_from_the_queue_the_launcher_sends_to() -> None:
    launcher = load_yaml(HELM_CELERY_VALUES)["runLauncher"]["config"]["customRunLauncher"]
    assert launcher["config"]["default_queue"] == RUN_QUEUE


def test_workers_have_the_instance_file_and_the_variables_a_worker_reads() -> None:
    container = worker_container()
    # DAGSTER_HOME of the image is where the chart's dagster.yaml is mounted.
    (env,) = [i for i in dockerfile_instructions(DOCKERFILE.read_text()) if i.keyword == "ENV"]
    dagster_home = env.arguments.split("DAGSTER_HOME=", 1)[1].split()[0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[f"{dagster_home}/dagster.yaml"]["subPath"] == "dagster.yaml"
    # The settings a worker reads come from the Secret; of Dagster's storage variables the
    # chart's dagster.yaml reads only the password, set one by one.
    settings = {name for name in deploy_main.WORKER_VARIABLES if name in SETTINGS_VARIABLES}
    assert settings == {
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "DATABASE_URL",
        "MLFLOW_TRACKING_URI",
    }
    assert settings <= secret_keys()
    assert "DAGSTER_PG_PASSWORD" in {variable["name"] for variable in container["env"]}
