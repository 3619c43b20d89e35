"""Weekly retraining of both models (also launchable on demand: retrain_models_job in the UI)."""

import dagster as dg

from viral_pipeline.defs.ml.jobs import retrain_models_job
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


@dg.schedule(
    job=retrain_models_job,
    cron_schedule="0 4 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain the classifier and the update model every Monday 04:00 UTC; each one's "
    "gate decides whether it serves.",
)
def retrain_ml(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    log.info("schedule tick", schedule="retrain_ml", scheduled=scheduled.isoformat())
    return dg.RunRequest(run_key=scheduled.isoformat())
