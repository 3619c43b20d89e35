"""What a blocking gate check does with its verdict, for every gated model (accuracy_gate on the
champion's versions, update_gate on the update model's): tag the version with it, so that only a
version tagged 'passed' is promoted whichever run selects the promotion, log it, and answer it
with every figure and threshold as check metadata."""

import dagster as dg

from viral_pipeline.defs.resources import MlflowTracking
from viral_pipeline.engine.model.gate import GateResult
from viral_pipeline.engine.model.provenance import Provenance
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


def gate_check_result(
    result: GateResult,
    mlflow_tracking: MlflowTracking,
    model_name: str,
    model_version: str,
    trained_on: Provenance,
    *,
    gate: str,
) -> dg.AssetCheckResult:
    from viral_pipeline.ml.tracking import record_gate_verdict

    failed = [check.name for check in result.failed]
    record_gate_verdict(
        mlflow_tracking.client(), model_name, model_version, result.passed, ",".join(failed)
    )
    log.info(
        f"{gate.replace('_', ' ')} evaluated",
        model_name=model_name,
        model_version=model_version,
        passed=result.passed,
        failed=failed,
    )
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="passed" if result.passed else "failed: " + ", ".join(failed),
        metadata={
            "model_version": dg.MetadataValue.text(model_version),
            "trained_on": trained_on.describe(),
            **result.metadata(),
        },
    )
