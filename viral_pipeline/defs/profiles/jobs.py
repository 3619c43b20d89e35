"""`scrape_creator_profile`: fetch one creator's profile through the scraper source into `creators`."""

import time

import dagster as dg

from viral_pipeline.defs.queue_sensors import PROFILE_QUEUE
from viral_pipeline.defs.resources import AppDatabase, Scraper
from viral_pipeline.defs.run_slots import RunSlot, background_run_tags
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger, report_exception

log = get_logger(__name__)


class ProfileScrapeConfig(dg.Config):
    request_id: str


@dg.op(
    description="Fetch the profile (simulated world or Apify actor), upsert it into creators as source 'profile'."
)
def scrape_profile(
    context: dg.OpExecutionContext,
    config: ProfileScrapeConfig,
    app_db: AppDatabase,
    scraper: Scraper,
) -> dg.Output:
    from viral_pipeline.engine.inputs.creators import follower_tier
    from viral_pipeline.engine.inputs.profiles import ProfileNotFound
    from viral_pipeline.store.profiles import (
        get_profile_request,
        mark_profile_failed,
        mark_profile_running,
        mark_profile_succeeded,
        upsert_profile,
    )
    from viral_pipeline.store.queues import SUCCEEDED

    started = time.perf_counter()
    engine = app_db.engine()
    with bound_context(run_id=context.run.run_id, request_id=config.request_id):
        row = get_profile_request(engine, config.request_id)
        if row is None:
            raise dg.Failure(f"unknown profile request {config.request_id}")
        handle = row["handle"]
        if not mark_profile_running(engine, config.request_id, context.run.run_id):
            # Already succeeded, or (on a run retry of a failed request) superseded by a newer
            # request of its caller for the same handle, which scrapes it instead.
            now = get_profile_request(engine, config.request_id)
            outcome = "already_succeeded" if now and now["status"] == SUCCEEDED else "superseded"
            log.info("profile request not scraped again", handle=handle, outcome=outcome)
            return dg.Output({"outcome": outcome}, metadata={"outcome": outcome})
        try:
            profile = scraper.fetch_profile(handle)
        except ProfileNotFound as missing:
            # An answer, not an error: the request fails with the reason, and a retry would not help.
            mark_profile_failed(engine, config.request_id, str(missing))
            log.warning(
                "creator profile not found",
                handle=handle,
                reason=missing.reason,
                source=scraper.source,
            )
            return dg.Output(
                {"outcome": "not_found"},
                metadata={
                    "outcome": "not_found",
                    "reason": missing.reason,
                    "duration_ms": elapsed_ms(started),
                },
            )
        upsert_profile(engine, profile)
        mark_profile_succeeded(engine, config.request_id)
        tier = follower_tier(profile.followers)
        log.info(
            "creator profile stored",
            handle=profile.handle,
            author_id=profile.author_id,
            followers=profile.followers,
            verified=profile.verified,
            follower_tier=tier,
            source=scraper.source,
        )
    metadata = {
        "outcome": "succeeded",
        "handle": profile.handle,
        "author_id": profile.author_id,
        "follower_tier": tier or "unknown",
        "duration_ms": elapsed_ms(started),
    }
    if profile.followers is not None:
        metadata["followers"] = profile.followers
    if profile.verified is not None:
        metadata["verified"] = profile.verified
    return dg.Output({"outcome": "succeeded", "author_id": profile.author_id}, metadata=metadata)


@dg.failure_hook(required_resource_keys={"app_db"})
def mark_profile_request_failed(context: dg.HookContext) -> None:
    """A failing scrape (Apify down, say) marks its request failed (a run retry flips it back) and tells Sentry."""
    from viral_pipeline.store.profiles import mark_profile_failed

    run = context.instance.get_run_by_id(context.run_id)
    request_id = run.tags.get(PROFILE_QUEUE.tag) if run else None
    error = context.op_exception or RuntimeError(f"op {context.op.name} failed")
    if request_id:
        mark_profile_failed(
            context.resources.app_db.engine(), request_id, f"{context.op.name}: {error}"
        )
    report_exception(error, request_id=request_id, stage=context.op.name)


@dg.job(
    executor_def=dg.in_process_executor,
    hooks={mark_profile_request_failed},
    # A run longer than this has a dead worker (the Apify wait is bounded at 15 min): run
    # monitoring (dagster.yaml) fails it, so it cannot hold a run slot for ever. It runs in the
    # background lane, and its run slot bounds how many profile scrapes run at once.
    tags={"dagster/max_runtime": "1200", **background_run_tags(RunSlot.PROFILE_SCRAPE)},
    description="Scrape one creator's profile (followers, verified, author id) into creators; one run per request.",
)
def scrape_creator_profile() -> None:
    scrape_profile()
