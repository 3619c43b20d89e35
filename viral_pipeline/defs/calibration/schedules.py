"""Daily calibration: the audit and the refit run together, after the night's scrape and profiles."""

import dagster as dg

from viral_pipeline.defs.calibration.jobs import calibration_job
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


@dg.schedule(
    name="calibration_audit",
    job=calibration_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day 05:00 UTC: calibration_audit, then platt_calibration and signal_weights_fit refit, "
    "and serving_calibration and serving_signal_weights publish each fit that passed its check.",
)
def calibration_audit_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    log.info("schedule tick", schedule="calibration_audit", scheduled=scheduled.isoformat())
    return dg.RunRequest(run_key=scheduled.isoformat())
