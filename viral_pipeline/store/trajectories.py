"""The sightings of one scraper source's videos that the update model's tiers may read.

`video_snapshots` keeps every sighting of a video (time seen, age, plays). Training reads only the
sightings inside some tier's collection window (24 h to 252 h old: the 24 h tier's start to the
7 d tier's end), of the videos the configured source delivered, in one query; which sighting is
each tier's reading is the engine's rule (engine/model/trajectories.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from viral_pipeline.engine.calibration.outcomes import (
    COLLECTION_WINDOW_FACTOR,
    TIER_AGES,
    EvaluationTier,
)
from viral_pipeline.store.schema import scraped_videos, video_snapshots

# The query's age bounds only pre-select: a minute of slack keeps a sighting whose stored age
# rounds just below a window's start; the engine applies the exact windows.
_SLACK_HOURS = 1 / 60
FIRST_READABLE_HOURS = TIER_AGES[EvaluationTier.HOURS_24].total_seconds() / 3600
LAST_READABLE_HOURS = (
    TIER_AGES[EvaluationTier.DAYS_7].total_seconds() / 3600 * COLLECTION_WINDOW_FACTOR
)


def tier_sightings(
    engine: sa.Engine, scraper_source: str, posted_by: datetime, seen_by: datetime
) -> dict[str, list[tuple[datetime, int]]]:
    """{video id: [(time seen, plays), …]} of the videos `scraper_source` delivered, posted by
    `posted_by`: their sightings up to `seen_by` between the 24 h tier's start and the 7 d tier's
    end, oldest first."""
    moment = sa.DateTime(timezone=True)
    v, s = scraped_videos.c, video_snapshots.c
    statement = (
        sa.select(s.video_id, s.observed_at, s.play_count)
        .join(scraped_videos, v.video_id == s.video_id)
        .where(
            v.scraper_source == scraper_source,
            v.posted_at <= sa.bindparam("posted_by", posted_by, type_=moment),
            s.observed_at <= sa.bindparam("seen_by", seen_by, type_=moment),
            s.age_hours.between(
                FIRST_READABLE_HOURS - _SLACK_HOURS, LAST_READABLE_HOURS + _SLACK_HOURS
            ),
        )
        .order_by(s.video_id, s.observed_at)
    )
    sightings: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    with engine.connect() as connection:
        for video_id, observed_at, plays in connection.execute(statement):
            sightings[str(video_id)].append((observed_at, int(plays)))
    return dict(sightings)
