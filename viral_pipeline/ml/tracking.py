"""MLflow plumbing: the experiment, the registry's champion alias and the gate's verdict tags.

Stages are deprecated in MLflow 3: a version serves when it carries the `champion` alias, and
only a version tagged `accuracy_gate=passed` may receive it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

import mlflow
from mlflow import MlflowClient

CHAMPION_ALIAS = "champion"
GATE_TAG = "accuracy_gate"
GATE_REASONS_TAG = "accuracy_gate_failed_checks"


def _json_logs_for_mlflow() -> None:
    # MLflow installs its own plain-text handler on import; route its records through ours.
    logger = logging.getLogger("mlflow")
    logger.handlers.clear()
    logger.propagate = True


def client(tracking_uri: str) -> MlflowClient:
    _json_logs_for_mlflow()
    mlflow.set_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(tracking_uri: str, name: str, artifact_root: str | None) -> str:
    """The experiment's id, creating it (with its artifact location) on first use."""
    mlflow_client = client(tracking_uri)
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if artifact_root:
        Path(artifact_root).mkdir(parents=True, exist_ok=True)
        location = Path(artifact_root).resolve().as_uri()
    return mlflow_client.create_experiment(name, artifact_location=location)


def champion_version(mlflow_client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version the `champion` alias points at, or None before the first promotion."""
    try:
        return mlflow_client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def record_gate_verdict(
    mlflow_client: MlflowClient,
    model_name: str,
    version: str,
    passed: bool,
    failed_checks: str = "",
) -> None:
    mlflow_client.set_model_version_tag(
        model_name, version, GATE_TAG, "passed" if passed else "failed"
    )
    mlflow_client.set_model_version_tag(model_name, version, GATE_REASONS_TAG, failed_checks)


def gate_verdict(mlflow_client: MlflowClient, model_name: str, version: str) -> str | None:
    """'passed', 'failed', or None when the gate never ran for this version."""
    return mlflow_client.get_model_version(model_name, version).tags.get(GATE_TAG)


def promote(mlflow_client: MlflowClient, model_name: str, version: str) -> None:
    mlflow_client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
