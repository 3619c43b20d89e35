"""The training-set query on SQLite and PostgreSQL: columns, age filter, and no look-ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from viral_pipeline.engine.model.features import RAW_COLUMNS
from viral_pipeline.store.schema import trending_sounds
from viral_pipeline.store.training import LABELLED_COLUMNS, load_labelled_videos
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SOUND = "7000000000000000001"
OTHER_SOUND = "7000000000000000002"


def _add_trend(engine, music_id: str, day: date, score: float) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(trending_sounds),
            [
                {
                    "music_id": music_id,
                    "day": day,
                    "music_name": "s",
                    "uses": 1,
                    "plays": 1,
                    "engagement": 0.0,
                    "growth": 0.0,
                    "velocity": 0.0,
                    "trend_score": score,
                    "computed_at": NOW,
                }
            ],
        )


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("video_id")


def test_columns_types_and_age_filter(app_engine):
    items = [
        make_item("7500000000000000001", posted=NOW - timedelta(hours=25), fans=None, plays=123),
        make_item("7500000000000000002", posted=NOW - timedelta(hours=23)),  # too young
        make_item(
            "7500000000000000003", posted=NOW - timedelta(days=3), fans=2_500_000, verified=True
        ),
    ]
    items[0]["authorMeta"].pop("verified")
    slideshow = make_item("7500000000000000004", posted=NOW - timedelta(days=2), music_id="0")
    slideshow.update(isSlideshow=True, videoMeta={"duration": 0})
    unreported = make_item("7500000000000000005", posted=NOW - timedelta(days=2, hours=1))
    unreported["musicMeta"].pop("musicOriginal")
    ingest_items(app_engine, [*items, slideshow, unreported], source="t", batch="b", now=NOW)

    frame = load_labelled_videos(app_engine, now=NOW)
    assert list(frame.columns) == list(LABELLED_COLUMNS)
    assert set(RAW_COLUMNS) <= set(frame.columns) and frame.columns.is_unique
    assert frame["video_id"].tolist() == [  # oldest first; the 23-hour-old video is left out
        "7500000000000000003",
        "7500000000000000005",
        "7500000000000000004",
        "7500000000000000001",
    ]
    assert str(frame["posted_at"].dt.tz) == "UTC"
    assert frame["posted_at"].iloc[0] == pd.Timestamp(NOW - timedelta(days=3))
    rows = _by_id(frame)
    old = rows.loc["7500000000000000001"]
    assert old["play_count"] == 123 and np.isnan(old["followers"]) and old["verified"] is None
    known = rows.loc["7500000000000000003"]
    assert known["followers"] == 2_500_000 and known["verified"] is True
    assert rows.loc["7500000000000000004", "sound_original"] is None  # no sound
    assert bool(rows.loc["7500000000000000004", "is_slideshow"]) is True
    assert rows.loc["7500000000000000005", "sound_original"] is False  # not reported: not original
    assert rows.loc["7500000000000000003", "sound_original"] is False
    assert rows.loc["7500000000000000003", "hashtags"] == ["fyp"]
    assert rows.loc["7500000000000000003", "caption"] == "caption #fyp"
    assert (frame["sound_trend_score"] == 0.0).all()
    assert frame["followers"].dtype == np.float64 and frame["play_count"].dtype == np.int64

    # A shorter minimum age lets the young video in; a naive `now` is UTC.
    assert len(load_labelled_videos(app_engine, now=NOW.replace(tzinfo=None), min_age_hours=1)) == 5
    assert load_labelled_videos(app_engine, now=NOW - timedelta(days=10)).empty


def test_default_now_is_the_current_time(app_engine):
    ingest_items(
        app_engine,
        [make_item("7500000000000000009", posted=datetime.now(UTC) - timedelta(days=2))],
        source="t",
        batch="b",
    )
    assert load_labelled_videos(app_engine)["video_id"].tolist() == ["7500000000000000009"]
    assert load_labelled_videos(app_engine, min_age_hours=72).empty


def test_trend_score_is_the_day_before_posting_only(app_engine):
    """No look-ahead: trend rows of the posting day or later never reach a video; the day before does."""
    early = NOW - timedelta(days=5)
    posted = {
        "7600000000000000001": early.replace(hour=0, minute=0, second=5),  # just after midnight
        "7600000000000000002": early.replace(hour=23, minute=59, second=50),  # just before the next
        "7600000000000000003": early.replace(hour=12),  # a sound with no trend row at all
    }
    items = [
        make_item(vid, posted=at, music_id=SOUND if vid[-1] != "3" else OTHER_SOUND)
        for vid, at in posted.items()
    ]
    ingest_items(app_engine, items, source="t", batch="b", now=NOW)
    posting_day = early.date()

    before = _by_id(load_labelled_videos(app_engine, now=NOW))["sound_trend_score"]
    assert before.tolist() == [0.0, 0.0, 0.0]

    # The posting day and every later day: nothing changes.
    for offset, score in ((0, 0.9), (1, 0.8), (3, 0.7)):
        _add_trend(app_engine, SOUND, posting_day + timedelta(days=offset), score)
    _add_trend(app_engine, OTHER_SOUND, posting_day, 0.95)
    unchanged = _by_id(load_labelled_videos(app_engine, now=NOW))["sound_trend_score"]
    pd.testing.assert_series_equal(unchanged, before)

    # The day before posting is used; two days before is not.
    _add_trend(app_engine, SOUND, posting_day - timedelta(days=2), 0.1)
    _add_trend(app_engine, SOUND, posting_day - timedelta(days=1), 0.42)
    after = _by_id(load_labelled_videos(app_engine, now=NOW))["sound_trend_score"]
    assert after["7600000000000000001"] == pytest.approx(0.42)
    assert after["7600000000000000002"] == pytest.approx(0.42)
    assert after["7600000000000000003"] == 0.0
    assert len(after) == 3  # the join never duplicates a video
