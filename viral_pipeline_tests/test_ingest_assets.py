"""The data assets materialized for real on the simulated source, plus their schedules and sensor."""

from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.ingest.schedules import refresh_creator_profiles, scrape_trending
from viral_pipeline.defs.ingest.sensors import trending_sounds_after_scrape
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine

EXPECTED_ASSETS = {
    "scraped_videos",
    "creator_profiles",
    "trending_sounds",
    "training_set",
    "ml_model",
    "champion_model",
    "prediction_outcomes",
    "platt_calibration",
    "serving_calibration",
    "signal_weights_fit",
    "serving_signal_weights",
    "update_model",
    "update_champion",
    "calibration_audit",
    "cost_report",
}


@pytest.fixture
def small_days(monkeypatch):
    monkeypatch.setenv("SIMULATED_VIDEOS_PER_DAY", "400")
    get_settings.cache_clear()


@pytest.fixture
def defs(small_days):
    return load_defs()


def _count(table):
    with ready_engine(get_settings().database_url).connect() as connection:
        return connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar()


def _scrape(defs, instance, day):
    return defs.resolve_job_def("scrape_job").execute_in_process(
        partition_key=day, instance=instance
    )


def _run(defs, instance, job, **config):
    run_config = {"ops": {name: {"config": value} for name, value in config.items()}}
    return defs.resolve_job_def(job).execute_in_process(instance=instance, run_config=run_config)


def test_asset_keys_schedules_and_sensors_snapshot(defs):
    assert {
        key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()
    } == EXPECTED_ASSETS
    assert {s.name for s in defs.schedules} == {
        "scrape_trending",
        "refresh_creator_profiles",
        "retrain_ml",
        "evaluate_predictions",
        "calibration_audit",
        "daily_cost_report",
    }
    assert {s.name for s in defs.sensors} == {
        "apify_webhook_runs",
        "trending_sounds_after_scrape",
        "prediction_requests",
        "profile_requests",
        "request_run_failures",
    }
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        "accuracy_gate",
        "calibration_improves",
        "learned_weights_beat_fixed",
        "update_gate",
    }
    for definition in [*defs.schedules, *defs.sensors]:
        assert definition.default_status.value == "RUNNING", definition.name


def test_materialize_the_data_assets_twice_on_the_simulated_source(defs):
    instance = dg.DagsterInstance.ephemeral()
    for day in ("2026-11-26", "2026-11-27"):
        result = _scrape(defs, instance, day)
        assert result.success
        metadata = result.asset_materializations_for_node("scraped_videos")[0].metadata
        stored, rejected = metadata["rows_stored"].value, metadata["rows_rejected"].value
        assert stored + rejected == 400 and 0 < rejected < 20
        assert metadata["source"].value == "simulated" and metadata["duration_ms"].value > 0
    videos_after_two_days = _count("scraped_videos")
    assert videos_after_two_days == 800 - _count("ingest_rejects")

    # The same partition again: same rows (an upsert), nothing duplicated, rejects kept once.
    rejects = _count("ingest_rejects")
    again = _scrape(defs, instance, "2026-11-27")
    assert again.success
    assert _count("scraped_videos") == videos_after_two_days and _count("ingest_rejects") == rejects

    profiles = _run(defs, instance, "creator_profiles_job")
    assert profiles.success
    creators = profiles.asset_materializations_for_node("creator_profiles")[0].metadata
    assert creators["creators"].value == _count("creators") > 0
    assert (
        sum(v.value for k, v in creators.items() if k.startswith("tier_"))
        == creators["creators"].value
    )
    trends = (
        _run(defs, instance, "trending_sounds_job")
        .asset_materializations_for_node("trending_sounds")[0]
        .metadata
    )
    assert trends["rows_written"].value == _count("trending_sounds") > 0
    assert "| sound | day |" in trends["top_sounds"].value and trends["top_uses"].value >= 1


def test_trending_sounds_lookback_recomputes_only_recent_days(defs):
    instance = dg.DagsterInstance.ephemeral()
    _scrape(defs, instance, "2026-01-05")
    full = _run(defs, instance, "trending_sounds_job")
    rows = full.asset_materializations_for_node("trending_sounds")[0].metadata["rows_written"].value
    assert rows > 0
    recent = _run(defs, instance, "trending_sounds_job", trending_sounds={"lookback_days": 7})
    assert (
        recent.asset_materializations_for_node("trending_sounds")[0].metadata["rows_written"].value
        == 0
    )
    assert _count("trending_sounds") == rows  # older days are kept, not wiped


