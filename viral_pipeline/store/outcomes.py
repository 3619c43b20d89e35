"""Outcomes of predicted videos: one row per (request, evaluation tier), upserted.

The viral threshold comes from `scraped_videos` with the training label's definition
(engine/calibration/outcomes.py). When the posting window has fewer than MIN_THRESHOLD_VIDEOS scraped videos,
the most recent earlier window with enough is used, and the label definition says so. When no
window has enough, there is no honest label: the write is refused (`no_threshold`) and nothing
is stored; the API answers 409 and the schedule retries on its next tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.calibration.outcomes import (
    MIN_THRESHOLD_VIDEOS,
    TIERS,
    VideoToCollect,
    ViralThreshold,
    collectable_tiers,
    due_tiers,
    posting_window,
    prediction_posted_at,
    tier_age,
    viral_threshold,
    window_bounds,
)
from viral_pipeline.engine.timeutil import as_utc as _utc
from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.queues import SUCCEEDED, request_match
from viral_pipeline.store.schema import outcomes, prediction_requests, scraped_videos
from viral_pipeline.store.trends import DAY_NUMBER_SQL

# Requests created longer ago than this are not scanned for due tiers (the last window closes
# after 10.5 days; the margin covers requests whose video was posted after the prediction).
LOOKBACK_DAYS = 30


class OutcomeError(Exception):
    """A write the caller must be told about; `kind` is unknown_request, not_succeeded,
    video_conflict, no_video or no_threshold."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class OutcomeWrite:
    outcome: dict[str, Any]
    created: bool  # False: an existing (request, tier) row was updated


def _window_plays(connection: sa.Connection, window: date, window_days: int) -> list[int]:
    start, end = window_bounds(window, window_days)
    v = scraped_videos.c
    query = sa.select(v.play_count).where(v.posted_at >= start, v.posted_at < end)
    return [int(plays) for plays in connection.execute(query).scalars()]


def _latest_full_window_before(
    connection: sa.Connection, before: date, window_days: int, min_videos: int
) -> date | None:
    day_no = f"({DAY_NUMBER_SQL[connection.dialect.name]})"
    # Inline integers (not bound parameters), so GROUP BY and SELECT carry the same expression.
    window_no: sa.ColumnElement[Any] = sa.literal_column(
        f"({day_no} - {day_no} % {int(window_days)})"
    ).label("window_no")
    start, _ = window_bounds(before, window_days)
    query = (
        sa.select(window_no)
        .select_from(scraped_videos)
        .where(scraped_videos.c.posted_at < start)
        .group_by(window_no)
        .having(sa.func.count() >= min_videos)
        .order_by(window_no.desc())
        .limit(1)
    )
    found = connection.execute(query).scalar()
    return None if found is None else date(1970, 1, 1) + timedelta(days=int(found))


def viral_threshold_for(
    connection: sa.Connection,
    posted_at: datetime,
    *,
    quantile: float,
    window_days: int = 1,
    min_videos: int = MIN_THRESHOLD_VIDEOS,
) -> ViralThreshold | None:
    """The viral threshold for a video posted at `posted_at`, or None when no window qualifies."""
    posting = posting_window(posted_at, window_days)
    plays = _window_plays(connection, posting, window_days)
    window = posting
    if len(plays) < min_videos:
        earlier = _latest_full_window_before(connection, posting, window_days, min_videos)
        if earlier is None:
            return None
        window, plays = earlier, _window_plays(connection, earlier, window_days)
    return viral_threshold(
        plays, window=window, posting=posting, quantile=quantile, window_days=window_days
    )


def _request_row(connection: sa.Connection, request_id: str, caller: str | None = None) -> Any:
    return connection.execute(
        sa.select(prediction_requests).where(request_match(prediction_requests, request_id, caller))
    ).first()


