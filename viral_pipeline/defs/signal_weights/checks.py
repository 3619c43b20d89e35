"""learned_weights_beat_fixed: the blocking check learned signal weights must pass before they serve."""

import dagster as dg

from viral_pipeline.defs.gated_fits import check_result
from viral_pipeline.defs.resources import MlflowTracking
from viral_pipeline.defs.signal_weights.assets import signal_weights_fit


@dg.asset_check(
    asset=signal_weights_fit,
    blocking=True,
    description=(
        "Cross-fitted on held-out outcomes: the learned weights' log loss below the fixed weights' "
        "(their aggregate Platt-calibrated in the same folds) by more than MARGIN_SE "
        "(learned_weights_fit) standard errors of the paired per-outcome difference, and their "
        "Brier not above. No fit (too few "
        "outcomes): passes, nothing to serve, the fixed weights serve."
    ),
)
def learned_weights_beat_fixed(
    signal_weights_fit, mlflow_tracking: MlflowTracking
) -> dg.AssetCheckResult:
    candidate = signal_weights_fit

    def figures() -> dict:
        # Imported here: the fit module imports scikit-learn, which a predict run never loads.
        from viral_pipeline.engine.signals.learned_weights_fit import MARGIN_SE

        fit, verdict = candidate.fit, candidate.verdict()
        return {
            "n": fit.n,
            "log_loss_learned": fit.log_loss,
            "log_loss_fixed": fit.log_loss_fixed,
            "log_loss_gain": verdict.log_loss_gain,
            "log_loss_gain_se": verdict.log_loss_gain_se,
            "log_loss_margin_se": MARGIN_SE,
            "brier_learned": fit.brier,
            "brier_fixed": fit.brier_fixed,
            "brier_gain": fit.brier_fixed - fit.brier,
            "log_loss_better": verdict.log_loss_better,
            "brier_not_worse": verdict.brier_not_worse,
        }

    def tag(run_id: str, passed: bool) -> None:
        from viral_pipeline.ml.signal_weights_tracking import VERDICT_TAG

        mlflow_tracking.client().set_tag(run_id, VERDICT_TAG, "passed" if passed else "failed")

    return check_result(
        candidate,
        "learned_weights_beat_fixed",
        nothing_fitted={"n": candidate.n_outcomes, "min_outcomes": candidate.min_outcomes},
        figures=figures,
        tag=tag,
    )
