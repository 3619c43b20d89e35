"""How many stored videos used a request's topic hashtags lately, in one query.

The look-back is content.py's: videos posted at most USE_LOOKBACK_DAYS before the request and
strictly before it, a range of ix_scraped_videos_posted_at; each topic hashtag counts the videos
of that range whose stored hashtag list (lowercase, each tag once) holds it, read with the
dialect's JSON function.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from viral_pipeline.engine.model.content import USE_LOOKBACK_DAYS
from viral_pipeline.engine.timeutil import as_utc
from viral_pipeline.store.schema import scraped_videos

_TAG_ELEMENTS = {"sqlite": "json_each", "postgresql": "json_array_elements_text"}
_WHEN = sa.DateTime(timezone=True)


def _statement(dialect: str) -> sa.Select:
    v = scraped_videos.c
    element = getattr(sa.func, _TAG_ELEMENTS[dialect])(v.hashtags).table_valued("value")
    return (
        sa.select(element.c.value, sa.func.count(sa.distinct(v.video_id)))
        .select_from(scraped_videos.join(element, sa.true()))
        .where(
            v.posted_at >= sa.bindparam("since", type_=_WHEN),
            v.posted_at < sa.bindparam("posted_at", type_=_WHEN),
            element.c.value.in_(sa.bindparam("tags", expanding=True, type_=sa.String)),
        )
        .group_by(element.c.value)
    )


def recent_tag_uses(engine: sa.Engine, tags: Sequence[str], posted_at: datetime) -> dict[str, int]:
    """Videos per tag of `tags` (absent when none) posted in the look-back strictly before
    `posted_at`."""
    if not tags:
        return {}
    posted = as_utc(posted_at)
    params = {
        "since": posted - timedelta(days=USE_LOOKBACK_DAYS),
        "posted_at": posted,
        "tags": list(tags),
    }
    with engine.connect() as connection:
        rows = connection.execute(_statement(engine.dialect.name), params).all()
    return {str(tag): int(count) for tag, count in rows}
