"""Resources built from settings (EnvVar where the environment sets a value), the Apify scraper
path against the real fake Apify server, and the first-run bootstrap."""

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.bootstrap import bootstrap, main
from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.resources import ScraperSource, build_resources
from viral_pipeline.settings import get_settings, load_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline_tests.factories import make_item


def test_values_set_in_the_environment_are_env_vars_so_the_ui_never_shows_secrets(monkeypatch):
    monkeypatch.setenv("APIFY_TOKEN", "tok-123")
    resources = build_resources(load_settings())
    assert isinstance(resources["scraper"].apify_token, dg.EnvVar)
    assert isinstance(resources["app_db"].url, dg.EnvVar)  # DATABASE_URL is set by the test fixture


def test_unset_values_fall_back_to_the_settings_defaults(monkeypatch):
    monkeypatch.delenv("DATABASE_URL")
    resources = build_resources(load_settings())
    assert resources["app_db"].url.endswith("data/viral_pipeline.db")
    assert resources["scraper"].apify_token is None
    assert resources["scraper"].source == "simulated"


def test_apify_source_runs_the_actor_and_pages_its_dataset(fake_apify):
    from datetime import UTC, datetime

    items = [
        make_item(f"76000000000000000{i:02d}", posted=datetime(2026, 11, 28, tzinfo=UTC))
        for i in range(5)
    ]
    fake_apify.next_run(dataset_items=items, finishes_after_polls=1)
    scraper = ScraperSource(
        source="apify",
        apify_api_url=fake_apify.url,
        apify_token=fake_apify.token,
        hashtags=["fyp"],
        results_per_hashtag=5,
        max_wait_s=10,
    )
    got = list(scraper.fetch_day(datetime(2026, 11, 28).date()))
    assert [item["id"] for item in got] == [item["id"] for item in items]
    (start,) = fake_apify.requests_to("/v2/acts/", method="POST")
    assert start.body["hashtags"] == ["fyp"] and start.body["resultsPerPage"] == 5


def test_bootstrap_materializes_every_data_asset_into_the_instance(monkeypatch):
    monkeypatch.setenv("SIMULATED_VIDEOS_PER_DAY", "150")
    get_settings.cache_clear()
    instance = dg.DagsterInstance.ephemeral()
    partitions = bootstrap(2, instance, train_model=False)
    assert len(partitions) == 2 and partitions[0] < partitions[1]
    for key in ("scraped_videos", "creator_profiles", "trending_sounds"):
        assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None, key
    with ready_engine(get_settings().database_url).connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM trending_sounds")).scalar() > 0


def test_bootstrap_command_line_uses_the_instance_at_dagster_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SIMULATED_VIDEOS_PER_DAY", "50")
    get_settings.cache_clear()
    main(["--days", "1", "--no-model"])
    with dg.DagsterInstance.get() as instance:
        assert instance.get_latest_materialization_event(dg.AssetKey("scraped_videos")) is not None


def test_definitions_load():
    dg.Definitions.validate_loadable(load_defs())
