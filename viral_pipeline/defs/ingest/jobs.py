"""Jobs of the ingestion assets, for the schedules and sensors, bootstrap and the UI."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.ingest.assets import creator_profiles, scraped_videos, trending_sounds
from viral_pipeline.defs.run_slots import RunSlot, background_run_tags

scrape_job = dg.define_asset_job(
    "scrape_job",
    selection=[scraped_videos],
    config=JSON_RUN_LOGS,
    tags=background_run_tags(RunSlot.SCRAPE),
    description="Scrape one day's videos (or ingest one finished Apify run) into scraped_videos.",
)
trending_sounds_job = dg.define_asset_job(
    "trending_sounds_job",
    selection=[trending_sounds],
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    # After each scrape its automation condition recomputes it; this job is for bootstrap and
    # for a recompute by hand (with `lookback_days`, say).
    description="Recompute trending_sounds from scraped_videos (in SQL).",
)
creator_profiles_job = dg.define_asset_job(
    "creator_profiles_job",
    selection=[creator_profiles],
    config=JSON_RUN_LOGS,
    tags=background_run_tags(),
    description="Refresh follower counts and tiers in creators.",
)
