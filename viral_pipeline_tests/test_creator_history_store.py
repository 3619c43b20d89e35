"""A served request's creator history from the app database, on SQLite and PostgreSQL: the
same figures as the training rows, no look-ahead, and one indexed query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import sqlalchemy as sa

from viral_pipeline.engine.model.creator_history import HISTORY_COLUMNS, history_of
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.ml.dataset import with_creator_history
from viral_pipeline.store.creator_history import _statement, prior_videos
from viral_pipeline.store.training import load_labelled_videos
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

T0 = datetime(2026, 5, 4, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
CREATORS = 6


def _items(seed: int, n: int, first_id: int, start: datetime, days: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = []
    for k in range(n):
        creator = int(rng.integers(0, CREATORS))
        items.append(
            make_item(
                str(7_500_000_000_000_000_000 + first_id + k),
                posted=start + timedelta(seconds=float(rng.uniform(0, days * 86_400))),
                plays=int(rng.lognormal(9, 2)),
                author_id=str(6_800_000_000_000_000_000 + creator),
                handle=f"Creator.{creator}",  # stored with capitals; requests may differ in case
            )
        )
    return items


def _load(engine, items) -> None:
    ingest_items(engine, items, source="test", batch="b", now=NOW)


def _served(engine, handle: str, posted_at: datetime) -> dict[str, float]:
    prior = prior_videos(engine, handle, posted_at, window_days=1)
    return history_of(prior, posted_at, quantile=0.9, window_days=1)


def test_served_history_equals_the_training_rows(app_engine):
    _load(app_engine, _items(seed=1, n=300, first_id=0, start=T0, days=10))
    videos = load_labelled_videos(app_engine, now=NOW, min_age_hours=0)
    labels = label_top_decile(videos["play_count"], window_key(videos["posted_at"]), 0.9)[0]
    training = with_creator_history(videos, labels, window_days=1)
    handles = {f"680000000000000000{k}": f"creator.{k}" for k in range(CREATORS)}
    assert labels.sum() > 20 and (training["creator_prior_viral_rate"] > 0).any()
    for i in range(0, len(videos), 5):
        posted = videos.loc[i, "posted_at"].to_pydatetime()
        served = _served(app_engine, handles[videos.loc[i, "author_id"]], posted)
        expected = training.loc[i, list(HISTORY_COLUMNS)].to_numpy(dtype=float)
        np.testing.assert_allclose(list(served.values()), expected, rtol=1e-9)


def test_later_videos_never_move_a_served_history(app_engine):
    _load(app_engine, _items(seed=2, n=200, first_id=0, start=T0, days=8))
    request_at = T0 + timedelta(days=5, hours=13)
    before = {k: _served(app_engine, f"CREATOR.{k}", request_at) for k in range(CREATORS)}
    assert any(h["creator_prior_videos"] > 5 for h in before.values())
    # Later videos: new ones (the same day included, huge and tiny plays), and the stored later
    # ones re-scraped with other plays.
    later = _items(seed=3, n=150, first_id=1000, start=request_at + timedelta(seconds=1), days=3)
    for k, item in enumerate(later):
        item["playCount"] = 10**10 if k % 2 else 0
    videos = load_labelled_videos(app_engine, now=NOW, min_age_hours=0)
    rescraped = [
        make_item(
            row.video_id,
            posted=row.posted_at.to_pydatetime(),
            plays=10**10,
            author_id=row.author_id,
            handle=f"Creator.{int(row.author_id[-1])}",
        )
        for row in videos.itertuples()
        if row.posted_at > request_at
    ]
    assert len(rescraped) > 50
    _load(app_engine, later + rescraped)
    after = {k: _served(app_engine, f"creator.{k}", request_at) for k in range(CREATORS)}
    np.testing.assert_array_equal(_table(after), _table(before))
    # ... while a request after them does see them.
    assert (
        _served(app_engine, "creator.0", NOW)["creator_prior_videos"]
        > 10 + before[0]["creator_prior_videos"]
    )


def _table(histories: dict[int, dict[str, float]]) -> np.ndarray:
    return np.array([list(histories[k].values()) for k in sorted(histories)])


def test_an_unknown_creator_has_no_history(app_engine):
    history = _served(app_engine, "nobody", NOW)
    assert history["creator_no_history"] == 1 and history["creator_prior_videos"] == 0


def test_the_query_reads_the_handle_index(app_engine):
    index = "ix_scraped_videos_handle_key_posted_at"
    with app_engine.connect() as connection:
        if app_engine.dialect.name == "sqlite":
            sql = str(_statement("sqlite", 1).compile(app_engine))
            plan = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}", ("2026-01-01",) * sql.count("?")
            ).all()
            assert any(index in str(row) for row in plan), plan
        else:
            names = connection.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'scraped_videos'")
            ).scalars()
            assert index in set(names)
