"""The data assets: scraped_videos (daily partitions) → creator_profiles, trending_sounds."""

import time
from datetime import date

import dagster as dg

from viral_pipeline.defs.resources import AppDatabase, Scraper
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger, report_exception
from viral_pipeline.store.creators import refresh_creator_profiles, tier_counts
from viral_pipeline.store.trends import compute_trending_sounds, top_sounds
from viral_pipeline.store.videos import ingest_items

log = get_logger(__name__)

daily_partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)


class ScrapeConfig(dg.Config):
    """Set by the Apify webhook sensor: ingest that finished run's dataset instead of scraping."""

    apify_run_id: str | None = None
    apify_dataset_id: str | None = None


class TrendsConfig(dg.Config):
    lookback_days: int | None = None
    """Recompute only the last N days (None: every day). The 7-day windows read a week further back."""


@dg.asset(
    partitions_def=daily_partitions,
    group_name="ingest",
    kinds={"python", "sql"},
    description="One row per TikTok video (latest stats, first and last seen), upserted per daily scrape.",
)
def scraped_videos(
    context: dg.AssetExecutionContext,
    config: ScrapeConfig,
    app_db: AppDatabase,
    scraper: Scraper,
) -> dg.MaterializeResult:
    started = time.perf_counter()
    day = date.fromisoformat(context.partition_key)
    with bound_context(
        run_id=context.run.run_id, asset="scraped_videos", partition=context.partition_key
    ):
        if config.apify_dataset_id:
            source, batch = "apify", config.apify_run_id or config.apify_dataset_id
            items = scraper.fetch_dataset(config.apify_dataset_id)
        else:
            source, batch = scraper.source, f"{scraper.source}:{context.partition_key}"
            items = scraper.fetch_day(day)
        try:
            result = ingest_items(app_db.engine(), items, source=source, batch=batch)
        except Exception as error:
            # Chunks already loaded stay loaded; Dagster's run retries take it from here.
            report_exception(error, run_id=context.run.run_id, asset="scraped_videos", batch=batch)
            raise
        log.info(
            "scraped videos stored", source=source, stored=result.stored, rejected=result.rejected
        )
    return dg.MaterializeResult(
        metadata={
            "rows_stored": result.stored,
            "rows_rejected": result.rejected,
            "reject_reasons": dg.MetadataValue.json(result.reasons),
            "source": source,
            "batch": batch,
            "duration_ms": elapsed_ms(started),
        }
    )


@dg.asset(
    deps=[scraped_videos],
    group_name="ingest",
    kinds={"sql"},
    description="Followers, verified flag and follower tier per creator; profile scrapes win over video data.",
)
def creator_profiles(
    context: dg.AssetExecutionContext, app_db: AppDatabase
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with bound_context(run_id=context.run.run_id, asset="creator_profiles"):
        engine = app_db.engine()
        written = refresh_creator_profiles(engine)
        tiers = tier_counts(engine)
        log.info("creator profiles refreshed", written=written, tiers=tiers)
    return dg.MaterializeResult(
        metadata={
            "rows_written": written,
            "creators": sum(tiers.values()),
            **{f"tier_{tier}": count for tier, count in sorted(tiers.items())},
            "duration_ms": elapsed_ms(started),
        }
    )


# Trends depend on nothing but the scrape: recompute once after scraped_videos is updated,
# whatever launched the scrape (the schedule, the webhook, a backfill), when no scrape is still
# running, so a backfill of several days is followed by one recompute. A cron would recompute
# with nothing new, or lag a scrape that came early, late or from a webhook. Not `eager()`: it
# also waits until no partition of scraped_videos is missing, and the days before the first
# scrape always are. The `trending_sounds_after_scrape` sensor evaluates it.
AFTER_EACH_SCRAPE = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after each scrape")


@dg.asset(
    deps=[scraped_videos],
    group_name="ingest",
    kinds={"sql"},
    automation_condition=AFTER_EACH_SCRAPE,
    description="Per sound and day: uses, plays, engagement, growth, velocity and trend score (computed in SQL).",
)
def trending_sounds(
    context: dg.AssetExecutionContext, config: TrendsConfig, app_db: AppDatabase
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with bound_context(run_id=context.run.run_id, asset="trending_sounds"):
        engine = app_db.engine()
        since = None
        if config.lookback_days is not None:
            since = date.fromordinal(date.today().toordinal() - config.lookback_days)
        written = compute_trending_sounds(engine, since=since)
        top = top_sounds(engine, limit=10)
        log.info("trending sounds computed", rows=written, since=str(since) if since else None)
    preview = "\n".join(
        ["| sound | day | uses | growth | velocity | trend score |", "|---|---|---|---|---|---|"]
        + [
            f"| {str(row['music_name'] or row['music_id']).replace('|', '/')} | {row['day']} | {row['uses']} | "
            f"{row['growth']:.2f} | {row['velocity']:.2f} | {row['trend_score']:.2f} |"
            for row in top
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "rows_written": written,
            "top_uses": top[0]["uses"] if top else 0,
            "top_sounds": dg.MetadataValue.md(preview),
            "duration_ms": elapsed_ms(started),
        }
    )
