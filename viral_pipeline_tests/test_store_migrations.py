"""Migrations on SQLite (the PostgreSQL twins live in test_store_postgres.py)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from viral_pipeline.store import schema
from viral_pipeline.store.db import (
    _alembic_config,
    create_db_engine,
    current_revision,
    get_engine,
    migrate,
    ready_engine,
)


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from viral_pipeline.store.db import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


HEAD = _head_revision()
# Every table the queries know about; compare_metadata below proves migrations create exactly these.
DATA_TABLES = set(schema.metadata.tables)
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def schema_differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, schema.metadata)


def downgrade(engine: sa.Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), revision)


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_a_new_database_has_no_revision(sqlite_url: str) -> None:
    assert current_revision(get_engine(sqlite_url)) is None


def test_migrate_twice_is_idempotent(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)

    migrate(engine)
    migrate(engine)

    assert current_revision(engine) == HEAD
    assert table_names(engine) == DATA_TABLES | {"alembic_version"}
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_migrate_to_an_explicit_revision(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)

    migrate(engine, HEAD)

    assert current_revision(engine) == HEAD


def test_migrated_schema_matches_the_table_definitions(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    migrate(engine)

    assert schema_differences(engine) == []


def test_schema_comparison_does_detect_differences(sqlite_url: str) -> None:
    # Guards the test above: an unmigrated database must differ from the definitions.
    engine = get_engine(sqlite_url)

    differences = schema_differences(engine)

    assert {diff[1].name for diff in differences if diff[0] == "add_table"} == DATA_TABLES


def test_downgrade_to_base_then_upgrade_again(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    migrate(engine)

    downgrade(engine, "base")

    assert current_revision(engine) is None
    assert table_names(engine) & DATA_TABLES == set()

    migrate(engine)

    assert current_revision(engine) == HEAD
    assert table_names(engine) >= DATA_TABLES
    assert schema_differences(engine) == []


def test_stored_data_survives_a_second_migrate(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    migrate(engine)
    creator = {
        "author_id": "6800000000000000001",
        "handle": "somebody",
        "followers": 12_345,
        "verified": False,
        "follower_tier": "micro",
        "source": "scrape",
        "updated_at": NOW,
    }
    with engine.begin() as connection:
        connection.execute(schema.creators.insert(), creator)

    migrate(engine)

    with engine.connect() as connection:
        rows = connection.execute(sa.select(schema.creators)).mappings().all()
    assert len(rows) == 1
    stored = dict(rows[0])
    assert stored.pop("updated_at").replace(tzinfo=dt.UTC) == NOW  # SQLite drops the zone
    assert stored == {key: value for key, value in creator.items() if key != "updated_at"}


def test_server_default_applies_to_webhook_deliveries(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(
            schema.apify_webhook_events.insert(),
            {
                "apify_run_id": "run1",
                "event_type": "ACTOR.RUN.SUCCEEDED",
                "run_status": "SUCCEEDED",
                "received_at": NOW,
            },
        )
        deliveries = connection.execute(
            sa.select(schema.apify_webhook_events.c.deliveries)
        ).scalar_one()
    assert deliveries == 1


def test_get_engine_returns_one_engine_per_url(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)

    assert get_engine(sqlite_url) is engine
    assert get_engine(f"sqlite:///{tmp_path}/other.db") is not engine


def test_sqlite_engine_creates_the_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "app.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000
        assert path.exists()
    finally:
        engine.dispose()


def test_in_memory_sqlite_engine_works() -> None:
    engine = create_db_engine("sqlite://")
    try:
        migrate(engine)
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()


def test_ready_engine_migrates_once_per_process(sqlite_url: str) -> None:
    engine = ready_engine(sqlite_url)

    assert engine is get_engine(sqlite_url)
    assert current_revision(engine) == HEAD

    downgrade(engine, "base")  # behind its back: a later call trusts its memory
    assert ready_engine(sqlite_url) is engine
    assert current_revision(engine) is None


def test_first_requests_at_once_migrate_the_database_once(sqlite_url: str, monkeypatch) -> None:
    # The API's thread pool can serve two first requests together (a client retrying a slow first
    # call). A migration that takes a while must not be started a second time beside it.
    import viral_pipeline.store.db as db

    runs = []

    def slow_migrate(engine: sa.Engine) -> None:
        runs.append(engine.url)
        time.sleep(0.5)  # widen the window in which a second caller would start its own
        migrate(engine)

    monkeypatch.setattr(db, "migrate", slow_migrate)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        engines = list(pool.map(lambda _: ready_engine(sqlite_url), range(4)))
    assert len(runs) == 1
    assert all(engine is engines[0] for engine in engines)
    assert current_revision(engines[0]) == HEAD


def test_schema_head_constant_is_alembics_head():
    from viral_pipeline.store.db import SCHEMA_HEAD

    assert SCHEMA_HEAD == HEAD


def test_a_current_schema_is_not_migrated_again_in_a_new_process(tmp_path, monkeypatch):
    from viral_pipeline.store import db

    url = f"sqlite:///{tmp_path}/current.db"
    migrate(create_db_engine(url))  # as another process left it
    monkeypatch.setattr(db, "_migrated", set())

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("migrate() ran on a database already at head")

    monkeypatch.setattr(db, "migrate", must_not_run)
    assert current_revision(db.ready_engine(url)) == HEAD
