"""Hourly collection of the outcomes of predicted videos (running by default)."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.outcomes.jobs import evaluate_predictions_job
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


@dg.schedule(
    job=evaluate_predictions_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: collect outcomes of predictions whose video is known and whose tier is due.",
)
def evaluate_predictions(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    log.info("schedule tick", schedule="evaluate_predictions", scheduled=scheduled.isoformat())
    # The tick's time is the evaluation time: a run that starts late still collects the tiers
    # that were due at the tick, reproducibly.
    return dg.RunRequest(
        run_key=scheduled.isoformat(),
        run_config={
            **JSON_RUN_LOGS,
            "ops": {"prediction_outcomes": {"config": {"now": scheduled.isoformat()}}},
        },
    )
