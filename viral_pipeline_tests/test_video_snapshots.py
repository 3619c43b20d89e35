"""Every scrape of a video keeps its plays at that age in video_snapshots, so trajectories survive
the upsert of scraped_videos (SQLite file and PostgreSQL)."""

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from viral_pipeline.engine.world.simulated import generate_day
from viral_pipeline.store.schema import scraped_videos, video_snapshots
from viral_pipeline.store.videos import ingest_items

DAY = date(2026, 11, 20)


def _count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_repeat_scrape_adds_one_snapshot_per_video_at_its_age(app_engine):
    items = generate_day(DAY, 60).items
    first = datetime(2026, 11, 21, 12, tzinfo=UTC)
    stored = ingest_items(app_engine, items, source="simulated", batch="a", now=first).stored
    ingest_items(app_engine, items, source="simulated", batch="b", now=first + timedelta(days=2))
    assert _count(app_engine, scraped_videos) == stored
    assert _count(app_engine, video_snapshots) == 2 * stored

    # The same sighting loaded again (a retried run) adds nothing.
    ingest_items(app_engine, items, source="simulated", batch="b", now=first + timedelta(days=2))
    assert _count(app_engine, video_snapshots) == 2 * stored

    v, s = scraped_videos.c, video_snapshots.c
    query = (
        sa.select(v.posted_at, v.play_count, s.observed_at, s.age_hours, s.play_count)
        .join(video_snapshots, s.video_id == v.video_id)
        .order_by(s.video_id, s.observed_at)
    )
    with app_engine.connect() as connection:
        rows = connection.execute(query).all()
    for posted_at, plays, observed_at, age_hours, snapshot_plays in rows:
        posted_at = posted_at.replace(tzinfo=UTC) if posted_at.tzinfo is None else posted_at
        observed_at = observed_at.replace(tzinfo=UTC) if observed_at.tzinfo is None else observed_at
        assert abs(age_hours - (observed_at - posted_at).total_seconds() / 3600) < 1e-6
        assert snapshot_plays == plays
    ages = sorted({round(r.age_hours - rows[0].age_hours, 6) for r in rows[:2]})
    assert ages == [0.0, 48.0]
