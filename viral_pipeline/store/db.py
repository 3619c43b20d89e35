"""Engines and migrations for the application database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    # Several processes (Dagster runs, the API) share the file: WAL lets readers run beside
    # the writer, and busy_timeout makes a writer wait for the lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_db_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    if parsed.drivername == "postgresql":
        # psycopg2 comes with dagster-postgres; name it so SQLAlchemy need not guess.
        url = parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def get_engine(url: str) -> sa.Engine:
    """One engine (and pool) per URL per process."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_db_engine(url)
        return engine


def _alembic_config(connection: sa.Connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`. Idempotent: at head it changes nothing."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


_migrated: set[str] = set()
_migrate_lock = threading.Lock()

# The newest migration (test_store_migrations keeps it equal to Alembic's head). Knowing it lets
# a process that finds the schema current skip importing Alembic, about 150 ms that every
# predict run (a new process per request) would otherwise pay.
SCHEMA_HEAD = "0012"


def _stored_revision(engine: sa.Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:  # no alembic_version table yet: a new database
        return None


def ready_engine(url: str) -> sa.Engine:
    """The engine for `url`, migrated to head once per process (later calls cost nothing)."""
    engine = get_engine(url)
    if url not in _migrated:
        # The API serves sync handlers from a thread pool: two first requests at once (a client
        # retrying a slow first call) must not run two migrations of one database side by side.
        with _migrate_lock:
            if url not in _migrated:
                if _stored_revision(engine) != SCHEMA_HEAD:
                    migrate(engine)
                _migrated.add(url)
    return engine


def dialect_insert(bind: sa.Engine | sa.Connection, table: sa.Table):
    """INSERT for `table` in the dialect of `bind` (PostgreSQL or SQLite), so callers can write one
    `on_conflict_do_update` / `on_conflict_do_nothing` for both: the upserts share this."""
    return (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(table)
