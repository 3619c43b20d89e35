"""The ops of `predict`: normalize → rules, trends, judges (gemini and deepseek at once), ml →
aggregate → calibrate → persist.

Each op returns a `Staged` value (its result with duration and cost) per stage, and logs one
"stage complete" line per stage; `judges` has two stages, one per judge (defs/predict/judges.py).
Heavy libraries (scikit-learn, MLflow, rapidfuzz, httpx) are imported inside the ops that need
them: whatever a run imports at start-up is paid on every request. Every op declares itself the
same way (its decorator, its imports, a `StageTimer` around its work); what they
share, the timing, cost and lineage of a stage, lives in `StageTimer`.
"""

import dagster as dg

from viral_pipeline.defs.calibration.resources import CalibrationPolicy
from viral_pipeline.defs.predict.resources import LlmJudges, ModelServing, SignalWeights
from viral_pipeline.defs.predict.stage import Staged, StageTimer, elapsed_ms
from viral_pipeline.defs.resources import AppDatabase
from viral_pipeline.engine.signals.aggregate import LLM_SIGNALS, SIGNALS, SignalName

# Outputs stay in memory (the in-process executor runs every op in one process): nothing is
# pickled to disk between ops. A run retry re-executes every step (the job's ALL_STEPS tag).
STAGED = dg.Out(io_manager_key="predict_io_manager")
STAGE_ORDER = ("normalize", *SIGNALS, "aggregate", "calibrate")


class PredictConfig(dg.Config):
    request_id: str


@dg.op(
    out=STAGED, description="Load the stored request, mark it running, validate and normalise it."
)
def normalize(
    context: dg.OpExecutionContext, config: PredictConfig, app_db: AppDatabase
) -> dg.Output:
    from viral_pipeline.engine.inputs.request import normalize as normalize_request
    from viral_pipeline.engine.inputs.request import validate_stored
    from viral_pipeline.store.predictions import get_request, mark_running

    with StageTimer("normalize", config.request_id, app_db) as timer:
        engine = app_db.engine()
        row = get_request(engine, config.request_id)
        if row is None:
            raise dg.Failure(f"unknown request {config.request_id}")
        if not mark_running(engine, config.request_id, context.run.run_id):
            raise dg.Failure(f"request {config.request_id} already succeeded; nothing to do")
        request = normalize_request(validate_stored(row["payload"]), now=row["created_at"])
        request, followers_source = _with_known_creator(engine, request)
        return timer.output(request, followers_source=followers_source)


def _with_known_creator(engine, request):
    """Followers and badge the request left out, from `creators` (a profile scrape first); the request's win."""
    from viral_pipeline.engine.inputs.profiles import fill_creator

    if request.creator_handle is None or (
        request.followers is not None and request.verified is not None
    ):
        return fill_creator(request, None)
    from viral_pipeline.store.profiles import creator_by_handle

    return fill_creator(request, creator_by_handle(engine, request.creator_handle))


@dg.op(
    out=STAGED,
    description="Deterministic heuristics: caption and hashtag counts, duration sweet spot, posting hour.",
)
def rules(normalized: Staged, app_db: AppDatabase) -> dg.Output:
    from viral_pipeline.engine.signals.rules import score_rules

    request = normalized.value
    with StageTimer(SignalName.RULES, _request_id(normalized), app_db, (normalized,)) as timer:
        return timer.output(score_rules(request))


@dg.op(out=STAGED, description="Fuzzy match of the sound and hashtags against trending_sounds.")
def trends(normalized: Staged, app_db: AppDatabase) -> dg.Output:
    from viral_pipeline.engine.signals.trends_match import score_trends, sound_trend_score
    from viral_pipeline.store.trend_snapshot import load_trend_snapshot

    request = normalized.value
    with StageTimer(SignalName.TRENDS, _request_id(normalized), app_db, (normalized,)) as timer:
        snapshot = load_trend_snapshot(app_db.engine(), as_of=request.posted_at.date())
        signal = score_trends(request, snapshot)
        return timer.output(
            signal,
            sound_trend_score=sound_trend_score(request, snapshot),
            carry={"trend_snapshot": snapshot},  # the what-if suggestions' trending choices
        )


@dg.op(
    out={provider.value: STAGED for provider in LLM_SIGNALS},
    description="Gemini (JSON output with a response schema) and DeepSeek (any OpenAI-compatible "
    "server, JSON mode) judge the hook and caption, at once: each its own output and stage.",
)
def judges(
    normalized: Staged, llm_judges: LlmJudges, app_db: AppDatabase
) -> tuple[dg.Output, dg.Output]:
    from viral_pipeline.defs.predict.judges import judge_both

    return judge_both(normalized, llm_judges, app_db)


