"""deploy/helm: the values for the official Dagster chart validate against the chart's published
JSON schema, and say what dagster.yaml and workspace.yaml say.

Helm validates the values it renders with: the chart's defaults with ours merged over them. The
defaults are not in this repository, so a required key of a mapping that our file leaves out is
the chart's to fill; every other error counts, among them a required key of a list item (Helm
replaces lists whole, so nothing fills it). The schema's references to Kubernetes' own
definitions (kubernetesjsonschema.dev) cannot be fetched offline: they are dropped, and the shape
the chart's models give beside them (an object of strings for annotations, say) is checked instead.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from dagster._config import process_config

from viral_pipeline.deploy.instance_config import production_instance
from viral_pipeline_tests.conftest import REPO_ROOT
from viral_pipeline_tests.deploy_files import (
    APP_SECRET,
    HELM_CELERY_VALUES,
    HELM_VALUES,
    load_yaml,
    workspace_location,
)

KUBERNETES_DEFINITIONS = "https://kubernetesjsonschema.dev/"


def offline(schema: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The schema without its external references, and the references dropped."""
    dropped: set[str] = set()

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                dropped.add(ref)
            return {
                key: strip(value)
                for key, value in node.items()
                if not (key == "$ref" and isinstance(value, str) and not value.startswith("#"))
            }
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    return strip(copy.deepcopy(schema)), dropped


def filled_by_chart_defaults(error: jsonschema.ValidationError) -> bool:
    """A required key of a mapping (outside any list item): the chart's defaults carry it."""
    if error.validator == "required":
        return not any(isinstance(step, int) for step in error.absolute_path)
    if error.validator in ("anyOf", "oneOf"):
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for sub in error.context or []:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return any(all(filled_by_chart_defaults(sub) for sub in subs) for subs in branches.values())
    return False


def chart_errors(schema: dict[str, Any], values: dict[str, Any]) -> list[str]:
    checked, _ = offline(schema)
    validator = jsonschema.Draft7Validator(checked)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(values)
        if not filled_by_chart_defaults(error)
    ]


def test_the_schema_is_the_charts_and_only_kubernetes_definitions_go_unchecked(
    dagster_helm_schema: dict[str, Any],
) -> None:
    assert dagster_helm_schema["title"] == "DagsterHelmValues"
    jsonschema.Draft7Validator.check_schema(dagster_helm_schema)
    checked, dropped = offline(dagster_helm_schema)
    assert dropped and all(ref.startswith(KUBERNETES_DEFINITIONS) for ref in dropped)
    jsonschema.Draft7Validator.check_schema(checked)
    # Every local reference resolves: a key the schema types is really checked.
    local = set(local_references(checked))
    assert local and local <= {f"#/definitions/{name}" for name in checked["definitions"]}


def local_references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from local_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from local_references(item)


@pytest.mark.parametrize("overlays", [[HELM_VALUES], [HELM_VALUES, HELM_CELERY_VALUES]])
def test_the_values_validate_against_the_charts_schema(
    dagster_helm_schema: dict[str, Any], overlays: list[Any]
) -> None:
    assert chart_errors(dagster_helm_schema, merged(*overlays)) == []


@pytest.mark.parametrize(
    ("break_it", "where"),
    [
        # A wrong type on a known key.
        (lambda v: v["dagster-user-deployments"]["deployments"][0].update(port="3030"), "port"),
        # A misspelt key where the chart allows no other.
        (lambda v: v["dagsterDaemon"].update(runMonitor={"enabled": True}), "runMonitor"),
        # A run launcher the chart does not know.
        (lambda v: v["runLauncher"].update(type="CeleryRunLauncher"), "runLauncher.type"),
        # A list item without a required key: no chart default fills it.
        (lambda v: v["dagster-user-deployments"]["deployments"][0].pop("image"), "image"),
    ],
)
def test_a_broken_copy_of_the_values_is_rejected(
    dagster_helm_schema: dict[str, Any], break_it: Any, where: str
) -> None:
    values = merged(HELM_VALUES)
    break_it(values)
    errors = chart_errors(dagster_helm_schema, values)
    assert errors and any(where in error for error in errors), errors


