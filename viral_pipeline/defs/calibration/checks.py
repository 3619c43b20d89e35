"""calibration_improves: the blocking check a Platt fit must pass before it may serve."""

import dagster as dg

from viral_pipeline.defs.calibration.assets import platt_calibration
from viral_pipeline.defs.resources import MlflowTracking
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


@dg.asset_check(
    asset=platt_calibration,
    blocking=True,
    description=(
        "ECE after (cross-fitted, 10 equal-width bins) ≤ ECE before, and ≤ max(0.02, 1.5 × the noise floor "
        "of a perfectly calibrated model at this n), with a negative slope. No fit (too few outcomes): passes, "
        "nothing to serve."
    ),
)
def calibration_improves(platt_calibration, mlflow_tracking: MlflowTracking) -> dg.AssetCheckResult:
    candidate = platt_calibration
    verdict = candidate.verdict()
    if verdict is None:
        return dg.AssetCheckResult(
            passed=True,
            description=f"nothing fitted: {candidate.reason}",
            metadata={
                "fitted": False,
                "n": candidate.n_pairs,
                "min_outcomes": candidate.min_outcomes,
            },
        )
    fit = candidate.fit
    passed = candidate.servable()
    if candidate.mlflow_run_id:
        from viral_pipeline.ml.calibration_tracking import tag_verdict

        tag_verdict(mlflow_tracking.client(), candidate.mlflow_run_id, passed)
    reasons = verdict.reasons if verdict.reasons else ([] if passed else [candidate.reason])
    log.info(
        "calibration_improves evaluated",
        passed=passed,
        reasons=reasons,
        n=fit.n,
        ece_before=fit.ece_before,
        ece_after=fit.ece_after,
        threshold=fit.ece_threshold,
    )
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="passed" if passed else "failed: " + "; ".join(reasons),
        metadata={
            "fitted": True,
            "n": fit.n,
            "ece_before": fit.ece_before,
            "ece_after": fit.ece_after,
            "ece_after_equal_mass": fit.ece_after_equal_mass,
            "ece_before_equal_mass": fit.ece_before_equal_mass,
            "noise_floor": fit.noise_floor,
            "ece_threshold": fit.ece_threshold,
            "a": fit.a,
            "b": fit.b,
            "no_worse_than_before": verdict.no_worse,
            "below_threshold": verdict.below_threshold,
        },
    )