@dg.op(
    out=STAGED,
    description="The champion model's probability for the features known before posting, "
    "the creator's earlier videos and the recent uses of its hashtags included, and its what-if "
    "suggestions.",
)
def ml(
    normalized: Staged, trends: Staged, model_serving: ModelServing, app_db: AppDatabase
) -> dg.Output:
    from viral_pipeline.engine.inputs.request import model_row
    from viral_pipeline.engine.model import what_if
    from viral_pipeline.engine.signals.aggregate import Signal, ml_score
    from viral_pipeline.engine.signals.trends_match import TrendSnapshot
    from viral_pipeline.ml.loaded import NoChampionError

    request = normalized.value
    name = SignalName.ML
    with StageTimer(name, _request_id(normalized), app_db, (normalized, trends)) as timer:
        try:
            champion = model_serving.champion(app_db.engine())
        except NoChampionError as error:
            none = {"suggestions": what_if.unavailable(str(error))}
            return timer.output(
                Signal(name, None, False, str(error)), model_version="none", carry=none
            )
        decision = model_serving.serving_decision(champion.version, champion.trained_on)
        served = {
            "model_version": champion.version,
            "model_source_mismatch": decision.mismatch,
            "model_trained_on": champion.trained_on.as_dict() if champion.trained_on else None,
        }
        if not decision.allowed:
            # Like a missing champion: the other signals' weights are redistributed.
            none = {"suggestions": what_if.unavailable(decision.reason, champion.version)}
            return timer.output(Signal(name, None, False, decision.reason), **served, carry=none)
        # One query of the creator's videos serves the request and every candidate posting hour.
        history_at = model_serving.creator_histories(
            app_db.engine(),
            request.creator_handle,
            what_if.posting_hours(request.posted_at)[-1],
        )
        # One query counts the recent uses of the request's hashtags and of every hashtag a
        # suggestion may add.
        snapshot = trends.extra.get("trend_snapshot") or TrendSnapshot.empty()
        found = what_if.candidates(request, snapshot)
        tag_uses = model_serving.tag_uses(
            app_db.engine(), what_if.hashtags_counted(request, found), request.posted_at
        )
        trend = trends.extra.get("sound_trend_score", 0.0)
        row = model_row(request, trend, history_at(request.posted_at), tag_uses)
        probability = champion.probability(row)
        score = ml_score(probability, champion.threshold)
        reason = f"p={probability:.3f} (threshold {champion.threshold:.3f})"
        signal = Signal(
            name, score, True, f"{reason}; {decision.reason}" if decision.mismatch else reason
        )
        try:
            suggestions = what_if.suggest(
                request,
                found,
                base_probability=probability,
                snapshot=snapshot,
                history_at=history_at,
                tag_uses=tag_uses,
                score=champion.probabilities,
                model_version=champion.version,
            )
        except Exception as error:
            # Suggestions are advice on top of the prediction: their failure is reported, and
            # the prediction is served without them.
            from viral_pipeline.observability import report_exception

            report_exception(error, request_id=_request_id(normalized), stage="what_if")
            reason = f"failed: {type(error).__name__}"
            suggestions = what_if.unavailable(reason, champion.version)
        return timer.output(
            signal,
            **served,
            ml_probability=probability,
            compiled_model=champion.compiled,
            suggestions_scored=suggestions.candidates_scored,
            carry={"suggestions": suggestions},
        )


@dg.op(
    out=STAGED,
    description="Weighted mean of the available signals (unavailable weight is redistributed), "
    "and the learned weights' probability when a gated version serves.",
)
def aggregate(
    signal_weights: SignalWeights,
    calibration_policy: CalibrationPolicy,
    rules: Staged,
    trends: Staged,
    ml: Staged,
    gemini: Staged,
    deepseek: Staged,
    app_db: AppDatabase,
) -> dg.Output:
    from viral_pipeline.defs.predict.signal_weights_cache import current_learned_weights
    from viral_pipeline.engine.signals.aggregate import aggregate as combine
    from viral_pipeline.engine.signals.learned_weights import choose_weights

    scored = (rules, trends, ml, gemini, deepseek)
    request_id = _request_id(rules)
    with StageTimer("aggregate", request_id, app_db, scored) as timer:
        signals = {staged.value.name: staged.value for staged in scored}
        # Combining the signals is this op's job, whichever weights do it, so the learned
        # weights are read here (per version, cached); calibrate then only decides what may be
        # called a probability. The weighted mean of the fixed weights is computed either way:
        # it stays the 0..100 `score` (a ranking on one scale across versions) and the raw
        # probability Platt scaling fits on, the fallback whenever learned weights do not serve.
        served = choose_weights(
            current_learned_weights(app_db.engine(), request_id),
            {name: signal.score if signal.available else None for name, signal in signals.items()},
            min_outcomes=calibration_policy.min_outcomes,
            tier=calibration_policy.tier,
        )
        return timer.output(
            combine(signals, signal_weights.as_dict()),
            weights=served,
            weights_source=served.source,
            weights_version=served.version or "none",
        )


