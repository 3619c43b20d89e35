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
        "accuracy ≥ 0.75, ROC AUC ≥ 0.70, PR AUC ≥ 2× base rate, Brier below no-skill, balanced accuracy "
        "≥ 0.65 (thresholds from settings), and no metric worse than the champion's beyond its noise margin."
    ),
)
def accuracy_gate(ml_model, mlflow_tracking: MlflowTracking, model_policy: ModelPolicy) -> dg.AssetCheckResult:
    from viral_pipeline.engine.gate import GateThresholds, evaluate_gate
    from viral_pipeline.ml.tracking import record_gate_verdict

    thresholds = GateThresholds(
        min_accuracy=model_policy.gate_min_accuracy,
        min_roc_auc=model_policy.gate_min_roc_auc,
        min_pr_auc_over_base_rate=model_policy.gate_min_pr_auc_lift,
        min_balanced_accuracy=model_policy.gate_min_balanced_accuracy,
    )
    result = evaluate_gate(ml_model.metrics, thresholds, ml_model.champion_metrics, ml_model.margins)
    # The verdict travels with the model version: champion_model promotes only a version
    # tagged 'passed', whichever run selects it.
    record_gate_verdict(mlflow_tracking.client(), ml_model.model_name, ml_model.model_version, result.passed)
    failed = [check.name for check in result.checks if not check.passed]
    log.info("accuracy gate evaluated", model_version=ml_model.model_version, passed=result.passed, failed=failed)
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="passed" if result.passed else "failed: " + ", ".join(failed),
        metadata={"model_version": dg.MetadataValue.text(ml_model.model_version), **result.metadata()},
    )
