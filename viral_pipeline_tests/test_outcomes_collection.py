"""Collection of outcomes: prediction_outcomes materialized for real (SQLite file and PostgreSQL)
on the simulated source as time passes, the evaluate_predictions schedule through the code
location, the Apify path against the fake Apify server, and simulated outcomes that follow the
simulated world's generative model."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pytest
import sqlalchemy as sa
from scipy.stats import spearmanr

from viral_pipeline.defs.outcomes.assets import prediction_outcomes
from viral_pipeline.defs.outcomes.schedules import evaluate_predictions
from viral_pipeline.defs.predict.resources import ModelServing
from viral_pipeline.defs.resources import AppDatabase, ModelPolicy, Scraper
from viral_pipeline.engine.calibration.outcomes import VideoToCollect
from viral_pipeline.engine.inputs.items import VideoRecord, parse_item
from viral_pipeline.engine.world.simulated import (
    CREATOR_QUALITY_SD,
    generate_day,
    p_above,
    roc_auc,
    world,
)
from viral_pipeline.engine.world.simulated_outcomes import (
    creator_quality,
    expected_ln_plays_of_request,
    simulated_stats,
    sound_trends_on,
    viral_probability,
)
from viral_pipeline.settings import ScraperSource, Settings, get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.outcomes import outcomes_of, set_prediction_video, viral_threshold_for
from viral_pipeline_tests.factories import make_item
from viral_pipeline_tests.prediction_builders import (
    PAYLOAD,
    scrape_simulated_day,
    succeeded_prediction,
)

POSTED = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


def _materialize(url: str, now: datetime | None, scraper: Scraper | None = None):
    config = {"now": now.isoformat()} if now else {}  # without it: the wall clock, as from the UI
    result = dg.materialize(
        [prediction_outcomes],
        resources={
            "app_db": AppDatabase(url=url),
            "scraper": scraper or Scraper.from_settings(get_settings()),
            "model_policy": ModelPolicy.from_settings(get_settings()),
            "model_serving": ModelServing.from_settings(get_settings()),
        },
        run_config={"ops": {"prediction_outcomes": {"config": config}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (event,) = result.asset_materializations_for_node("prediction_outcomes")
    return {key: value.value for key, value in event.metadata.items()}


def _row_count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT COUNT(*) FROM outcomes")).scalar()


def test_tiers_are_collected_as_time_passes_and_nothing_is_lost(any_db_url):
    engine = ready_engine(any_db_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=300)
    followers = [500, 5_000, 50_000, 500_000]
    requests = [
        succeeded_prediction(engine, {**PAYLOAD, "creator": {"followers": f}}) for f in followers
    ]
    for i, request_id in enumerate(requests):
        set_prediction_video(engine, request_id, str(7_300_000_000_000_000_000 + i), None)
    succeeded_prediction(engine)  # no video known: never due

    assert _materialize(any_db_url, POSTED + timedelta(hours=23))["due"] == 0
    first = _materialize(any_db_url, POSTED + timedelta(hours=25))
    assert (first["due"], first["collected_24h"], first["missing"], first["collected_72h"]) == (
        4,
        4,
        0,
        0,
    )
    again = _materialize(any_db_url, POSTED + timedelta(hours=26))
    assert (again["due"], again["collected"], _row_count(engine)) == (
        0,
        0,
        4,
    )  # a stored tier is not redone

    # A video announced late: its 24 h window (to 36 h) has closed, so that tier is expired.
    late = succeeded_prediction(engine)
    set_prediction_video(engine, late, "7300000000000000099", None)
    second = _materialize(any_db_url, POSTED + timedelta(hours=73))
    assert (second["collected_72h"], second["expired"]) == (5, 1)
    third = _materialize(any_db_url, POSTED + timedelta(days=7, hours=1))
    assert (third["collected_7d"], third["collected"], _row_count(engine)) == (5, 5, 14)

    for request_id in requests:
        tiers = outcomes_of(engine, request_id)
        assert [o["evaluation_tier"] for o in tiers] == ["24h", "72h", "7d"]
        assert tiers[0]["views"] < tiers[1]["views"] < tiers[2]["views"]  # views grow with age
        assert {o["source"] for o in tiers} == {"simulated"}
        assert all(
            o["label_definition"].startswith("views > q0.90 of plays of videos posted 2026-11-20")
            for o in tiers
        )
    views_7d = [outcomes_of(engine, r)[2]["views"] for r in requests]
    assert views_7d == sorted(views_7d)  # reach drives views (luck aside, 10x followers per step)


def test_no_threshold_is_counted_and_retried_later(sqlite_url):
    engine = ready_engine(sqlite_url)
    before = datetime.now(UTC)
    idle = _materialize(sqlite_url, None)  # no time given: the wall clock, as a launch from the UI
    assert idle["due"] == 0 and datetime.fromisoformat(idle["evaluated_at"]) >= before
    request_id = succeeded_prediction(engine)
    set_prediction_video(engine, request_id, "7300000000000000001", None)
    blocked = _materialize(sqlite_url, POSTED + timedelta(hours=25))
    assert (blocked["due"], blocked["no_threshold"], blocked["collected"], _row_count(engine)) == (
        1,
        1,
        0,
        0,
    )
    scrape_simulated_day(engine, date(2026, 11, 20), n=200)
    assert _materialize(sqlite_url, POSTED + timedelta(hours=26))["collected_24h"] == 1


def test_the_hourly_schedule_runs_the_job_of_the_code_location(sqlite_url):
    from viral_pipeline.definitions import defs as load_defs

    engine = ready_engine(sqlite_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=200)
    request_id = succeeded_prediction(engine)
    set_prediction_video(engine, request_id, "7300000000000000001", None)

    defs = load_defs()
    schedule = defs.resolve_schedule_def("evaluate_predictions")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 * * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = POSTED + timedelta(days=7)
    with dg.DagsterInstance.ephemeral() as instance:
        run_request = evaluate_predictions(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        )
        assert run_request.run_key == tick.isoformat()
        result = defs.resolve_job_def("evaluate_predictions_job").execute_in_process(
            run_config=run_request.run_config, instance=instance
        )
    assert result.success
    assert [o["evaluation_tier"] for o in outcomes_of(engine, request_id)] == ["7d"]


def test_the_apify_source_reads_the_videos_urls_and_counts_the_missing(sqlite_url, fake_apify):
    engine = ready_engine(sqlite_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=200)
    found, gone = succeeded_prediction(engine), succeeded_prediction(engine)
    url = "https://www.tiktok.com/@chef/video/7300000000000000001"
    set_prediction_video(engine, found, "7300000000000000001", url)
    set_prediction_video(engine, gone, "7300000000000000002", None)
    fake_apify.next_run(
        dataset_items=[
            make_item("7300000000000000001", posted=POSTED, plays=123_456, likes=9_000),
            {"error": "Post not found", "url": "x"},
        ],
        finishes_after_polls=1,
    )
    scraper = Scraper.from_settings(
        Settings(
            scraper_source=ScraperSource.apify,
            apify_api_url=fake_apify.url,
            apify_token=fake_apify.token,
            apify_timeout_s=5,
            apify_max_wait_s=10,
        )
    )
    metadata = _materialize(sqlite_url, POSTED + timedelta(hours=25), scraper)
    assert (
        metadata["due"],
        metadata["collected_24h"],
        metadata["missing"],
        metadata["source"],
    ) == (2, 1, 1, "apify")
    (started,) = fake_apify.requests_to("/v2/acts/clockworks~tiktok-scraper/runs", method="POST")
    assert started.body["postURLs"] == [url, "https://www.tiktok.com/@/video/7300000000000000002"]
    assert started.body["shouldDownloadVideos"] is False
    (outcome,) = outcomes_of(engine, found)
    assert (outcome["views"], outcome["likes"], outcome["source"]) == (123_456, 9_000, "apify")
    assert outcomes_of(engine, gone) == []


def test_an_apify_failure_fails_the_run_and_stores_nothing(sqlite_url, fake_apify):
    engine = ready_engine(sqlite_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=200)
    request_id = succeeded_prediction(engine)
    set_prediction_video(engine, request_id, "7300000000000000001", None)
    fake_apify.next_run(status="FAILED")
    scraper = Scraper.from_settings(
        Settings(
            scraper_source=ScraperSource.apify,
            apify_api_url=fake_apify.url,
            apify_token=fake_apify.token,
            apify_timeout_s=5,
            apify_max_wait_s=10,
        )
    )
    with pytest.raises(Exception, match="ended with status FAILED"):
        dg.materialize(
            [prediction_outcomes],
            resources={
                "app_db": AppDatabase(url=sqlite_url),
                "scraper": scraper,
                "model_policy": ModelPolicy.from_settings(get_settings()),
                "model_serving": ModelServing.from_settings(get_settings()),
            },
            run_config={
                "ops": {
                    "prediction_outcomes": {
                        "config": {"now": (POSTED + timedelta(hours=25)).isoformat()}
                    }
                }
            },
            instance=dg.DagsterInstance.ephemeral(),
        )
    assert _row_count(engine) == 0
    assert (
        Scraper.from_settings(Settings(scraper_source=ScraperSource.apify))
        .process_config_and_initialize()
        .fetch_video_stats([], POSTED)
        == {}
    )  # nothing asked: no call


def _payload_of(record: VideoRecord) -> dict:
    """A prediction request describing a scraped video, as a backend would have sent it before posting."""
    sound = (
        {"id": record.music_id, "original": bool(record.music_original)}
        if record.music_id
        else None
    )
    return {
        "caption": record.caption,
        "hashtags": [],
        "sound": sound,
        "duration_s": record.duration_s,
        "posted_at": record.posted_at.isoformat(),
        "creator": {"followers": record.author_followers, "verified": record.author_verified},
    }


def test_simulated_outcomes_follow_the_simulated_worlds_model(sqlite_url):
    """Requests made from a simulated day's own videos: their 7-day outcomes against that day's
    threshold give about the top decile, and mu (the best knowable before posting) ranks them as
    well as metadata can: the creators' hidden effects are unknown to a request."""
    day = date(2026, 11, 20)
    generated = generate_day(day, 3000)
    records = [
        r
        for r in (parse_item(i, now=datetime(2026, 11, 29, tzinfo=UTC)) for i in generated.items)
        if isinstance(r, VideoRecord) and not r.is_slideshow
    ]
    engine = ready_engine(sqlite_url)
    scrape_simulated_day(engine, day, n=3000)
    with engine.connect() as connection:
        threshold = viral_threshold_for(
            connection, datetime(2026, 11, 20, 12, tzinfo=UTC), quantile=0.9
        )
    mus, truth, viral = [], [], []
    for k, record in enumerate(records):
        payload = _payload_of(record)
        stats = simulated_stats(
            str(8_000_000_000_000_000_000 + k),
            payload,
            record.posted_at,
            record.posted_at + timedelta(days=7),
        )
        if stats is not None:
            mus.append(expected_ln_plays_of_request(payload, record.posted_at))
            truth.append(generated.knowable_viral_probability[record.video_id])
            viral.append(threshold.is_viral(stats.views))
    assert 0.97 * len(records) < len(viral) < len(records)  # about 1% of videos cannot be found
    # The request's mu is the generator's own: it orders videos exactly as their knowable probability.
    assert spearmanr(mus, truth).statistic > 0.999
    assert 0.07 < np.mean(viral) < 0.13  # measured 0.101 (n=2816)
    # The world is as hard as real trending videos: pre-posting metadata ranks at about 0.65.
    auc = roc_auc(np.array(mus), np.array(viral))
    assert 0.58 < auc < 0.72, auc  # measured 0.674 (n=2816)