def _bind_video(
    connection: sa.Connection, row: Any, video_id: str | None, video_url: str | None
) -> tuple[str | None, str | None]:
    """The request's video after this announcement. The one rule for both ways a video arrives
    (an outcome, or `set_prediction_video`): another video may replace the bound one only while no
    outcome has been stored for it."""
    if video_id is None:
        return row.video_id, row.video_url
    if row.video_id is not None and row.video_id != video_id:
        stored = connection.execute(
            sa.select(sa.func.count())
            .select_from(outcomes)
            .where(outcomes.c.request_id == row.request_id)
        ).scalar()
        if stored:
            raise OutcomeError(
                "video_conflict",
                (
                    f"prediction {row.request_id} is already bound to video {row.video_id}, not {video_id}: "
                    f"it already has {stored} outcome(s)"
                ),
            )
    url = video_url or (row.video_url if row.video_id == video_id else None)
    if row.video_id != video_id or row.video_url != url:
        connection.execute(
            sa.update(prediction_requests)
            .where(prediction_requests.c.id == row.id)
            .values(video_id=video_id, video_url=url)
        )
    return video_id, url


def upsert_outcome(
    engine: sa.Engine,
    *,
    request_id: str,
    evaluation_tier: str,
    views: int,
    likes: int | None = None,
    comments: int | None = None,
    shares: int | None = None,
    video_id: str | None = None,
    video_url: str | None = None,
    source: str = "api",
    quantile: float = 0.9,
    window_days: int = 1,
    now: datetime | None = None,
    thresholds: dict[tuple[date, float, int], ViralThreshold | None] | None = None,
    caller: str | None = None,
) -> OutcomeWrite:
    """Record (or update) what the predicted video did at `evaluation_tier`, labelled viral or not.

    `video_id` (digits) binds the prediction to its video (see `_bind_video`: a different id than
    the one bound is a `video_conflict` once an outcome is stored). Counts left out on a repeat keep their stored value.
    Raises OutcomeError, storing nothing, for an unknown or unfinished request, a missing video
    or when no viral threshold can be computed. `thresholds`, when given, keeps each label
    window's threshold for the caller's next writes: a collection run writes hundreds of outcomes
    from a few windows, and each threshold reads every play count of its window. With `caller`
    (the API), a request that caller does not own is unknown: one caller's id never lets another
    label it.
    """
    tier_age(evaluation_tier)  # rejects an unknown tier
    now = _utc(now or datetime.now(UTC))
    with engine.begin() as connection:
        row = _request_row(connection, request_id, caller)
        if row is None:
            raise OutcomeError("unknown_request", f"no prediction request {request_id}")
        if row.status != SUCCEEDED:
            raise OutcomeError(
                "not_succeeded",
                f"prediction {request_id} is {row.status}, not succeeded: "
                "outcomes are recorded for succeeded predictions only",
            )
        video_id, video_url = _bind_video(connection, row, video_id, video_url)
        if video_id is None:
            raise OutcomeError(
                "no_video",
                "video_id or video_url is required: no video is recorded for this prediction",
            )
        posted_at = prediction_posted_at(row.payload, row.created_at)
        window = (posting_window(posted_at, window_days), quantile, window_days)
        if thresholds is not None and window in thresholds:
            threshold = thresholds[window]
        else:
            threshold = viral_threshold_for(
                connection, posted_at, quantile=quantile, window_days=window_days
            )
            if thresholds is not None:
                thresholds[window] = threshold
        if threshold is None:
            raise OutcomeError(
                "no_threshold",
                (
                    f"no viral threshold: scraped_videos has no window of {window_days} day(s) with at least "
                    f"{MIN_THRESHOLD_VIDEOS} videos at or before {posted_at.date().isoformat()}; scrape first"
                ),
            )
        key = sa.and_(
            outcomes.c.request_id == request_id, outcomes.c.evaluation_tier == evaluation_tier
        )
        existed = connection.execute(sa.select(outcomes.c.id).where(key)).first() is not None
        values = {
            "request_id": request_id,
            "evaluation_tier": evaluation_tier,
            "video_id": video_id,
            "video_url": video_url,
            "views": int(views),
            "likes": likes,
            "comments": comments,
            "shares": shares,
            "is_viral": threshold.is_viral(int(views)),
            "viral_threshold_views": threshold.views,
            "label_definition": threshold.definition(),
            "source": source,
            "observed_at": now,
            "updated_at": now,
        }
        insert = dialect_insert(connection, outcomes)
        keep_if_missing = {"likes", "comments", "shares"}
        statement = insert.values(**values).on_conflict_do_update(
            index_elements=["request_id", "evaluation_tier"],
            set_={
                name: (
                    sa.func.coalesce(insert.excluded[name], outcomes.c[name])
                    if name in keep_if_missing
                    else insert.excluded[name]
                )
                for name in values
                if name not in ("request_id", "evaluation_tier")
            },
        )
        connection.execute(statement)
        stored = connection.execute(sa.select(outcomes).where(key)).one()
    return OutcomeWrite(outcome=dict(stored._mapping), created=not existed)


