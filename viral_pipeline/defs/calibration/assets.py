"""platt_calibration → (calibration_improves, blocking) → serving_calibration; and calibration_audit.

platt_calibration only fits and measures: it never stores parameters where predictions read
them. serving_calibration stores them, and only for a fit that passes the rule of
calibration_improves, which it applies again itself: in one run a failing blocking check skips
it, and a later run that selects only serving_calibration still cannot publish a failing fit.
"""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from viral_pipeline.defs.calibration.resources import CalibrationPolicy
from viral_pipeline.defs.gated_fits import fitted_output, publish_decision
from viral_pipeline.defs.resources import AppDatabase, MlflowTracking
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger

log = get_logger(__name__)


def _newest_model_version(pairs) -> str | None:
    """The model of the newest prediction: what the fit is for (the serving champion)."""
    return next((pair.model_version for pair in reversed(pairs) if pair.model_version), None)


@dg.asset(
    group_name="calibration",
    kinds={"numpy", "mlflow"},
    description="Platt scaling of the aggregate on (raw probability, outcome) pairs of the configured tier; "
    "ECE before and after, measured by cross-fitting. Publishes nothing itself.",
)
def platt_calibration(
    context: dg.AssetExecutionContext,
    app_db: AppDatabase,
    calibration_policy: CalibrationPolicy,
    mlflow_tracking: MlflowTracking,
) -> dg.Output:
    from viral_pipeline.engine.calibration.platt import PlattParams
    from viral_pipeline.engine.calibration.platt_fit import (
        PlattCandidate,
        fit_calibration,
        platt_version,
    )
    from viral_pipeline.store.calibration import load_calibration_pairs

    started = time.perf_counter()
    tier, minimum = calibration_policy.tier, calibration_policy.min_outcomes
    with bound_context(run_id=context.run.run_id, asset="platt_calibration"):
        pairs = load_calibration_pairs(app_db.engine(), tier)
        if len(pairs) < minimum:
            reason = (
                f"calibration not yet possible: {len(pairs)} outcomes of tier {tier} with a raw probability, "
                f"{minimum} needed; predictions stay uncalibrated"
            )
            log.info("platt calibration skipped", n=len(pairs), min_outcomes=minimum, tier=tier)
            candidate = PlattCandidate(tier, len(pairs), minimum, reason=reason)
            return dg.Output(
                candidate,
                metadata={
                    "fitted": False,
                    "n": len(pairs),
                    "min_outcomes": minimum,
                    "evaluation_tier": tier,
                    "reason": reason,
                    "duration_ms": elapsed_ms(started),
                },
            )
        from viral_pipeline.ml.calibration_tracking import fit_metrics, log_calibration_run

        fitted_at = datetime.now(UTC)
        version = platt_version(tier, fitted_at)
        model_version = _newest_model_version(pairs)
        fit = fit_calibration([p.raw_probability for p in pairs], [p.is_viral for p in pairs])
        try:
            params = PlattParams(
                a=fit.a,
                b=fit.b,
                version=version,
                fitted_at=fitted_at,
                n_outcomes=fit.n,
                ece_before=fit.ece_before,
                ece_after=fit.ece_after,
                model_version=model_version,
            )
            reason = "fitted"
        except ValueError as error:  # a slope that is not negative: the fit cannot serve
            params, reason = None, f"fitted parameters are not valid: {str(error).splitlines()[0]}"
        run_id, diagram = log_calibration_run(
            fit,
            version=version,
            tier=tier,
            model_version=model_version,
            tracking_uri=mlflow_tracking.tracking_uri,
            artifact_root=mlflow_tracking.artifact_root,
        )
        log.info(
            "platt calibration fitted",
            version=version,
            n=fit.n,
            a=fit.a,
            b=fit.b,
            ece_before=fit.ece_before,
            ece_after=fit.ece_after,
            noise_floor=fit.noise_floor,
            mlflow_run_id=run_id,
        )
    candidate = PlattCandidate(
        tier, fit.n, minimum, fit=fit, params=params, mlflow_run_id=run_id, reason=reason
    )
    return fitted_output(
        candidate,
        version=version,
        model_version=model_version,
        tier=tier,
        min_outcomes=minimum,
        figures=fit_metrics(fit),
        diagram=diagram,
        started=started,
    )


