"""A creator's earlier videos for a served prediction, in one indexed query.

The creator is found by handle, compared as `handle_key` compares (case-insensitively), through
ix_scraped_videos_handle_key_posted_at. Each earlier video comes with what labels.py's rule needs
to call it viral or not: how many videos were posted in its label window, and how many of those
have fewer plays (two counts read from ix_scraped_videos_posted_at_play_count alone); they are counted only for videos
whose window closed before the request's opened, the only ones whose label the history reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from viral_pipeline.engine.inputs.handles import handle_key
from viral_pipeline.engine.model.creator_history import PriorVideo, window_start_s
from viral_pipeline.engine.timeutil import as_utc
from viral_pipeline.store.schema import scraped_videos

# Start and end of a video's label window, from its posting time, as SQL of each dialect.
_DAY_NUMBER = {
    "sqlite": "(CAST(strftime('%s', {col}) AS INTEGER) / 86400)",
    "postgresql": "(CAST({col} AT TIME ZONE 'UTC' AS DATE) - DATE '1970-01-01')",
}
_DAY_START = {
    "sqlite": "datetime(({days}) * 86400, 'unixepoch')",
    "postgresql": "(CAST(DATE '1970-01-01' + ({days}) AS TIMESTAMP) AT TIME ZONE 'UTC')",
}


def _window_bounds(dialect: str, column: str, window_days: int) -> tuple[sa.ColumnElement, ...]:
    day = _DAY_NUMBER[dialect].format(col=column)
    first = f"({day} - {day} % {int(window_days)})"
    return tuple(
        sa.literal_column(_DAY_START[dialect].format(days=days))
        for days in (first, f"{first} + {int(window_days)}")
    )


def _statement(dialect: str, window_days: int) -> sa.Select:
    earlier = scraped_videos.alias("earlier")
    other = scraped_videos.alias("other")
    opens, closes = _window_bounds(dialect, "earlier.posted_at", window_days)
    in_window = sa.and_(other.c.posted_at >= opens, other.c.posted_at < closes)
    closed = earlier.c.posted_at < sa.bindparam("window_open", type_=sa.DateTime(timezone=True))

    def count(*where: sa.ColumnElement) -> sa.ColumnElement:
        counted = sa.select(sa.func.count()).where(in_window, *where).scalar_subquery()
        return sa.case((closed, counted), else_=0)

    return sa.select(
        earlier.c.posted_at,
        earlier.c.play_count,
        count().label("window_videos"),
        count(other.c.play_count < earlier.c.play_count).label("window_below"),
    ).where(
        sa.func.lower(earlier.c.author_handle) == sa.bindparam("handle_key"),
        earlier.c.posted_at < sa.bindparam("posted_at", type_=sa.DateTime(timezone=True)),
    )


def prior_videos(
    engine: sa.Engine, handle: str, posted_at: datetime, *, window_days: int
) -> list[PriorVideo]:
    """The videos of the creator `handle` posted strictly before `posted_at`."""
    posted = as_utc(posted_at)
    opens = float(window_start_s(posted.timestamp(), window_days))
    params = {
        "handle_key": handle_key(handle),
        "posted_at": posted,
        "window_open": datetime.fromtimestamp(opens, tz=UTC),
    }
    with engine.connect() as connection:
        rows = connection.execute(_statement(engine.dialect.name, window_days), params).all()
    return [
        PriorVideo(as_utc(row.posted_at), int(row.play_count), row.window_videos, row.window_below)
        for row in rows
    ]
