"""A served request's hashtag use counts from the app database, on SQLite and PostgreSQL: the
same figures as the training rows, no look-ahead, and a posting-time range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from viral_pipeline.engine.model.content import USE_COLUMNS, topic_tags, use_figures
from viral_pipeline.ml.dataset import with_content_uses
from viral_pipeline.store.content_uses import _statement, recent_tag_uses
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.training import load_labelled_videos
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

T0 = datetime(2026, 5, 4, tzinfo=UTC)
NOW = T0 + timedelta(days=40)
TAGS = ["food", "fyp", "cats", "travel", "diy", "Café"]


def _items(seed: int, n: int, first_id: int, start: datetime, days: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = []
    for k in range(n):
        item = make_item(
            str(7_500_000_000_000_000_000 + first_id + k),
            posted=start + timedelta(seconds=float(rng.uniform(0, days * 86_400))),
        )
        tags = list(rng.choice(TAGS, int(rng.integers(0, 4)), replace=False))
        item["hashtags"] = [{"name": tag} for tag in tags]
        item["text"] = "caption " + " ".join(f"#{tag}" for tag in tags)
        items.append(item)
    return items


def _load(engine, items) -> None:
    ingest_items(engine, items, source="test", batch="b", now=NOW)


def _served(engine, hashtags: list[str], posted_at: datetime) -> list:
    tags = topic_tags(hashtags)
    return list(use_figures(recent_tag_uses(engine, tags, posted_at), tags).values())


def test_served_uses_equal_the_training_rows(app_engine):
    _load(app_engine, _items(seed=1, n=400, first_id=0, start=T0, days=20))
    videos = load_labelled_videos(app_engine, now=NOW, min_age_hours=0)
    training = with_content_uses(videos)[list(USE_COLUMNS)].to_numpy()
    assert np.nanmax(training[:, 0]) > 20 and np.isnan(training[:, 0]).any()
    for i in range(0, len(videos), 3):
        row = videos.loc[i]
        served = _served(app_engine, row.hashtags, row.posted_at.to_pydatetime())
        np.testing.assert_allclose(served, training[i], rtol=1e-12, err_msg=str(i))


def test_later_videos_never_move_served_uses(app_engine):
    _load(app_engine, _items(seed=2, n=300, first_id=0, start=T0, days=12))
    request_at = T0 + timedelta(days=9, hours=13)
    requests = [TAGS[k:] + ["fyp"] for k in range(5)]
    before = [_served(app_engine, tags, request_at) for tags in requests]
    assert all(figures[0] > 5 for figures in before)
    # Later videos with every tag, the very instant of the request included.
    later = _items(seed=3, n=200, first_id=1000, start=request_at + timedelta(seconds=1), days=3)
    later.append(make_item("7500000000000009999", posted=request_at))
    later[-1]["hashtags"] = [{"name": tag} for tag in TAGS]
    _load(app_engine, later)
    after = [_served(app_engine, tags, request_at) for tags in requests]
    np.testing.assert_array_equal(after, before)
    # ... while a request after them does see them.
    assert _served(app_engine, requests[0], request_at + timedelta(days=3))[0] > before[0][0]


def test_no_topic_tag_asks_nothing_and_an_unused_tag_counts_none(app_engine):
    assert recent_tag_uses(app_engine, [], NOW) == {}
    assert recent_tag_uses(app_engine, ["food"], NOW) == {}
    assert np.isnan(_served(app_engine, ["fyp"], NOW)).all()  # a generic tag is no topic


def test_the_counts_read_a_posting_time_range(sqlite_url):
    engine = ready_engine(sqlite_url)
    values = {"since": T0, "posted_at": NOW, "tags": ["food", "cats"]}
    compiled = (
        _statement("sqlite").params(values).compile(engine, compile_kwargs={"literal_binds": True})
    )
    with engine.connect() as connection:
        plan = str(connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all())
    assert "SEARCH scraped_videos USING INDEX ix_scraped_videos_posted_at" in plan, plan
