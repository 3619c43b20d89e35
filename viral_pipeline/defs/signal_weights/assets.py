"""signal_weights_fit → (learned_weights_beat_fixed, blocking) → serving_signal_weights.

signal_weights_fit only fits and measures: it never stores weights where predictions read them.
serving_signal_weights stores them, and only for a fit that passes the rule of
learned_weights_beat_fixed, which it applies again itself: a failing blocking check skips it in
the same run, and a later run that selects only serving_signal_weights still cannot publish a
failing fit. Both run in the daily calibration job, on the outcomes calibration reads (the same
tier, the same minimum).
"""

import time
from datetime import UTC, datetime

import dagster as dg

from viral_pipeline.defs.calibration.resources import CalibrationPolicy
from viral_pipeline.defs.gated_fits import fitted_output, publish_decision
from viral_pipeline.defs.predict.resources import SignalWeights
from viral_pipeline.defs.resources import AppDatabase, MlflowTracking
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger

log = get_logger(__name__)


def _not_fitted(candidate, started: float) -> dg.Output:
    return dg.Output(
        candidate,
        metadata={
            "fitted": False,
            "n": candidate.n_outcomes,
            "min_outcomes": candidate.min_outcomes,
            "evaluation_tier": candidate.tier,
            "reason": candidate.reason,
            "duration_ms": elapsed_ms(started),
        },
    )


@dg.asset(
    group_name="calibration",
    kinds={"sklearn", "mlflow"},
    description="A logistic model on the five signals' scores (an availability indicator each) fitted on "
    "reported outcomes of the calibration tier; held-out log loss and Brier against the fixed weights "
    "(Platt-calibrated in the same folds), by cross-fitting. Publishes nothing itself.",
)
def signal_weights_fit(
    context: dg.AssetExecutionContext,
    app_db: AppDatabase,
    calibration_policy: CalibrationPolicy,
    signal_weights: SignalWeights,
    mlflow_tracking: MlflowTracking,
) -> dg.Output:
    import numpy as np

    from viral_pipeline.engine.signals.learned_weights_fit import (
        WeightsCandidate,
        fit_learned_weights,
        fixed_raw_probabilities,
        learned_weights_of,
        weights_version,
    )
    from viral_pipeline.store.signal_weights import load_signal_outcomes

    started = time.perf_counter()
    tier, minimum = calibration_policy.tier, calibration_policy.min_outcomes
    fixed_weights = signal_weights.as_dict()
    with bound_context(run_id=context.run.run_id, asset="signal_weights_fit"):
        outcomes = load_signal_outcomes(app_db.engine(), tier)
        if len(outcomes) < minimum:
            reason = (
                f"learned weights not yet possible: {len(outcomes)} outcomes of tier {tier} with their "
                f"signals, {minimum} needed; the fixed weights serve"
            )
            log.info("signal weights fit skipped", n=len(outcomes), min_outcomes=minimum, tier=tier)
            return _not_fitted(
                WeightsCandidate(tier, len(outcomes), minimum, reason=reason), started
            )
        scores = np.array([outcome.scores_row() for outcome in outcomes])
        labels = np.array([outcome.is_viral for outcome in outcomes], dtype=float)
        try:
            fit = fit_learned_weights(
                scores, fixed_raw_probabilities(scores, fixed_weights), labels
            )
        except ValueError as error:  # one class only: nothing to tell apart
            reason = f"learned weights not fitted: {error}; the fixed weights serve"
            log.info("signal weights fit skipped", n=len(outcomes), reason=reason)
            return _not_fitted(
                WeightsCandidate(tier, len(outcomes), minimum, reason=reason), started
            )
        from viral_pipeline.ml.signal_weights_tracking import fit_metrics, log_weights_run

        fitted_at = datetime.now(UTC)
        version = weights_version(tier, fitted_at)
        model_version = next((o.model_version for o in reversed(outcomes) if o.model_version), None)
        try:
            weights = learned_weights_of(
                fit, version=version, fitted_at=fitted_at, tier=tier, model_version=model_version
            )
            reason = "fitted"
        except ValueError as error:  # a coefficient that is not finite: the fit cannot serve
            weights, reason = None, f"fitted weights are not valid: {str(error).splitlines()[0]}"
        run_id, diagram = log_weights_run(
            fit,
            version=version,
            tier=tier,
            model_version=model_version,
            fixed_weights=fixed_weights,
            tracking_uri=mlflow_tracking.tracking_uri,
            artifact_root=mlflow_tracking.artifact_root,
        )
        metrics = fit_metrics(fit)
        log.info("signal weights fitted", version=version, mlflow_run_id=run_id, **metrics)
    candidate = WeightsCandidate(
        tier, fit.n, minimum, fit=fit, weights=weights, mlflow_run_id=run_id, reason=reason
    )
    fixed = {f"fixed_weight_{name}": weight for name, weight in fixed_weights.items()}
    return fitted_output(
        candidate,
        version=version,
        model_version=model_version,
        tier=tier,
        min_outcomes=minimum,
        figures=metrics | fixed,
        diagram=diagram,
        started=started,
    )


@dg.asset(
    group_name="calibration",
    description="Stores the newest learned weights in signal_weight_versions, where predictions read them, only "
    "if they pass learned_weights_beat_fixed's rule; otherwise the previous version (or the fixed weights) "
    "keeps serving.",
)
def serving_signal_weights(
    context: dg.AssetExecutionContext, signal_weights_fit, app_db: AppDatabase
) -> dg.MaterializeResult:
    from viral_pipeline.engine.signals.learned_weights import learned_weights_or_error
    from viral_pipeline.store.signal_weights import (
        has_learned_weights_version,
        latest_learned_weights,
        save_learned_weights,
    )

    engine = app_db.engine()
    candidate = signal_weights_fit
    published, reason = publish_decision(
        candidate,
        "learned_weights_beat_fixed",
        version=candidate.weights.version if candidate.weights else None,
        stored=lambda version: has_learned_weights_version(engine, version),
        save=lambda: save_learned_weights(engine, candidate.weights),
        keeps_serving="the previous weights keep serving",
    )
    stored = latest_learned_weights(engine)
    serving = learned_weights_or_error(stored.params) if stored else None
    metadata: dict = {
        "published": published,
        "serving_version": stored.version if stored else "none (fixed weights)",
        "reason": reason,
    }
    if serving is not None and not isinstance(serving, Exception):  # what serves, in the UI
        metadata |= {f"score_{name}": value for name, value in serving.score_coefficients.items()}
        metadata |= {
            f"unavailable_{name}": value for name, value in serving.unavailable_coefficients.items()
        }
        metadata |= {"intercept": serving.intercept, "n": serving.n_outcomes}
    with bound_context(run_id=context.run.run_id, asset="serving_signal_weights"):
        log.info(
            "signal weights serving decided",
            published=published,
            serving=stored.version if stored else None,
            reason=reason,
        )
    return dg.MaterializeResult(metadata=metadata)
