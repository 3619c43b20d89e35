"""`trending_sounds`: per sound and day, computed inside the database.

The work is one INSERT ... SELECT, so it runs on PostgreSQL over tables larger than memory and
nothing but the summary crosses the wire. Definitions (day = UTC calendar day of posting):
- uses: videos posted with the sound that day; plays: their summed plays;
- engagement: (likes + comments + shares) / plays of those videos;
- growth: (uses + 1) / (uses the day before + 1) - 1, smoothed so a first day is finite;
- velocity: uses minus the mean daily uses over the previous 7 days (absent days count 0);
- trend_score: percent rank, among the sounds used that day, of uses + max(velocity, 0).
Every figure for day d reads only days <= d: a model can use it as of posting time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

# Day numbers (days since 1970-01-01, UTC) make the calendar arithmetic identical on both dialects.
DAY_NUMBER_SQL = {
    "sqlite": "CAST(strftime('%s', date(posted_at)) AS INTEGER) / 86400",
    "postgresql": "(CAST(posted_at AT TIME ZONE 'UTC' AS DATE) - DATE '1970-01-01')",
}
# SQLite's planner walks ix_scraped_videos_music_id and then looks up every row; a plain scan
# measured 2x faster on a full recompute and 4-5x on an 8-day one (1M videos, bench/trends.py).
_SOURCE = {"sqlite": "scraped_videos NOT INDEXED", "postgresql": "scraped_videos"}
DAY_FROM_NUMBER_SQL = {
    "sqlite": "date(day_no * 86400, 'unixepoch')",
    "postgresql": "(DATE '1970-01-01' + day_no)",
}

_TEMPLATE = """
INSERT INTO trending_sounds
    (music_id, day, music_name, uses, plays, engagement, growth, velocity, trend_score, computed_at)
WITH daily AS (
    SELECT music_id,
           {day_number} AS day_no,
           MAX(music_name) AS music_name,
           COUNT(*) AS uses,
           SUM(play_count) AS plays,
           SUM(like_count + comment_count + share_count) AS interactions
    FROM {source}
    WHERE music_id IS NOT NULL AND posted_at >= :window_start
    GROUP BY music_id, {day_number}
),
windowed AS (
    SELECT daily.*,
           COALESCE(SUM(uses) OVER (PARTITION BY music_id ORDER BY day_no
                                    RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING), 0) AS uses_day_before,
           COALESCE(SUM(uses) OVER (PARTITION BY music_id ORDER BY day_no
                                    RANGE BETWEEN 7 PRECEDING AND 1 PRECEDING), 0) AS uses_week_before
    FROM daily
),
scored AS (
    SELECT windowed.*,
           (uses + 1.0) / (uses_day_before + 1.0) - 1.0 AS growth,
           uses - uses_week_before / 7.0 AS velocity
    FROM windowed
)
SELECT music_id,
       {day_from_number},
       music_name,
       uses,
       plays,
       CASE WHEN plays > 0 THEN CAST(interactions AS FLOAT) / plays ELSE 0.0 END,
       growth,
       velocity,
       PERCENT_RANK() OVER (PARTITION BY day_no
                            ORDER BY uses + CASE WHEN velocity > 0 THEN velocity ELSE 0 END),
       :computed_at
FROM scored
WHERE day_no >= :first_day_no
"""


def compute_trending_sounds(engine: sa.Engine, since: date | None = None) -> int:
    """Recompute `trending_sounds` for days >= since (all days when None). Returns rows written.

    One transaction: readers see either the old rows or the new ones, never a half-written day.
    """
    dialect = engine.dialect.name
    sql = _TEMPLATE.format(
        day_number=DAY_NUMBER_SQL[dialect],
        day_from_number=DAY_FROM_NUMBER_SQL[dialect],
        source=_SOURCE[dialect],
    )
    first_day = since or date(1970, 1, 1)
    first_day_no = (first_day - date(1970, 1, 1)).days
    # The 7-day window of the first recomputed day needs the week before it.
    window_start = datetime.fromordinal(max(first_day.toordinal() - 7, 1)).replace(tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM trending_sounds WHERE day >= :first_day"), {"first_day": first_day}
        )
        result = connection.execute(
            sa.text(sql),
            {
                "window_start": window_start,
                "first_day_no": first_day_no,
                "computed_at": datetime.now(UTC),
            },
        )
        return result.rowcount


def top_sounds(engine: sa.Engine, limit: int = 10) -> list[dict]:
    """The best-scored sounds of the latest day, for the asset's preview."""
    query = sa.text(
        "SELECT music_id, music_name, day, uses, growth, velocity, trend_score FROM trending_sounds "
        "WHERE day = (SELECT MAX(day) FROM trending_sounds) "
        "ORDER BY trend_score DESC, uses DESC, music_id LIMIT :limit"
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query, {"limit": limit})]
