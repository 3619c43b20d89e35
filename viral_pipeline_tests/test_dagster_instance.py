"""The Dagster instance configurations: the local one, and Dagster's storage on a real PostgreSQL."""

import shutil
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.settings import get_settings

REPO = Path(__file__).resolve().parent.parent


def _yaml(name):
    return yaml.safe_load((REPO / name).read_text())


def test_local_instance_sets_retries_and_concurrency_explicitly(tmp_path):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    coordinator = instance.run_coordinator
    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    # The limits the daemon applies: the `concurrency:` block over the coordinator's defaults.
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4
    assert coordinator.dequeue_interval_seconds == 1
    # The daemon that evaluates automation conditions (trending_sounds after each scrape) runs.
    assert "ASSET" in instance.get_required_daemon_types()
    assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
    # A dead run worker cannot hold a slot for ever: run monitoring fails stuck runs, predict
    # and profile runs sooner, by their jobs' own maximum runtime.
    assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 180
    assert instance.run_monitoring_settings["max_runtime_seconds"] == 6 * 3600
    defs = load_defs()
    assert defs.resolve_job_def("predict").tags["dagster/max_runtime"] == "300"
    assert defs.resolve_job_def("scrape_creator_profile").tags["dagster/max_runtime"] == "1200"


def test_postgres_config_differs_from_the_local_one_only_in_storage():
    local, postgres = _yaml("dagster.yaml"), _yaml("deploy/dagster.postgres.yaml")
    postgres_db = postgres.pop("storage")["postgres"]["postgres_db"]
    assert postgres_db.pop("scheme") == "postgresql+psycopg2"
    assert postgres_db == {
        field: {"env": f"DAGSTER_PG_{suffix}"}
        for field, suffix in [
            ("username", "USERNAME"),
            ("password", "PASSWORD"),
            ("hostname", "HOST"),
            ("db_name", "DB"),
            ("port", "PORT"),
        ]
    }
    assert postgres == local


def test_asset_materializes_with_dagster_storage_on_postgres(
    postgres_server, monkeypatch, tmp_path
):
    storage_url = make_url(postgres_server.create_database())
    monkeypatch.setenv("DAGSTER_PG_USERNAME", storage_url.username)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "trust-auth-ignores-it")
    monkeypatch.setenv("DAGSTER_PG_HOST", storage_url.host)
    monkeypatch.setenv("DAGSTER_PG_DB", storage_url.database)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(storage_url.port))
    # The application database on the same server, so the whole run touches PostgreSQL only.
    monkeypatch.setenv("DATABASE_URL", postgres_server.create_database())
    get_settings.cache_clear()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")

    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        defs = load_defs()
        result = defs.resolve_job_def("creator_profiles_job").execute_in_process(instance=instance)
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("creator_profiles"))
        assert event is not None and event.run_id == result.run_id
    finally:
        instance.dispose()

    # Read it straight from PostgreSQL, not through Dagster.
    engine = sa.create_engine(storage_url.set(drivername="postgresql+psycopg2"))
    with engine.connect() as connection:
        runs = connection.execute(sa.text("SELECT run_id FROM runs")).scalars().all()
        materialized = connection.execute(
            sa.text(
                "SELECT COUNT(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
            )
        ).scalar()
    engine.dispose()
    assert runs == [result.run_id] and materialized == 1
