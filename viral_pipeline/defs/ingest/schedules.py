"""Ingestion crons, running by default: scrape every 6 hours, refresh creator profiles daily."""

import dagster as dg

from viral_pipeline.defs.ingest.jobs import creator_profiles_job, scrape_job
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


@dg.schedule(
    job=scrape_job,
    cron_schedule="0 */6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Scrape trending videos every 6 hours into the partition of the scheduled day.",
)
def scrape_trending(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    partition_key = scheduled.strftime("%Y-%m-%d")
    log.info(
        "schedule tick",
        schedule="scrape_trending",
        partition=partition_key,
        scheduled=scheduled.isoformat(),
    )
    # Four scrapes a day refresh the same partition: the loader upserts, so stats just get newer.
    return dg.RunRequest(run_key=scheduled.isoformat(), partition_key=partition_key)


@dg.schedule(
    job=creator_profiles_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh creator follower counts and tiers daily.",
)
def refresh_creator_profiles(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    log.info("schedule tick", schedule="refresh_creator_profiles", scheduled=scheduled.isoformat())
    return dg.RunRequest(run_key=scheduled.isoformat())