def set_prediction_video(
    engine: sa.Engine,
    request_id: str,
    video_id: str,
    video_url: str | None,
    caller: str | None = None,
) -> dict[str, Any]:
    """Announce the posted video of a prediction (any status): evaluate_predictions then collects
    its outcomes. Re-announcing another video is allowed until an outcome has been stored. With
    `caller`, a request that caller does not own is unknown."""
    with engine.begin() as connection:
        row = _request_row(connection, request_id, caller)
        if row is None:
            raise OutcomeError("unknown_request", f"no prediction request {request_id}")
        _bind_video(connection, row, video_id, video_url)
        return dict(_request_row(connection, request_id)._mapping)


def outcomes_of(engine: sa.Engine, request_id: str) -> list[dict[str, Any]]:
    order = sa.case({tier: i for i, tier in enumerate(TIERS)}, value=outcomes.c.evaluation_tier)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(outcomes).where(outcomes.c.request_id == request_id).order_by(order)
        )
        return [dict(row._mapping) for row in rows]


@dataclass(frozen=True)
class DueEvaluation:
    request_id: str
    evaluation_tier: str
    video: VideoToCollect


@dataclass
class DueScan:
    due: list[DueEvaluation] = field(default_factory=list)
    expired: int = 0  # tiers whose collection window closed without an outcome


def due_evaluations(engine: sa.Engine, now: datetime, *, limit: int = 500) -> DueScan:
    """Succeeded predictions with a known video whose tier is due, still open, and not recorded yet."""
    now = _utc(now)
    r = prediction_requests.c
    recorded = (
        sa.select(sa.func.count())
        .select_from(outcomes)
        .where(outcomes.c.request_id == r.request_id)
        .scalar_subquery()
    )
    query = (
        sa.select(r.request_id, r.payload, r.created_at, r.video_id, r.video_url)
        .where(
            r.status == SUCCEEDED,
            r.video_id.is_not(None),
            r.created_at >= now - timedelta(days=LOOKBACK_DAYS),
            recorded < len(TIERS),
        )
        .order_by(r.id)
    )
    scan = DueScan()
    with engine.connect() as connection:
        requests = connection.execute(query).all()
        done: dict[str, set[str]] = {}
        ids = [row.request_id for row in requests]
        for start in range(0, len(ids), 500):  # bounded IN lists
            chunk = ids[start : start + 500]
            for request_id, tier in connection.execute(
                sa.select(outcomes.c.request_id, outcomes.c.evaluation_tier).where(
                    outcomes.c.request_id.in_(chunk)
                )
            ):
                done.setdefault(request_id, set()).add(tier)
    for row in requests:
        posted_at = prediction_posted_at(row.payload, row.created_at)
        have = done.get(row.request_id, set())
        open_now = set(collectable_tiers(posted_at, now))
        for tier in due_tiers(posted_at, now):
            if tier in have:
                continue
            if tier not in open_now:
                scan.expired += 1
            elif len(scan.due) < limit:
                video = VideoToCollect(
                    video_id=row.video_id,
                    video_url=row.video_url,
                    posted_at=posted_at,
                    payload=row.payload,
                )
                scan.due.append(DueEvaluation(row.request_id, tier, video))
    return scan