def merged(*paths: Any) -> dict[str, Any]:
    """Values files layered as `helm -f a -f b` does: mappings merge, anything else replaces."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            out = dict(base)
            for key, value in over.items():
                out[key] = merge(base[key], value) if key in base else value
            return out
        return over

    result: dict[str, Any] = {}
    for path in paths:
        result = merge(result, load_yaml(path))
    return result


# ---- What the values say against the repository's own files -------------------------------


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.title() for word in rest)


def camel_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {camel(key): camel_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [camel_keys(item) for item in node]
    return node


def instance_settings() -> Iterator[tuple[str, Any, Any]]:
    """(what, dagster.yaml's value, the Helm values' value) for each instance setting."""
    instance = load_yaml(REPO_ROOT / "dagster.yaml")
    values = load_yaml(HELM_VALUES)
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    runs = instance["concurrency"]["runs"]
    yield "max_concurrent_runs", runs["max_concurrent_runs"], queued["maxConcurrentRuns"]
    yield "tag_concurrency_limits", runs["tag_concurrency_limits"], queued["tagConcurrencyLimits"]
    for key, value in instance["run_queue"].items():
        yield f"run_queue.{key}", value, queued[camel(key)]
    yield "run_monitoring", camel_keys(instance["run_monitoring"]), daemon["runMonitoring"]
    yield "run_retries", camel_keys(instance["run_retries"]), daemon["runRetries"]
    yield "python_logs", camel_keys(instance["python_logs"]), values["pythonLogs"]
    yield "telemetry", instance["telemetry"], values["telemetry"]


@pytest.mark.parametrize(("what", "in_dagster_yaml", "in_values"), list(instance_settings()))
def test_the_chart_runs_the_instance_dagster_yaml_describes(
    what: str, in_dagster_yaml: Any, in_values: Any
) -> None:
    assert in_values == in_dagster_yaml, what


def test_telemetry_is_off() -> None:
    assert load_yaml(HELM_VALUES)["telemetry"] == {"enabled": False}


def test_the_user_deployment_serves_the_code_location_workspace_yaml_names() -> None:
    location = workspace_location()
    (deployment,) = load_yaml(HELM_VALUES)["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args == [
        "-m",
        location["module_name"],
        "-a",
        location["attribute"],
        "--location-name",
        location["location_name"],
    ]
    assert {"name": APP_SECRET} in deployment["envSecrets"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_the_default_launcher_is_a_pod_per_run_with_the_apps_environment() -> None:
    launcher = load_yaml(HELM_VALUES)["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert {"name": APP_SECRET} in launcher["config"]["k8sRunLauncher"]["envSecrets"]


def celery_launcher() -> dict[str, Any]:
    launcher: dict[str, Any] = load_yaml(HELM_CELERY_VALUES)["runLauncher"]
    assert launcher["type"] == "CustomRunLauncher"
    custom: dict[str, Any] = launcher["config"]["customRunLauncher"]
    return custom


def test_the_celery_alternative_runs_the_production_topologys_launcher() -> None:
    # One launcher, stated in dagster.production.yaml and repeated here in the chart's shape.
    assert celery_launcher() == production_instance("celery")["run_launcher"]


def test_the_celery_alternatives_launcher_is_importable_and_its_config_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    custom = celery_launcher()
    launcher_class = getattr(importlib.import_module(custom["module"]), custom["class"])
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
    processed = process_config(launcher_class.config_type(), custom["config"])
    assert processed.success, processed.errors
    assert processed.value["broker"] == "redis://127.0.0.1:6379/0"
    assert processed.value["backend"] == "redis://127.0.0.1:6379/1"


@pytest.mark.parametrize("what", ["run_monitoring", "run_retries"])
def test_the_celery_alternative_monitors_runs_as_the_production_topology(what: str) -> None:
    daemon = merged(HELM_VALUES, HELM_CELERY_VALUES)["dagsterDaemon"]
    assert daemon[camel(what)] == camel_keys(production_instance("celery")[what])
