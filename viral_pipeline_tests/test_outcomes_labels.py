"""The outcome label: tiers and when they are due, video URLs, and a threshold equal to the
training label's for the same data (engine/model/labels.py over store/training.py's rows)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from viral_pipeline.engine.calibration.outcomes import (
    MIN_THRESHOLD_VIDEOS,
    collectable_tiers,
    due_tiers,
    is_due,
    posting_window,
    prediction_posted_at,
    stats_from_items,
    tier_age,
    video_id_from_url,
    video_url_for,
    viral_threshold,
)
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.store.outcomes import viral_threshold_for
from viral_pipeline.store.training import load_labelled_videos
from viral_pipeline_tests.factories import make_item
from viral_pipeline_tests.prediction_builders import scrape_simulated_day

POSTED = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


def test_a_tier_is_due_once_the_video_is_that_old():
    assert tier_age("72h") == timedelta(hours=72)
    assert not is_due("24h", POSTED, POSTED + timedelta(hours=23, minutes=59))
    assert is_due("24h", POSTED, POSTED + timedelta(hours=24))  # posted_at + age <= now
    assert due_tiers(POSTED, POSTED + timedelta(hours=80)) == ["24h", "72h"]
    assert due_tiers(POSTED, POSTED + timedelta(days=8)) == ["24h", "72h", "7d"]
    assert due_tiers(POSTED, POSTED - timedelta(hours=1)) == []
    with pytest.raises(ValueError, match="unknown evaluation tier"):
        tier_age("1h")


def test_a_tier_is_collected_only_inside_its_window():
    assert collectable_tiers(POSTED, POSTED + timedelta(hours=25)) == ["24h"]
    assert (
        collectable_tiers(POSTED, POSTED + timedelta(hours=36)) == []
    )  # 24h window closed at 36 h
    assert collectable_tiers(POSTED, POSTED + timedelta(hours=100)) == ["72h"]
    assert collectable_tiers(POSTED, POSTED + timedelta(days=10)) == ["7d"]
    assert collectable_tiers(POSTED, POSTED + timedelta(days=11)) == []


def test_posted_at_comes_from_the_request_or_its_creation():
    created = datetime(2026, 11, 21, 9, 0)  # naive: UTC
    assert prediction_posted_at({"posted_at": "2026-11-20T16:00:00Z"}, created) == POSTED
    assert prediction_posted_at({"posted_at": None}, created) == created.replace(tzinfo=UTC)


def test_video_ids_come_from_tiktok_urls_only():
    assert (
        video_id_from_url("https://www.tiktok.com/@chef/video/7300000000000000001?lang=en")
        == "7300000000000000001"
    )
    assert video_id_from_url("https://m.tiktok.com/@chef/video/123/") == "123"
    assert video_id_from_url(video_url_for("42")) == "42"
    for bad in (
        "https://example.com/@chef/video/123",
        "ftp://www.tiktok.com/@c/video/1",
        "https://www.tiktok.com/@chef",
        "https://www.tiktok.com/@chef/video/12a",
    ):
        assert video_id_from_url(bad) is None, bad


def test_threshold_is_strictly_above_the_window_quantile():
    plays = list(range(1, 101))
    threshold = viral_threshold(
        plays, window=date(2026, 11, 20), posting=date(2026, 11, 20), quantile=0.9
    )
    labels, expected = label_top_decile(
        __import__("pandas").Series(plays), __import__("pandas").Series(["2026-11-20"] * 100), 0.9
    )
    assert threshold.views == expected["2026-11-20"] == pytest.approx(90.1)
    assert not threshold.is_viral(90) and threshold.is_viral(91)
    assert (
        threshold.definition() == "views > q0.90 of plays of videos posted 2026-11-20 UTC (n=100)"
    )
    week = viral_threshold(
        plays, window=date(2026, 11, 16), posting=date(2026, 11, 16), quantile=0.8, window_days=7
    )
    assert "posted 2026-11-16..2026-11-22 UTC" in week.definition()
    with pytest.raises(ValueError, match="no plays"):
        viral_threshold([], window=date(2026, 11, 20), posting=date(2026, 11, 20), quantile=0.9)


@pytest.mark.parametrize("window_days", [1, 3])
def test_threshold_equals_the_training_labels_threshold(app_engine, window_days):
    for offset in range(3):
        scrape_simulated_day(app_engine, date(2026, 11, 18) + timedelta(days=offset), n=300)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    videos = load_labelled_videos(app_engine, now=now)
    _labels, training = label_top_decile(
        videos["play_count"], window_key(videos["posted_at"], window_days), 0.9
    )
    with app_engine.connect() as connection:
        for day in (date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)):
            posted = datetime(day.year, day.month, day.day, 13, 5, tzinfo=UTC)
            threshold = viral_threshold_for(
                connection, posted, quantile=0.9, window_days=window_days
            )
            window = posting_window(posted, window_days)
            assert threshold.window == window and not threshold.is_fallback
            assert threshold.views == pytest.approx(training[window.isoformat()], rel=1e-12)
            assert threshold.n_videos == int(
                (window_key(videos["posted_at"], window_days) == window.isoformat()).sum()
            )


def test_a_thin_window_falls_back_to_the_latest_full_earlier_one(app_engine):
    scrape_simulated_day(app_engine, date(2026, 11, 17), n=300)
    scrape_simulated_day(app_engine, date(2026, 11, 18), n=300)
    from viral_pipeline.store.videos import ingest_items

    few = [
        make_item(str(7_100_000_000_000_000_000 + i), posted=POSTED, plays=10 * i) for i in range(5)
    ]
    ingest_items(app_engine, few, source="test", batch="few")
    with app_engine.connect() as connection:
        threshold = viral_threshold_for(connection, POSTED, quantile=0.9)
        assert threshold.window == date(2026, 11, 18) and threshold.posting_window == date(
            2026, 11, 20
        )
        assert threshold.is_fallback and threshold.n_videos >= MIN_THRESHOLD_VIDEOS
        assert (
            "fallback: the posting window 2026-11-20 had fewer than 100 scraped videos"
            in threshold.definition()
        )
        # Nothing earlier than the 17th: a video posted on the 16th has no threshold at all.
        assert viral_threshold_for(connection, POSTED - timedelta(days=4), quantile=0.9) is None


def test_stats_come_from_parsed_items_and_rejects_are_skipped():
    items = [
        make_item("7300000000000000001", posted=POSTED, plays=5000, likes=300),
        {"error": "gone", "url": "x"},
        {**make_item("7300000000000000002", posted=POSTED), "playCount": -1},
    ]
    stats = stats_from_items(items, now=POSTED + timedelta(days=1))
    assert list(stats) == ["7300000000000000001"]
    assert (stats["7300000000000000001"].views, stats["7300000000000000001"].likes) == (5000, 300)


def test_a_collection_run_reads_each_windows_threshold_once(sqlite_url):
    from viral_pipeline.store.db import ready_engine
    from viral_pipeline.store.outcomes import upsert_outcome
    from viral_pipeline_tests.prediction_builders import PAYLOAD, succeeded_prediction

    engine = ready_engine(sqlite_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=300)
    ids = [
        succeeded_prediction(engine, {**PAYLOAD, "posted_at": f"2026-11-20T{h:02d}:00:00Z"})
        for h in (9, 17)
    ]
    thresholds: dict = {}
    first = upsert_outcome(
        engine,
        request_id=ids[0],
        evaluation_tier="24h",
        views=10,
        video_id="71",
        thresholds=thresholds,
    )
    with engine.connect() as connection:
        fresh = viral_threshold_for(
            connection, datetime(2026, 11, 20, 9, tzinfo=UTC), quantile=0.9, window_days=1
        )
    assert (
        list(thresholds.values()) == [fresh]
        and first.outcome["viral_threshold_views"] == fresh.views
    )
    # The same window's next outcome takes the kept threshold (a kept value it could not have read).
    (window,) = thresholds
    thresholds[window] = replace(fresh, views=5.0)
    second = upsert_outcome(
        engine,
        request_id=ids[1],
        evaluation_tier="24h",
        views=10,
        video_id="72",
        thresholds=thresholds,
    )
    assert second.outcome["viral_threshold_views"] == 5.0 and second.outcome["is_viral"] is True


def test_one_video_rule_whichever_way_the_video_arrives(sqlite_url):
    from viral_pipeline.store.db import ready_engine
    from viral_pipeline.store.outcomes import OutcomeError, set_prediction_video, upsert_outcome
    from viral_pipeline_tests.prediction_builders import succeeded_prediction

    engine = ready_engine(sqlite_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=300)
    request_id = succeeded_prediction(engine)
    set_prediction_video(engine, request_id, "70", "https://www.tiktok.com/@chef/video/70")
    # No outcome stored yet: the outcome's video replaces the announced one, and its old URL goes.
    written = upsert_outcome(
        engine, request_id=request_id, evaluation_tier="24h", views=5, video_id="71"
    )
    assert (written.outcome["video_id"], written.outcome["video_url"]) == ("71", None)
    for move in (
        lambda: set_prediction_video(engine, request_id, "72", None),
        lambda: upsert_outcome(
            engine, request_id=request_id, evaluation_tier="7d", views=5, video_id="72"
        ),
    ):
        with pytest.raises(OutcomeError) as raised:
            move()
        assert raised.value.kind == "video_conflict" and "already has 1 outcome(s)" in str(
            raised.value
        )
