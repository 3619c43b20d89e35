"""calibration_improves: the blocking check a Platt fit must pass before it may serve."""

import dagster as dg

from viral_pipeline.defs.calibration.assets import platt_calibration
from viral_pipeline.defs.gated_fits import check_result
from viral_pipeline.defs.resources import MlflowTracking


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

    def figures() -> dict:
        fit, verdict = candidate.fit, candidate.verdict()
        return {
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
        }

    def tag(run_id: str, passed: bool) -> None:
        from viral_pipeline.ml.calibration_tracking import tag_verdict

        tag_verdict(mlflow_tracking.client(), run_id, passed)

    return check_result(
        candidate,
        "calibration_improves",
        nothing_fitted={"n": candidate.n_pairs, "min_outcomes": candidate.min_outcomes},
        figures=figures,
        tag=tag,
    )