def test_higher_followers_go_viral_more_often_over_many_videos():
    rates = {}
    for followers in (1_000, 30_000, 1_000_000):
        payload = {**PAYLOAD, "creator": {"followers": followers}}
        views = [
            simulated_stats(
                str(9_000_000_000_000_000_000 + k), payload, POSTED, POSTED + timedelta(days=7)
            )
            for k in range(1500)
        ]
        # A fixed threshold (a simulated day's q0.9 of plays is about 7.6M): the share above it.
        rates[followers] = np.mean([s.views > 7_600_000 for s in views if s is not None])
    assert rates[1_000] < rates[30_000] < rates[1_000_000]
    # Reach is a weak signal among trending videos (Spearman 0.20 with views in a real sample).
    assert rates[1_000_000] - rates[1_000] > 0.04  # measured 0.071 (0.075, 0.099, 0.146)


def test_simulated_stats_are_deterministic_grow_with_age_and_use_the_sound_trend():
    later = POSTED + timedelta(hours=72)
    assert simulated_stats("7300000000000000001", PAYLOAD, POSTED, later) == simulated_stats(
        "7300000000000000001", PAYLOAD, POSTED, later
    )
    assert (
        simulated_stats("7300000000000000001", PAYLOAD, POSTED, POSTED - timedelta(hours=1)) is None
    )
    # A trending sound lifts a small account's expected plays; the same sound as "original" does not.
    trends = sound_trends_on(POSTED.date())
    peak = max(trends, key=trends.get)
    assert trends[peak] > 0.9
    small = {**PAYLOAD, "creator": {"followers": 300}}
    with_sound = {**small, "sound": {"id": peak, "original": False}}
    original = {**small, "sound": {"id": peak, "original": True}}
    lift = expected_ln_plays_of_request(with_sound, POSTED) - expected_ln_plays_of_request(
        original, POSTED
    )
    assert 0.4 < lift < 0.5  # 0.5 * trend * small-account weight, as in the simulated source
    video = VideoToCollect("1", None, POSTED, PAYLOAD)
    scraper = Scraper.from_settings(get_settings()).process_config_and_initialize()
    assert scraper.fetch_video_stats([video], later) == {
        "1": simulated_stats("1", PAYLOAD, POSTED, later)
    }


