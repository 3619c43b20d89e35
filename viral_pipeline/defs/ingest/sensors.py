"""Sensors: recompute trending_sounds after each scrape; ingest Apify runs announced by webhook."""

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.ingest.assets import scraped_videos
from viral_pipeline.defs.ingest.jobs import scrape_job, trending_sounds_job
from viral_pipeline.defs.resources import AppDatabase
from viral_pipeline.observability import get_logger
from viral_pipeline.store.schema import apify_webhook_events

log = get_logger(__name__)

# A tick must finish well inside Dagster's 60 s limit; the cursor carries the rest to the next tick.
MAX_RUNS_PER_TICK = 25


@dg.asset_sensor(
    asset_key=scraped_videos.key,
    job=trending_sounds_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Recompute trending_sounds after each materialization of scraped_videos.",
)
def trending_sounds_after_scrape(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
):
    log.info(
        "sensor tick", sensor="trending_sounds_after_scrape", upstream_run_id=asset_event.run_id
    )
    # One recompute per scrape run, even when that run (a backfill) wrote several partitions.
    return dg.RunRequest(run_key=asset_event.run_id)


@dg.sensor(
    job=scrape_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ingest the dataset of each successful Apify run announced by the webhook, once.",
)
def apify_webhook_runs(context: dg.SensorEvaluationContext, app_db: AppDatabase):
    last_id = int(context.cursor or 0)
    query = (
        sa.select(apify_webhook_events)
        .where(apify_webhook_events.c.id > last_id)
        .order_by(apify_webhook_events.c.id)
        .limit(MAX_RUNS_PER_TICK)
    )
    with app_db.engine().connect() as connection:
        events = connection.execute(query).fetchall()
    requests = []
    for event in events:
        last_id = event.id
        if event.run_status != "SUCCEEDED" or not event.dataset_id:
            continue
        requests.append(
            dg.RunRequest(
                # The Apify run id: a repeated delivery (or a replayed cursor) launches nothing twice.
                run_key=event.apify_run_id,
                partition_key=event.received_at.strftime("%Y-%m-%d"),
                run_config={
                    # A partitioned job drops its default config when a run brings its own.
                    **JSON_RUN_LOGS,
                    "ops": {
                        "scraped_videos": {
                            "config": {
                                "apify_run_id": event.apify_run_id,
                                "apify_dataset_id": event.dataset_id,
                            }
                        }
                    },
                },
                tags={"apify_run_id": event.apify_run_id},
            )
        )
    log.info(
        "sensor tick", sensor="apify_webhook_runs", events=len(events), runs_requested=len(requests)
    )
    return dg.SensorResult(run_requests=requests, cursor=str(last_id))
