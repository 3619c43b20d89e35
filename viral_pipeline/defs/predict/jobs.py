"""The `predict` job: one run per request, in-process, outputs kept in memory."""

import dagster as dg

from viral_pipeline.defs.predict.ops import (
    aggregate,
    calibrate,
    judges,
    ml,
    normalize,
    persist,
    rules,
    trends,
)
from viral_pipeline.engine.signals.aggregate import SignalName


@dg.job(
    executor_def=dg.in_process_executor,
    # Outputs live in memory (predict_io_manager), so a run retry re-executes every step
    # (ALL_STEPS), which persist's write-once rule makes safe. A run takes seconds: one still
    # going after 5 minutes has a dead worker, and run monitoring (dagster.yaml) fails it.
    tags={"dagster/retry_strategy": "ALL_STEPS", "dagster/max_runtime": "300"},
    description="Score one prediction request with five signals; cost and duration recorded for "
    "every op, and for each of the two LLM judges, which run at once.",
)
def predict() -> None:
    request = normalize()
    # The in-process executor runs one op at a time: `judges` calls both judges side by side.
    gemini, deepseek = judges(request)
    # Keyed by signal name: `aggregate` takes each signal's stage under that name.
    scored = {
        SignalName.RULES: rules(request),
        SignalName.TRENDS: trends(request),
        SignalName.GEMINI: gemini,
        SignalName.DEEPSEEK: deepseek,
    }
    scored[SignalName.ML] = ml(request, scored[SignalName.TRENDS])
    # A failing op marks its request failed itself (see stage.StageTimer). The late ops take one
    # input each: the stages they need travel along in each value's lineage.
    persist(calibrate(aggregate(**scored)))
