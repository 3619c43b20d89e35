"""prediction_outcomes: collect what predicted videos did at their evaluation tiers."""

import time
from collections import Counter
from datetime import UTC, datetime

import dagster as dg

from viral_pipeline.defs.predict.resources import ModelServing
from viral_pipeline.defs.resources import AppDatabase, ModelPolicy, Scraper
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger, report_exception

log = get_logger(__name__)


class OutcomesConfig(dg.Config):
    now: str | None = None
    """ISO-8601 time to evaluate at (the schedule passes its tick time); default: now."""
    max_evaluations: int = 500
    """Most (prediction, tier) pairs collected per run; the rest wait for the next tick."""


def _now(config: OutcomesConfig) -> datetime:
    if not config.now:
        return datetime.now(UTC)
    from viral_pipeline.engine.timeutil import parse_utc

    return parse_utc(config.now)


@dg.asset(
    group_name="outcomes",
    kinds={"python", "sql"},
    description=(
        "Views, likes, comments and shares of predicted videos at 24h, 72h and 7d after posting, "
        "labelled viral with the training label's threshold, collected through the scraper source; "
        "at 24h and 72h, the updated probability of being viral at 7d (prediction_updates)."
    ),
)
def prediction_outcomes(
    context: dg.AssetExecutionContext,
    config: OutcomesConfig,
    app_db: AppDatabase,
    scraper: Scraper,
    model_policy: ModelPolicy,
    model_serving: ModelServing,
) -> dg.MaterializeResult:
    # Imported here, not at module level: they import pandas, and every run of every job in
    # this code location (predict's included) would pay for it at start-up.
    from viral_pipeline.engine.calibration.outcomes import TIERS
    from viral_pipeline.ml.early_view_updates import UpdatePolicy, update_after_outcome
    from viral_pipeline.store.outcomes import OutcomeError, due_evaluations, upsert_outcome

    started = time.perf_counter()
    now = _now(config)
    engine = app_db.engine()
    with bound_context(run_id=context.run.run_id, asset="prediction_outcomes"):
        scan = due_evaluations(engine, now, limit=config.max_evaluations)
        videos = list({item.video.video_id: item.video for item in scan.due}.values())
        try:
            stats = scraper.fetch_video_stats(videos, now)
        except Exception as error:
            # Nothing was written yet; the next hourly tick asks again.
            report_exception(
                error, run_id=context.run.run_id, asset="prediction_outcomes", videos=len(videos)
            )
            raise
        collected: Counter[str] = Counter()
        thresholds: dict = {}  # one read per label window, not per outcome
        skipped: Counter[str] = Counter()
        missing, viral, updated = 0, 0, 0
        policy = UpdatePolicy(
            model_serving.model_name,
            model_serving.scraper_source,
            model_serving.allow_other_source,
        )
        for item in scan.due:
            found = stats.get(item.video.video_id)
            if found is None:
                missing += 1
                log.warning(
                    "video not found by the source",
                    request_id=item.request_id,
                    video_id=item.video.video_id,
                    evaluation_tier=item.evaluation_tier,
                    source=scraper.source,
                )
                continue
            try:
                written = upsert_outcome(
                    engine,
                    request_id=item.request_id,
                    evaluation_tier=item.evaluation_tier,
                    views=found.views,
                    likes=found.likes,
                    comments=found.comments,
                    shares=found.shares,
                    video_id=item.video.video_id,
                    source=scraper.source,
                    quantile=model_policy.viral_quantile,
                    window_days=model_policy.label_window_days,
                    now=now,
                    thresholds=thresholds,
                )
            except OutcomeError as error:
                # No threshold yet (nothing scraped for that window), or the video changed meanwhile.
                skipped[error.kind] += 1
                log.warning(
                    "outcome not recorded",
                    request_id=item.request_id,
                    evaluation_tier=item.evaluation_tier,
                    reason=str(error),
                    kind=error.kind,
                )
                continue
            collected[item.evaluation_tier] += 1
            viral += bool(written.outcome["is_viral"])
            # At 24h and 72h: the probability of being viral at 7d, now that early views are known.
            updated += (
                update_after_outcome(engine, policy, item.request_id, item.evaluation_tier, now)
                is not None
            )
        total = sum(collected.values())
        log.info(
            "outcomes collected",
            due=len(scan.due),
            collected=total,
            missing=missing,
            expired=scan.expired,
            skipped=dict(skipped),
            updated=updated,
            evaluated_at=now.isoformat(),
        )
    return dg.MaterializeResult(
        metadata={
            "due": len(scan.due),
            "collected": total,
            **{f"collected_{tier}": collected[tier] for tier in TIERS},
            "missing": missing,
            "no_threshold": skipped["no_threshold"],
            "skipped_other": sum(n for kind, n in skipped.items() if kind != "no_threshold"),
            "expired": scan.expired,
            "viral_share": round(viral / total, 4) if total else 0.0,
            "updated": updated,
            "evaluated_at": now.isoformat(),
            "source": scraper.source,
            "duration_ms": elapsed_ms(started),
        }
    )
