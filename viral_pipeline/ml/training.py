"""One training run: fit, calibrate, evaluate against the current champion, log it all to MLflow.

Everything a run produces lands in one MLflow run: parameters, metrics, the dataset (name,
digest, row counts), pictures, and the model, registered as a new version of the model.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow.data
import mlflow.models
import mlflow.sklearn
import pandas as pd
import sklearn
from mlflow.data.pandas_dataset import from_pandas

import mlflow
from viral_pipeline.engine.model.classifier import (
    ModelParams,
    choose_threshold,
    evaluate,
    evidence,
    feature_importances,
    train_calibrated,
)
from viral_pipeline.engine.model.features import FEATURE_COLUMNS
from viral_pipeline.engine.model.provenance import (
    TAG_PREFIX,
    Provenance,
    learned_source,
    provenance_from,
)
from viral_pipeline.ml import plots
from viral_pipeline.ml.dataset import LABEL, TrainingSet
from viral_pipeline.ml.tracking import champion_version, client, ensure_experiment

# The decision threshold keeps accuracy at least this high on the calibration slice (accuracy is
# a reported target of the gate, 0.75; aiming a little higher keeps the test slice above it).
DECISION_MIN_ACCURACY = 0.80


@dataclass(frozen=True)
class TrainingOutcome:
    model_name: str
    model_version: str
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    margins: dict[str, float]
    threshold: float
    champion_version: str | None
    champion_metrics: (
        dict[str, float] | None
    )  # on the same test slice; None without a same-source champion
    trained_on: Provenance
    champion_note: str  # why the champion was (or was not) compared


def _pip_requirements() -> list[str]:
    # Explicit, so MLflow does not spend seconds inferring them in a subprocess.
    import cloudpickle
    import numpy

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={numpy.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
    ]


def _log_pictures(model, X_test, y_test, probabilities, threshold, importances) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        paths = [
            plots.confusion_matrix_png(
                y_test, probabilities >= threshold, out / "confusion_matrix.png"
            ),
            plots.roc_curve_png(y_test, probabilities, out / "roc_curve.png"),
            plots.precision_recall_png(y_test, probabilities, out / "precision_recall.png"),
            plots.reliability_diagram_png(y_test, probabilities, out / "reliability_diagram.png"),
            plots.feature_importances_png(importances, out / "feature_importances.png"),
        ]
        for path in paths:
            mlflow.log_artifact(str(path), artifact_path="plots")


def train_and_log(
    training_set: TrainingSet,
    *,
    tracking_uri: str,
    experiment: str,
    artifact_root: str | None,
    model_name: str,
    params: ModelParams | None = None,
    n_boot: int = 200,
) -> TrainingOutcome:
    params = params or ModelParams()
    X_train, y_train = training_set.part("train")
    X_calib, y_calib = training_set.part("calibration")
    X_test, y_test = training_set.part("test")
    experiment_id = ensure_experiment(tracking_uri, experiment, artifact_root)
    mlflow_client = client(tracking_uri)

    model = train_calibrated(X_train, y_train, X_calib, y_calib, params)
    threshold = choose_threshold(
        y_calib, model.predict_proba(X_calib)[:, 1], min_accuracy=DECISION_MIN_ACCURACY
    )
    probabilities = model.predict_proba(X_test)[:, 1]
    metrics, margins = evidence(y_test, probabilities, threshold, n_boot)
    importances = feature_importances(model, X_test, y_test, list(FEATURE_COLUMNS))
    trained_on = training_set.provenance

    champion = champion_version(mlflow_client, model_name)
    champion_metrics, champion_note = None, "no champion yet"
    if champion is not None:
        champion_trained_on = provenance_from(champion.tags, prefix=TAG_PREFIX)
        if not learned_source(champion_trained_on, trained_on.source):
            # Its figures on this data say nothing about a regression: it learned another world.
            learned = (
                champion_trained_on.describe()
                if champion_trained_on
                else "data of an unrecorded source"
            )
            champion_note = (
                f"champion v{champion.version} was trained on {learned}: counts as no champion "
                f"for {trained_on.source!r} data"
            )
        else:
            # The champion is judged on this very test set, so the comparison is like for like.
            champion_model = mlflow.sklearn.load_model(f"models:/{model_name}/{champion.version}")
            champion_threshold = float(champion.tags.get("decision_threshold", 0.5))
            champion_metrics = evaluate(
                champion_model, X_test, y_test, threshold=champion_threshold
            )
            champion_note = f"compared with champion v{champion.version} on the same test slice"

    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params(
            {
                **asdict(params),
                "decision_threshold": round(threshold, 4),
                "viral_quantile": training_set.quantile,
            }
        )
        mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
        mlflow.log_metrics({f"margin_{key}": float(value) for key, value in margins.items()})
        dataset = from_pandas(
            training_set.frame[[*FEATURE_COLUMNS, LABEL]],
            name=f"training_set_{trained_on.dataset}_{trained_on.source}",
            digest=training_set.digest,
            targets=LABEL,
        )
        mlflow.log_input(dataset, context="training")
        mlflow.set_tags(
            {
                "train_rows": len(X_train),
                "calibration_rows": len(X_calib),
                "test_rows": len(X_test),
                **trained_on.as_tags(),
            }
        )
        _log_pictures(model, X_test, y_test, probabilities, threshold, importances)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            # skops (the default) refuses CalibratedClassifierCV; cloudpickle loads it back.
            serialization_format="cloudpickle",
            signature=mlflow.models.infer_signature(X_test, model.predict_proba(X_test)[:, 1]),
            input_example=X_test.head(3),
            registered_model_name=model_name,
            pip_requirements=_pip_requirements(),
        )
    version = str(info.registered_model_version)
    mlflow_client.set_model_version_tag(
        model_name, version, "decision_threshold", f"{threshold:.6f}"
    )
    for (
        key,
        value,
    ) in trained_on.as_tags().items():  # read by the gate and champion_model of later runs
        mlflow_client.set_model_version_tag(model_name, version, key, value)
    return TrainingOutcome(
        model_name=model_name,
        model_version=version,
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        metrics={k: float(v) for k, v in metrics.items()},
        margins={k: float(v) for k, v in margins.items()},
        threshold=threshold,
        champion_version=str(champion.version) if champion else None,
        champion_metrics=champion_metrics,
        trained_on=trained_on,
        champion_note=champion_note,
    )