def test_scrape_schedule_targets_the_scheduled_days_partition():
    tick = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    request = scrape_trending(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2026-11-29"
    assert request.run_key == tick.isoformat()
    assert scrape_trending.cron_schedule == "0 */6 * * *"


def test_creator_profiles_schedule_is_daily():
    tick = datetime(2026, 11, 29, 3, 30, tzinfo=UTC)
    request = refresh_creator_profiles(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.run_key == tick.isoformat()
    assert refresh_creator_profiles.cron_schedule == "30 3 * * *"


def test_trending_sounds_recompute_after_each_scrape_and_only_then(defs):
    """Ticks of the real automation condition on the real definitions and storage."""
    instance = dg.DagsterInstance.ephemeral()
    trends = dg.AssetKey("trending_sounds")
    assert trending_sounds_after_scrape.asset_selection.resolve(defs.resolve_asset_graph()) == {
        trends
    }

    def tick(cursor=None):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        return result.get_num_requested(trends), result.cursor

    requested, cursor = tick()
    assert requested == 0  # nothing scraped yet

    assert _scrape(defs, instance, "2026-11-28").success
    requested, cursor = tick(cursor)
    assert requested == 1
    requested, cursor = tick(cursor)
    assert requested == 0  # once per update, not on every tick

    # Another asset's update is no reason to recompute trends.
    assert _run(defs, instance, "creator_profiles_job").success
    requested, cursor = tick(cursor)
    assert requested == 0

    # Nor is a recompute by hand; the next scrape is.
    assert _run(defs, instance, "trending_sounds_job").success
    requested, cursor = tick(cursor)
    assert requested == 0
    assert _scrape(defs, instance, "2026-11-29").success
    requested, cursor = tick(cursor)
    assert requested == 1


def test_every_line_a_run_writes_is_json(defs, capfd):
    """Dagster's run log goes through our JSON console logger; our own lines are JSON too."""
    import json

    from viral_pipeline.observability import configure_logging

    configure_logging("INFO", force=True)  # bind the handler to this test's captured stderr
    instance = dg.DagsterInstance.ephemeral()
    assert _scrape(defs, instance, "2026-11-25").success
    warned = _run(defs, instance, "trending_sounds_job", trending_sounds={"lookback_days": 3})
    assert warned.success
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.strip()]
    events = {line["event"] for line in lines}
    assert {"scraped videos stored", "trending sounds computed"} <= events
    assert all(
        "run_id" in line for line in lines if line["logger"].startswith("viral_pipeline.defs")
    )


def test_dagster_records_are_flattened_into_json_fields():
    import json
    import logging

    from viral_pipeline.dagster_logging import DagsterRecordFormatter, json_console

    record = logging.makeLogRecord(
        {"msg": "scrape_job - abc - text", "levelno": logging.INFO, "levelname": "INFO"}
    )
    record.dagster_meta = {
        "orig_message": "Started",
        "run_id": "abc",
        "job_name": "scrape_job",
        "step_key": "scraped_videos",
        "dagster_event": None,
    }
    rendered = json.loads(DagsterRecordFormatter().format(record))
    assert (
        rendered["event"] == "Started"
        and rendered["run_id"] == "abc"
        and rendered["step_key"] == "scraped_videos"
    )
    logger = json_console.logger_fn(
        dg.build_init_logger_context(logger_config={"log_level": "WARNING"})
    )
    assert logger.level == logging.WARNING


def test_a_failed_apify_scrape_fails_the_run_reports_to_sentry_and_keeps_stored_rows(
    monkeypatch, fake_apify, sentry_events
):
    instance = dg.DagsterInstance.ephemeral()
    monkeypatch.setenv("SIMULATED_VIDEOS_PER_DAY", "100")
    get_settings.cache_clear()
    assert _scrape(load_defs(), instance, "2026-11-24").success
    stored = _count("scraped_videos")

    monkeypatch.setenv("SCRAPER_SOURCE", "apify")
    get_settings.cache_clear()
    fake_apify.next_run(status="FAILED")
    result = (
        load_defs()
        .resolve_job_def("scrape_job")
        .execute_in_process(partition_key="2026-11-25", instance=instance, raise_on_error=False)
    )
    assert not result.success
    (event,) = sentry_events.events()
    assert "FAILED" in event["exception"]["values"][0]["value"]
    assert event["tags"]["asset"] == "scraped_videos"
    assert _count("scraped_videos") == stored
