"""Sensors: recompute trending_sounds after each scrape; ingest Apify runs announced by webhook."""

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.ingest.assets import trending_sounds
from viral_pipeline.defs.ingest.jobs import scrape_job
from viral_pipeline.defs.resources import AppDatabase
from viral_pipeline.defs.run_slots import background_run_tags
from viral_pipeline.observability import get_logger
from viral_pipeline.store.schema import apify_webhook_events

log = get_logger(__name__)

# A tick must finish well inside Dagster's 60 s limit; the cursor carries the rest to the next tick.
MAX_RUNS_PER_TICK = 25

# Evaluates trending_sounds' automation condition (recompute after each scrape) every 30 s.
# Dagster's own default automation sensor starts stopped, so this one names the asset and runs
# from the start. Its runs belong to no job, so they get the background lane from the sensor.
trending_sounds_after_scrape = dg.AutomationConditionSensorDefinition(
    "trending_sounds_after_scrape",
    target=dg.AssetSelection.assets(trending_sounds),
    default_status=dg.DefaultSensorStatus.RUNNING,
    run_tags=background_run_tags(),
    minimum_interval_seconds=30,
    description="Recompute trending_sounds once after scraped_videos is updated, when no scrape is running.",
)


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
