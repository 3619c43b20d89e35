"""Resources built from settings (EnvVar where the environment sets a value, no default of their
own), the Apify scraper path against the real fake Apify server, and the first-run bootstrap."""

from datetime import date

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.remote_representation.external_data import RepositorySnap

from viral_pipeline.bootstrap import bootstrap, main
from viral_pipeline.definitions import build_resources
from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.resources import Scraper
from viral_pipeline.settings import ScraperSource, Settings, get_settings, load_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline_tests.factories import make_item


def _what_the_ui_receives(resources: dict) -> str:
    """The code location's snapshot as the webserver reads it, resources' configured values included."""
    repository = dg.Definitions(resources=resources).get_repository_def()
    return dg.serialize_value(RepositorySnap.from_def(repository))


def test_values_set_in_the_environment_are_env_vars_so_the_ui_never_shows_secrets(monkeypatch):
    monkeypatch.setenv("APIFY_TOKEN", "tok-123")
    monkeypatch.setenv("GEMINI_API_KEY", "gem-456")
    monkeypatch.setenv("deepseek_api_key", "ds-789")  # the settings read names in any case
    resources = build_resources(load_settings())
    assert resources["scraper"].apify_token == dg.EnvVar("APIFY_TOKEN")
    assert resources["llm_judges"].gemini_api_key == dg.EnvVar("GEMINI_API_KEY")
    assert resources["llm_judges"].deepseek_api_key == dg.EnvVar("deepseek_api_key")
    assert isinstance(resources["app_db"].url, dg.EnvVar)  # DATABASE_URL is set by the test fixture
    shown = _what_the_ui_receives(resources)
    assert "tok-123" not in shown and "gem-456" not in shown and "ds-789" not in shown
    assert "APIFY_TOKEN" in shown and "GEMINI_API_KEY" in shown


def test_a_value_given_to_the_settings_object_wins_over_the_environment(monkeypatch):
    # The variable holds another token, so naming it would hand the run the wrong one.
    monkeypatch.setenv("APIFY_TOKEN", "tok-123")
    resources = build_resources(Settings(apify_token="tok-other"))
    assert resources["scraper"].apify_token == "tok-other"


def test_a_value_the_settings_changed_reaches_the_resource_as_validated(monkeypatch):
    monkeypatch.setenv("APIFY_API_URL", "https://apify.example/")
    assert build_resources(load_settings())["scraper"].apify_api_url == "https://apify.example"


def test_unset_values_fall_back_to_the_settings_defaults(monkeypatch):
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("SCRAPER_SOURCE")
    resources = build_resources(load_settings())
    assert resources["app_db"].url.endswith("data/viral_pipeline.db")
    assert resources["scraper"].apify_token is None
    assert resources["scraper"].source == ScraperSource.simulated.value


def test_an_unresolved_source_is_refused_rather_than_taken_for_apify(monkeypatch):
    # Outside a run, a resource holds the EnvVar itself; its name is no source, and a scrape
    # must not fall through to the paid actor.
    monkeypatch.setenv("SCRAPER_SOURCE", "simulated")
    scraper = build_resources(load_settings())["scraper"]
    assert scraper.source == dg.EnvVar("SCRAPER_SOURCE")
    with pytest.raises(ValueError, match="'SCRAPER_SOURCE' is neither of simulated, apify"):
        next(scraper.fetch_day(date(2026, 1, 5)))
    resolved = scraper.process_config_and_initialize()
    assert resolved.simulated and next(resolved.fetch_day(date(2026, 1, 5)))


def test_resources_state_no_default_of_their_own_so_settings_state_each_once():
    resources = build_resources(Settings())
    with_defaults = {
        f"{key}.{name}"
        for key, resource in resources.items()
        if isinstance(resource, dg.ConfigurableResource)
        for name, field in type(resource).model_fields.items()
        if not field.is_required()
    }
    assert with_defaults == set()


def test_apify_source_runs_the_actor_and_pages_its_dataset(fake_apify):
    from datetime import UTC, datetime

    items = [
        make_item(f"76000000000000000{i:02d}", posted=datetime(2026, 11, 28, tzinfo=UTC))
        for i in range(5)
    ]
    fake_apify.next_run(dataset_items=items, finishes_after_polls=1)
    scraper = Scraper.from_settings(
        Settings(
            scraper_source=ScraperSource.apify,
            apify_api_url=fake_apify.url,
            apify_token=fake_apify.token,
            apify_hashtags="#fyp",
            apify_results_per_hashtag=5,
            apify_max_wait_s=10,
        )
    ).process_config_and_initialize()  # as a run does: the token is an EnvVar until then
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