@dg.asset(
    group_name="calibration",
    description="Stores the newest fit in platt_calibrations, where predictions read it, only if it passes "
    "calibration_improves' rule; otherwise the previous version (or none) keeps serving.",
)
def serving_calibration(
    context: dg.AssetExecutionContext, platt_calibration, app_db: AppDatabase
) -> dg.MaterializeResult:
    from viral_pipeline.store.calibration import has_platt_version, latest_platt, save_platt_params

    engine = app_db.engine()
    candidate = platt_calibration
    published, reason = publish_decision(
        candidate,
        "calibration_improves",
        version=candidate.params.version if candidate.params else None,
        stored=lambda version: has_platt_version(engine, version),
        save=lambda: save_platt_params(engine, candidate.params, candidate.tier),
        keeps_serving="the previous version keeps serving",
    )
    serving = latest_platt(engine)
    with bound_context(run_id=context.run.run_id, asset="serving_calibration"):
        log.info(
            "calibration serving decided",
            published=published,
            serving=serving.version if serving else None,
            reason=reason,
        )
    return dg.MaterializeResult(
        metadata={
            "published": published,
            "serving_version": serving.version if serving else "none",
            "reason": reason,
        }
    )


@dg.asset(
    group_name="calibration",
    description="ECE of recent predictions' served probabilities against their outcomes of the configured tier "
    "(CALIBRATION_AUDIT_WINDOW_DAYS back), recorded in calibration_audits: drift over time.",
)
def calibration_audit(
    context: dg.AssetExecutionContext, app_db: AppDatabase, calibration_policy: CalibrationPolicy
) -> dg.MaterializeResult:
    from viral_pipeline.engine.calibration.maths import ece_noise_floor, expected_calibration_error
    from viral_pipeline.engine.calibration.platt_fit import N_BINS
    from viral_pipeline.store.calibration import latest_platt, load_calibration_pairs, record_audit

    engine = app_db.engine()
    tier, window = calibration_policy.tier, calibration_policy.audit_window_days
    recent = load_calibration_pairs(engine, tier, since=datetime.now(UTC) - timedelta(days=window))
    # A prediction that gave no probability (null, with its reason) has nothing to audit.
    pairs = [pair for pair in recent if pair.served_probability is not None]
    served = [
        float(pair.served_probability) for pair in pairs if pair.served_probability is not None
    ]
    labels = [pair.is_viral for pair in pairs]
    figures: dict[str, float] = {}
    if pairs:
        figures = {
            "ece": expected_calibration_error(labels, served, N_BINS, "uniform"),
            "ece_equal_mass": expected_calibration_error(labels, served, N_BINS, "quantile"),
            "noise_floor": ece_noise_floor(len(pairs), N_BINS, y_prob=served),
        }
    serving = latest_platt(engine)
    record_audit(
        engine,
        tier=tier,
        window_days=window,
        n_outcomes=len(pairs),
        ece=figures.get("ece"),
        ece_equal_mass=figures.get("ece_equal_mass"),
        noise_floor=figures.get("noise_floor"),
        platt_version=serving.version if serving else None,
    )
    calibrated = sum(1 for pair in pairs if pair.platt_version)
    with bound_context(run_id=context.run.run_id, asset="calibration_audit"):
        log.info("calibration audited", tier=tier, window_days=window, n=len(pairs), **figures)
    return dg.MaterializeResult(
        metadata={
            "n_outcomes": len(pairs),
            "calibrated_predictions": calibrated,
            "evaluation_tier": tier,
            "outcomes_without_probability": len(recent) - len(pairs),
            "window_days": window,
            **{key: round(value, 6) for key, value in figures.items()},
            "serving_version": serving.version if serving else "none",
        }
    )
