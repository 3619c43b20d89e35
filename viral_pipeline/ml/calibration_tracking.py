"""platt_calibration's MLflow run: parameters, ECE before and after, reliability diagrams.

One run per fit in the `platt_calibration` experiment, so fits can be compared in the MLflow UI
like model runs. The calibration_improves verdict is tagged on the run. `log_fit_run` is the run
of any fit on outcomes (the learned signal weights' too).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import mlflow
from viral_pipeline.engine.calibration.platt_fit import FOLDS, N_BINS, CalibrationFit
from viral_pipeline.ml import plots
from viral_pipeline.ml.tracking import ensure_experiment

EXPERIMENT = "platt_calibration"
VERDICT_TAG = "calibration_improves"
DIAGRAMS = ("reliability_before.png", "reliability_after.png")


def fit_metrics(fit: CalibrationFit) -> dict[str, float]:
    return {
        "n": float(fit.n),
        "positives": float(fit.positives),
        "a": fit.a,
        "b": fit.b,
        "ece_before": fit.ece_before,
        "ece_after": fit.ece_after,
        "ece_before_equal_mass": fit.ece_before_equal_mass,
        "ece_after_equal_mass": fit.ece_after_equal_mass,
        "noise_floor": fit.noise_floor,
        "ece_threshold": fit.ece_threshold,
    }


def log_calibration_run(
    fit: CalibrationFit,
    *,
    version: str,
    tier: str,
    model_version: str | None,
    tracking_uri: str,
    artifact_root: str | None,
) -> tuple[str, str]:
    """(run id, artifact URI of the after-calibration reliability diagram)."""
    return log_fit_run(
        EXPERIMENT,
        params={
            "version": version,
            "evaluation_tier": tier,
            "model_version": model_version or "none",
            "bins": N_BINS,
            "cross_fit_folds": FOLDS,
        },
        metrics=fit_metrics(fit),
        diagrams=[(DIAGRAMS[0], fit.labels, fit.raw), (DIAGRAMS[1], fit.labels, fit.cross_fitted)],
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
    )


def log_fit_run(
    experiment: str,
    *,
    params: dict[str, Any],
    metrics: dict[str, float],
    diagrams: list[tuple[str, np.ndarray, np.ndarray]],
    tracking_uri: str,
    artifact_root: str | None,
) -> tuple[str, str]:
    """One run of a fit on outcomes: params, metrics and a reliability diagram per (file name,
    labels, probabilities); (run id, artifact URI of the last diagram)."""
    experiment_id = ensure_experiment(tracking_uri, experiment, artifact_root)
    with (
        tempfile.TemporaryDirectory() as folder,
        mlflow.start_run(experiment_id=experiment_id) as run,
    ):
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for name, labels, probabilities in diagrams:
            path = Path(folder) / name
            plots.reliability_diagram_png(labels, probabilities, path, N_BINS)
            mlflow.log_artifact(str(path), artifact_path="plots")
        return run.info.run_id, f"{run.info.artifact_uri}/plots/{diagrams[-1][0]}"


def tag_verdict(mlflow_client: Any, run_id: str, passed: bool) -> None:
    """Like ml.tracking.record_gate_verdict: the caller's client (MlflowTracking.client())."""
    mlflow_client.set_tag(run_id, VERDICT_TAG, "passed" if passed else "failed")
