"""The training set: scraped videos old enough to be labelled, with their raw feature columns.

Each video gets the trend score its sound had on the UTC day *before* it was posted: a LEFT JOIN
on `trending_sounds` done in SQL (both dialects), so a model never sees the day it is predicting.
A sound with no trend row that day (or no sound at all) scores 0.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from viral_pipeline.engine.model.features import RAW_COLUMNS
from viral_pipeline.store.schema import scraped_videos, trending_sounds
from viral_pipeline.store.trends import DAY_FROM_NUMBER_SQL, DAY_NUMBER_SQL

# posted_at is also a raw column: it appears once, in this position.
LABELLED_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(("video_id", "author_id", "posted_at", "play_count", *RAW_COLUMNS))
)


def _day_before_posting(dialect: str) -> sa.ColumnElement:
    """SQL for the UTC calendar day before `scraped_videos.posted_at`, comparable with trending_sounds.day."""
    # posted_at exists only in scraped_videos, so the bare name in DAY_NUMBER_SQL is unambiguous.
    day_number = f"({DAY_NUMBER_SQL[dialect]} - 1)"
    return sa.literal_column(DAY_FROM_NUMBER_SQL[dialect].replace("day_no", day_number))


def _query(dialect: str, cutoff: datetime, scraper_source: str | None) -> sa.Select:
    v, t = scraped_videos.c, trending_sounds.c
    join = scraped_videos.outerjoin(
        trending_sounds, sa.and_(t.music_id == v.music_id, t.day == _day_before_posting(dialect))
    )
    statement = (
        sa.select(
            v.video_id,
            v.author_id,
            v.posted_at,
            v.play_count,
            v.caption,
            v.hashtags,
            v.music_id,
            v.music_original,
            sa.func.coalesce(t.trend_score, 0.0).label("sound_trend_score"),
            v.duration_s,
            v.is_slideshow,
            v.author_followers,
            v.author_verified,
        )
        .select_from(join)
        .where(v.posted_at <= sa.bindparam("cutoff", cutoff, type_=sa.DateTime(timezone=True)))
        .order_by(v.posted_at, v.video_id)
    )
    return (
        statement if scraper_source is None else statement.where(v.scraper_source == scraper_source)
    )


def _nullable_bools(values: list) -> pd.Series:
    """True/False/None as Python objects."""
    return pd.Series([None if pd.isna(v) else bool(v) for v in values], dtype=object)


def load_labelled_videos(
    engine: sa.Engine,
    *,
    now: datetime | None = None,
    min_age_hours: float = 24,
    scraper_source: str | None = None,
) -> pd.DataFrame:
    """One row per video posted at least `min_age_hours` before `now`, oldest first; with
    `scraper_source`, only the videos that source delivered (a model learns one world).

    Columns: LABELLED_COLUMNS. `sound_original` is None when the video has no sound, and False
    when it has one whose originality the scraper did not report. `followers` is float (NaN when
    unknown); `verified` is True/False/None.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cutoff = (now - timedelta(hours=min_age_hours)).astimezone(UTC)
    statement = _query(engine.dialect.name, cutoff, scraper_source)
    with engine.connect() as connection:
        result = connection.execute(statement)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))

    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    out["video_id"] = frame["video_id"].astype(str)
    out["author_id"] = frame["author_id"].astype(str)
    out["posted_at"] = pd.to_datetime(frame["posted_at"], utc=True)
    out["play_count"] = frame["play_count"].astype(np.int64)
    out["caption"] = frame["caption"].astype(str)
    out["hashtags"] = frame["hashtags"].map(list).astype(object)
    # No sound: None. A sound whose originality the scraper did not report: not original.
    out["sound_original"] = _nullable_bools(
        [
            None if pd.isna(music_id) else (False if pd.isna(original) else original)
            for music_id, original in zip(
                frame["music_id"].tolist(), frame["music_original"].tolist()
            )
        ]
    )
    out["sound_trend_score"] = frame["sound_trend_score"].astype(float)
    out["duration_s"] = frame["duration_s"].astype(np.int64)
    out["is_slideshow"] = frame["is_slideshow"].astype(bool)
    out["followers"] = pd.to_numeric(
        frame["author_followers"].astype(object), errors="coerce"
    ).astype(float)
    out["verified"] = _nullable_bools(frame["author_verified"].tolist())
    return out[list(LABELLED_COLUMNS)]


def videos_by_source(engine: sa.Engine) -> dict[str, int]:
    """Stored videos per scraper source ("unknown" for rows stored before it was recorded)."""
    v = scraped_videos.c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(v.scraper_source, sa.func.count()).group_by(v.scraper_source)
        ).all()
    return {source or "unknown": int(count) for source, count in rows}