def test_the_true_viral_probability_matches_the_simulated_frequency():
    for followers in (2_000, 200_000):
        payload = {**PAYLOAD, "creator": {"followers": followers}}
        stats = [
            simulated_stats(
                str(9_100_000_000_000_000_000 + k), payload, POSTED, POSTED + timedelta(days=7)
            )
            for k in range(4000)
        ]
        observed = np.mean([s.views > 7_600_000 for s in stats if s is not None])
        expected = viral_probability(payload, POSTED, 7_600_000)
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / 4000) + 0.005, (
            followers
        )


def test_a_world_creator_brings_its_hidden_effect_and_an_unknown_one_the_prior():
    w = world()
    best, worst = int(np.argmax(w.quality)), int(np.argmin(w.quality))
    payloads = {
        c: {**PAYLOAD, "creator": {"handle": "@" + w.handle(c), "followers": 50_000}}
        for c in (best, worst)
    }
    unknown = {**PAYLOAD, "creator": {"handle": "nobody.here", "followers": 50_000}}
    assert (
        creator_quality(payloads[best]) == w.quality[best] > 1 and creator_quality(unknown) is None
    )
    # The oracle for a known creator; the prior marginalised for an unknown one.
    margin = expected_ln_plays_of_request(unknown, POSTED) - np.log(7_600_000)
    assert viral_probability(payloads[best], POSTED, 7_600_000) == pytest.approx(
        float(p_above(margin + w.quality[best]))
    )
    assert viral_probability(unknown, POSTED, 7_600_000) == pytest.approx(
        float(p_above(margin, CREATOR_QUALITY_SD))
    )
    assert (
        viral_probability(payloads[worst], POSTED, 7_600_000)
        < viral_probability(unknown, POSTED, 7_600_000)
        < viral_probability(payloads[best], POSTED, 7_600_000)
    )
    # Outcomes follow: the best creator's videos go viral far more often than the worst one's.
    shares = {
        c: np.mean(
            [
                s.views > 7_600_000
                for k in range(400)
                if (
                    s := simulated_stats(
                        str(9_200_000_000_000_000_000 + k),
                        payloads[c],
                        POSTED,
                        POSTED + timedelta(days=7),
                    )
                )
                is not None
            ]
        )
        for c in (best, worst)
    }
    assert shares[best] > shares[worst] + 0.3
