"""daily_cost_report: shortly after midnight UTC, summarise the day that just ended."""

from datetime import timedelta

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.costs.jobs import cost_report_job
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


@dg.schedule(
    job=cost_report_job,
    # 00:15, not 00:00: a predict run that finished at 23:59 has written its stages by then.
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Summarise yesterday's prediction spend (UTC) into its cost_report partition.",
)
def daily_cost_report(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    partition_key = (scheduled - timedelta(days=1)).strftime("%Y-%m-%d")
    log.info(
        "schedule tick",
        schedule="daily_cost_report",
        partition=partition_key,
        scheduled=scheduled.isoformat(),
    )
    # A partitioned run that brings config must bring the JSON logger with it.
    return dg.RunRequest(
        run_key=partition_key, partition_key=partition_key, run_config=JSON_RUN_LOGS
    )
