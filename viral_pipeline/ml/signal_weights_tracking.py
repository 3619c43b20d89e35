"""signal_weights_fit's MLflow run: the coefficients, held-out losses against the fixed weights,
and reliability diagrams of both (out of fold).

One run per fit in the `signal_weights` experiment, so fits can be compared in the MLflow UI like
model and Platt runs. The learned_weights_beat_fixed verdict is tagged on the run.
"""

from __future__ import annotations

from viral_pipeline.engine.calibration.platt_fit import FOLDS
from viral_pipeline.engine.signals.learned_weights import DESIGN_COLUMNS
from viral_pipeline.engine.signals.learned_weights_fit import PENALTY_C, WeightsFit
from viral_pipeline.ml.calibration_tracking import log_fit_run

EXPERIMENT = "signal_weights"
VERDICT_TAG = "learned_weights_beat_fixed"
DIAGRAMS = ("reliability_fixed.png", "reliability_learned.png")


def fit_metrics(fit: WeightsFit) -> dict[str, float]:
    """One figure per coefficient (score_<signal>, unavailable_<signal>), the intercept, n and
    the held-out losses: what the asset's metadata shows and the run logs."""
    return {
        **{column: fit.coefficient(column) for column in DESIGN_COLUMNS},
        "intercept": fit.intercept,
        "n": float(fit.n),
        "positives": float(fit.positives),
        "log_loss_learned": fit.log_loss,
        "log_loss_fixed": fit.log_loss_fixed,
        "brier_learned": fit.brier,
        "brier_fixed": fit.brier_fixed,
    }


def log_weights_run(
    fit: WeightsFit,
    *,
    version: str,
    tier: str,
    model_version: str | None,
    fixed_weights: dict[str, float],
    tracking_uri: str,
    artifact_root: str | None,
) -> tuple[str, str]:
    """(run id, artifact URI of the learned weights' reliability diagram)."""
    return log_fit_run(
        EXPERIMENT,
        params={
            "version": version,
            "evaluation_tier": tier,
            "model_version": model_version or "none",
            "cross_fit_folds": FOLDS,
            "penalty_c": PENALTY_C,
            **{f"fixed_weight_{name}": weight for name, weight in fixed_weights.items()},
        },
        metrics=fit_metrics(fit),
        diagrams=[
            (DIAGRAMS[0], fit.labels, fit.cross_fitted_fixed),
            (DIAGRAMS[1], fit.labels, fit.cross_fitted),
        ],
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
    )
