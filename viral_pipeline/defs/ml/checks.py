"""accuracy_gate: the blocking check a model version must pass before it may serve."""

import dagster as dg

from viral_pipeline.defs.ml.assets import ml_model
from viral_pipeline.defs.resources import MlflowTracking, ModelPolicy
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


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
    from viral_pipeline.ml.tracking import record_gate_verdict

    result = evaluate_gate(
        ml_model.metrics,
        model_policy.gate_thresholds(),
        ml_model.champion_metrics,
        ml_model.margins,
        notes=[ml_model.champion_note],
    )
    failed = [check.name for check in result.failed]
    # The verdict travels with the model version: champion_model promotes only a version
    # tagged 'passed', whichever run selects it.
    record_gate_verdict(
        mlflow_tracking.client(),
        ml_model.model_name,
        ml_model.model_version,
        result.passed,
        ",".join(failed),
    )
    log.info(
        "accuracy gate evaluated",
        model_version=ml_model.model_version,
        passed=result.passed,
        failed=failed,
    )
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="passed" if result.passed else "failed: " + ", ".join(failed),
        metadata={
            "model_version": dg.MetadataValue.text(ml_model.model_version),
            "trained_on": ml_model.trained_on.describe(),
            **result.metadata(),
        },
    )
