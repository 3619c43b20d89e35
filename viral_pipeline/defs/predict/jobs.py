"""The `predict` job: one run per request, in-process, outputs kept in memory."""

import dagster as dg

from viral_pipeline.defs.predict.ops import (
    aggregate,
    calibrate,
    deepseek,
    gemini,
    ml,
    normalize,
    persist,
    rules,
    trends,
)
from viral_pipeline.observability import report_exception


@dg.failure_hook(required_resource_keys={"app_db"})
def mark_request_failed(context: dg.HookContext) -> None:
    """A failing op marks its request failed (a run retry flips it back) and tells Sentry."""
    from viral_pipeline.store.predictions import mark_failed

    run = context.instance.get_run_by_id(context.run_id)
    request_id = run.tags.get("request_id") if run else None
    error = context.op_exception or RuntimeError(f"op {context.op.name} failed")
    if request_id:
        mark_failed(context.resources.app_db.engine(), request_id, f"{context.op.name}: {error}")
    report_exception(error, request_id=request_id, stage=context.op.name)


@dg.job(
    executor_def=dg.in_process_executor,
    # Outputs live in memory (predict_io_manager), so a run retry re-executes every step
    # (ALL_STEPS), which persist's write-once rule makes safe.
    tags={"dagster/retry_strategy": "ALL_STEPS"},
    hooks={mark_request_failed},
    description="Score one prediction request with five signals; cost and duration recorded for every op.",
)
def predict() -> None:
    request = normalize()
    scored = {
        "rules": rules(request),
        "trends": trends(request),
        "gemini": gemini(request),
        "deepseek": deepseek(request),
    }
    scored["ml"] = ml(request, scored["trends"])
    combined = aggregate(normalized=request, **scored)
    calibrated = calibrate(request, combined)
    persist(normalized=request, aggregate=combined, calibrate=calibrated, **scored)
