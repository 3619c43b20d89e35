"""update_gate: the blocking check an update model version must pass before it may serve."""

import dagster as dg

from viral_pipeline.defs.gate_checks import gate_check_result
from viral_pipeline.defs.resources import MlflowTracking, ModelPolicy
from viral_pipeline.defs.updates.assets import update_model


@dg.asset_check(
    asset=update_model,
    blocking=True,
    description=(
        "At each update tier (24h, 72h) on held-out days: the accuracy gate's rules (bootstrap lower "
        "bound of ROC AUC, ROC AUC, PR AUC over the base rate, Brier below no-skill, ECE against "
        "GATE_MAX_ECE or 2x its noise floor) and no regression beyond noise against the serving "
        "update model of the same source. Each figure and its threshold are in the metadata."
    ),
)
def update_gate(
    update_model, mlflow_tracking: MlflowTracking, model_policy: ModelPolicy
) -> dg.AssetCheckResult:
    from viral_pipeline.engine.model.update_gate import evaluate_update_gate

    result = evaluate_update_gate(
        update_model.metrics_by_tier,
        model_policy.gate_thresholds(),
        update_model.champion_by_tier,
        update_model.margins_by_tier,
        notes=[update_model.champion_note],
    )
    return gate_check_result(
        result,
        mlflow_tracking,
        update_model.model_name,
        update_model.model_version,
        update_model.trained_on,
        gate="update_gate",
    )
