"""The feature builder: known-before-posting columns only, NaN for unknowns, stable hashing."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from viral_pipeline.engine.model import features as feats
from viral_pipeline.engine.model.content import USE_COLUMNS
from viral_pipeline.engine.model.creator_history import HISTORY_COLUMNS
from viral_pipeline.engine.model.features import (
    FEATURE_COLUMNS,
    RAW_COLUMNS,
    build_features,
    hashtag_bucket,
)
from viral_pipeline.store.training import load_labelled_videos
from viral_pipeline.store.trends import compute_trending_sounds
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

FRIDAY_1630 = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)


def _raw(**overrides) -> dict:
    row = {
        "caption": "Tried the new recipe #fyp #food",
        "hashtags": ["fyp", "food"],
        "sound_original": False,
        "sound_trend_score": 0.4,
        "duration_s": 15,
        "is_slideshow": False,
        "followers": 5_000,
        "verified": False,
        "posted_at": FRIDAY_1630,
    }
    row.update(overrides)
    return row


def _frame(*rows: dict, index=None) -> pd.DataFrame:
    return pd.DataFrame(list(rows), index=index)


def test_columns_dtypes_and_index():
    raw = _frame(_raw(), _raw(followers=None, verified=None), index=[17, 3])
    out = build_features(raw)
    assert list(out.columns) == list(FEATURE_COLUMNS)
    assert (out.dtypes == np.float64).all()
    assert list(out.index) == [17, 3]
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)
    assert "posted_at" in RAW_COLUMNS and len(RAW_COLUMNS) == 9


def test_no_outcome_is_a_feature():
    outcomes = ("play", "like", "comment", "share", "collect", "view", "digg")
    # The creator history reads earlier videos' plays, never the scored video's own
    # (test_creator_history proves it); every other column reads no outcome at all.
    own = [c for c in FEATURE_COLUMNS if c not in HISTORY_COLUMNS]
    assert not [c for c in own if any(word in c for word in outcomes)]
    raw = _frame(_raw(), _raw(caption="x"))
    with_outcomes = raw.assign(
        play_count=[10, 10**9], like_count=[1, 10**8], comment_count=[0, 5], share_count=[0, 7]
    )
    pd.testing.assert_frame_equal(build_features(raw), build_features(with_outcomes))


def test_nan_exactly_where_followers_or_verified_are_unknown():
    raw = _frame(
        _raw(followers=None, verified=None),
        _raw(followers=np.nan, verified=True),
        _raw(followers=120_000, verified=pd.NA),
        _raw(followers=0, verified=False),
    )
    out = build_features(raw)
    unknown = ["follower_tier", "log_followers"]
    assert out.loc[[0, 1], unknown].isna().all().all()
    assert out.loc[2, "follower_tier"] == 3 and out.loc[2, "log_followers"] == pytest.approx(
        np.log1p(120_000)
    )
    assert out.loc[3, "follower_tier"] == 0 and out.loc[3, "log_followers"] == 0.0
    assert out["verified"].tolist()[1] == 1.0 and out["verified"].tolist()[3] == 0.0
    assert np.isnan(out.loc[0, "verified"]) and np.isnan(out.loc[2, "verified"])
    # Nothing else is ever NaN, and no unknown is filled with a default; a creator history or
    # hashtag use counts that were not given are unknown too.
    assert out[[*HISTORY_COLUMNS, *USE_COLUMNS]].isna().all().all()
    others = out.drop(
        columns=["follower_tier", "log_followers", "verified", *HISTORY_COLUMNS, *USE_COLUMNS]
    )
    assert not others.isna().any().any()


def test_follower_tiers_follow_engine_creators():
    counts = [0, 999, 1_000, 9_999, 10_000, 99_999, 100_000, 999_999, 1_000_000, 50_000_000, -5]
    out = build_features(_frame(*(_raw(followers=c) for c in counts)))
    assert out["follower_tier"].tolist()[:-1] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert np.isnan(out["follower_tier"].iloc[-1])  # a negative count is not a count


def test_sound_columns():
    out = build_features(
        _frame(
            _raw(sound_original=None, sound_trend_score=0.0),  # no sound
            _raw(sound_original=True, sound_trend_score=np.nan),
            _raw(sound_original=False, sound_trend_score=0.9),
        )
    )
    assert out["has_sound"].tolist() == [0, 1, 1]
    assert out["sound_original"].tolist() == [0, 1, 0]
    assert out["sound_trend_score"].tolist() == [0.0, 0.0, 0.9]


def test_caption_duration_and_slideshow():
    out = build_features(
        _frame(
            _raw(caption="Día très bonito 🔥 #fyp", duration_s=0, is_slideshow=True),
            _raw(caption=None, duration_s=42),
        )
    )
    assert out["caption_chars"].tolist() == [len("Día très bonito 🔥 #fyp"), 0]
    assert out["caption_words"].tolist() == [5, 0]
    assert out["duration_s"].tolist() == [0, 42]
    assert out["is_slideshow"].tolist() == [1, 0]


def test_hashtags_counts_generic_tags_and_buckets():
    tags = ["fyp", "ForYou", "#viral", "food", "cooking", "recipe"]
    out = build_features(
        _frame(_raw(hashtags=tags), _raw(hashtags=[]), _raw(hashtags=None), _raw(hashtags=("fyp",)))
    )
    assert out["hashtag_count"].tolist() == [6, 0, 0, 1]
    assert out["generic_tag_count"].tolist() == [3, 0, 0, 1]
    buckets = out[[c for c in FEATURE_COLUMNS if c.startswith("tag_bucket_")]]
    assert buckets.shape[1] == feats.N_HASH_BUCKETS == 16
    assert buckets.sum(axis=1).tolist() == [6, 0, 0, 1]
    assert buckets.iloc[3]["tag_bucket_03"] == 1  # crc32("fyp") % 16 == 3
    for tag in tags:
        assert buckets.iloc[0][f"tag_bucket_{hashtag_bucket(tag):02d}"] >= 1


def test_hashing_is_stable_across_processes():
    # crc32 is fixed by its definition: these never change (Python's salted `hash` would).
    expected = {"fyp": 3, "food": 7, "cooking": 10, "viral": 0}
    assert {tag: hashtag_bucket(tag) for tag in expected} == expected
    assert {tag: zlib.crc32(tag.encode()) % 16 for tag in expected} == expected
    assert hashtag_bucket("#FYP") == hashtag_bucket(" fyp") == 3
    code = (
        "from viral_pipeline.engine.model.features import hashtag_bucket as b; "
        "import sys; sys.stdout.write(','.join(str(b(t)) for t in ['fyp', 'food', 'gaming', 'día']))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {",".join(str(hashtag_bucket(t)) for t in ["fyp", "food", "gaming", "día"])}


def test_weekday_and_hour_in_utc():
    paris = timezone(timedelta(hours=1))
    out = build_features(
        _frame(
            _raw(posted_at=FRIDAY_1630),
            _raw(posted_at=datetime(2026, 11, 27, 17, 30, tzinfo=paris)),  # the same instant
            _raw(posted_at=datetime(2026, 11, 29, 0, 0)),  # naive: taken as UTC; a Sunday
        )
    )
    assert out["weekday"].tolist() == [4, 4, 6]
    assert out["hour"].tolist() == [16, 16, 0]
    assert out.loc[0, "hour_sin"] == pytest.approx(np.sin(2 * np.pi * 16.5 / 24))
    assert out.loc[0, "hour_cos"] == pytest.approx(np.cos(2 * np.pi * 16.5 / 24))
    assert (out.loc[2, "hour_sin"], out.loc[2, "hour_cos"]) == pytest.approx((0.0, 1.0))


def test_a_single_row_works_and_is_fast():
    one = _frame(_raw(followers=None), index=["request"])
    out = build_features(one)
    assert out.shape == (1, len(FEATURE_COLUMNS)) and out.index.tolist() == ["request"]
    build_features(one)
    start = datetime.now(UTC)
    for _ in range(20):
        build_features(one)
    assert (datetime.now(UTC) - start).total_seconds() / 20 < 0.05


def test_empty_frame_and_bad_input():
    empty = pd.DataFrame({c: [] for c in RAW_COLUMNS})
    assert list(build_features(empty).columns) == list(FEATURE_COLUMNS)
    assert build_features(empty).empty
    with pytest.raises(ValueError, match="missing: \\['verified'\\]"):
        build_features(_frame(_raw()).drop(columns=["verified"]))
    with pytest.raises(TypeError, match="hashtags must be a list"):
        build_features(_frame(_raw(hashtags="fyp|food")))


def test_features_ignore_outcomes_in_the_database(app_engine):
    """Change a video's plays, likes, comments and shares in the database: its features stay."""
    now = datetime(2026, 11, 20, tzinfo=UTC)
    items = [
        make_item(
            f"74{i:017d}",
            posted=now - timedelta(days=3, hours=i),
            plays=1_000 * (i + 1),
            author_id=f"68{i % 3:017d}",
            fans=None if i == 0 else 5_000 * i,
            verified=i % 2 == 0,
        )
        for i in range(6)
    ]
    ingest_items(app_engine, items, source="t", batch="b", now=now)
    compute_trending_sounds(app_engine)
    before = load_labelled_videos(app_engine, now=now)
    features_before = build_features(before)
    assert np.isnan(
        features_before.loc[before["video_id"] == items[0]["id"], "log_followers"]
    ).all()

    with app_engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE scraped_videos SET play_count = play_count * 1000 + 7, like_count = 999999, "
                "comment_count = 12345, share_count = 54321"
            )
        )
    after = load_labelled_videos(app_engine, now=now)
    assert (after["play_count"] != before["play_count"]).all()
    pd.testing.assert_frame_equal(build_features(after), features_before)