@dg.op(
    out=STAGED,
    description="A calibrated probability: the learned weights', else Platt on outcomes, else the "
    "champion's own, else none.",
)
def calibrate(aggregate: Staged, app_db: AppDatabase) -> dg.Output:
    from viral_pipeline.defs.predict.platt_cache import current_platt_params
    from viral_pipeline.engine.calibration.platt import served_probability
    from viral_pipeline.engine.signals.learned_weights import learned_probability

    request_id = _request_id(aggregate)
    with StageTimer("calibrate", request_id, app_db, (aggregate,)) as timer:
        weights = aggregate.extra["weights"]
        if weights.probability is not None:
            # Fitted on outcomes already: Platt's sigmoid on top would fit the same labels twice.
            params, served = None, learned_probability(weights)
        else:
            params = current_platt_params(app_db.engine(), request_id)
            ml = aggregate.lineage()[SignalName.ML]
            served = served_probability(
                aggregate.value.raw_probability,
                params,
                ml.extra.get("ml_probability"),
                ml.value.reason,
            )
        return timer.output(
            {"served": served, "platt_version": params.version if params else None},
            platt_version=params.version if params else "none",
            probability_source=served.source or "none",
        )


@dg.op(
    out=STAGED,
    description="Write the result once, with the per-stage duration and cost breakdown and totals.",
)
def persist(calibrate: Staged, app_db: AppDatabase) -> dg.Output:
    from viral_pipeline.engine.prediction import PredictionResult, SignalResult
    from viral_pipeline.store.predictions import mark_succeeded, record_stages

    request_id = _request_id(calibrate)
    with StageTimer("persist", request_id, app_db, (calibrate,)) as timer:
        stages = calibrate.lineage()  # every stage before this one, with its value and cost
        staged = [stages[name] for name in STAGE_ORDER]
        combined, ml = stages["aggregate"].value, stages[SignalName.ML]
        weights = stages["aggregate"].extra["weights"]
        signals = {
            name: SignalResult(
                score=stages[name].value.score,
                weight=combined.weights_used.get(name, 0.0),
                available=stages[name].value.available,
                reason=stages[name].value.reason,
                cost_cents=stages[name].cost_cents,
            )
            for name in SIGNALS
        }
        served = calibrate.value["served"]
        result = PredictionResult(
            viral_probability=None if served.probability is None else round(served.probability, 6),
            probability_source=served.source,
            probability_note=served.note,
            score=round(combined.score, 2),
            confidence=combined.confidence,
            is_calibrated=served.is_calibrated,
            raw_probability=round(combined.raw_probability, 6),
            platt_version=calibrate.value["platt_version"],
            weights_source=weights.source,
            weights_version=weights.version,
            weights_note=weights.note,
            ml_score=signals[SignalName.ML].score,
            model_version=ml.extra.get("model_version"),
            model_trained_on=ml.extra.get("model_trained_on"),
            model_source_mismatch=ml.extra.get("model_source_mismatch", False),
            signals=signals,
            notes=list(combined.notes),
            stages=[s.record() for s in staged],
            cost_cents=round(sum(s.cost_cents for s in staged), 6),
            # The judges ran side by side: the request waited for the slower one only.
            duration_ms=elapsed_ms(staged, side_by_side=LLM_SIGNALS),
            suggestions=ml.extra.get("suggestions"),
        )
        engine = app_db.engine()
        record_stages(engine, request_id, result.stages)
        written = mark_succeeded(engine, request_id, result)
        output = timer.output(result, written=written)
    # persist's own time joins the breakdown after the fact (the write it timed is done).
    record_stages(engine, request_id, [output.value.record()])
    return output


def _request_id(staged: Staged) -> str:
    return staged.request_id
