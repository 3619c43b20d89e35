"""accuracy_gate: the blocking check a model version must pass before it may serve."""

import dagster as dg

from viral_pipeline.defs.gate_checks import gate_check_result
from viral_pipeline.defs.ml.assets import ml_model
from viral_pipeline.defs.resources import MlflowTracking, ModelPolicy


@dg.asset_check(
    asset=ml_model,
    blocking=True,
    description=(
        "Is the model informative and calibrated on held-out data of the configured source? The bootstrap 95% "
        "lower bound of ROC AUC, ROC AUC, PR AUC over the base rate and ECE against their GATE_* thresholds, "
        "Brier below no-skill, and no regression beyond noise against a champion of the same source. "
        "Accuracy is reported, not blocking. Each figure and its threshold are in the metadata."
    ),
)
def accuracy_gate(
    ml_model, mlflow_tracking: MlflowTracking, model_policy: ModelPolicy
) -> dg.AssetCheckResult:
    from viral_pipeline.engine.model.gate import evaluate_gate

    result = evaluate_gate(
        ml_model.metrics,
        model_policy.gate_thresholds(),
        ml_model.champion_metrics,
        ml_model.margins,
        notes=[ml_model.champion_note],
    )
    # The verdict travels with the model version: champion_model promotes only a version
    # tagged 'passed', whichever run selects it.
    return gate_check_result(
        result,
        mlflow_tracking,
        ml_model.model_name,
        ml_model.model_version,
        ml_model.trained_on,
        gate="accuracy_gate",
    )
