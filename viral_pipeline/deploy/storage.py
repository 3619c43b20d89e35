"""Dagster's PostgreSQL storage with its connections kept open between writes.

dagster-postgres opens a new PostgreSQL connection for every statement (SQLAlchemy's NullPool),
so that the many short-lived instances a deployment creates hold no idle connections. Each new
connection costs PostgreSQL a backend process and the client a handshake. A prediction run
writes some 60 events and the daemon reads the run queue, sensors and monitored runs every
second, so on the production topology PostgreSQL alone spent 1.3-1.4 CPU seconds per prediction,
more than every other service together (bench/README.md).

This storage is the same three stores over one small connection pool each. Every instance is
disposed with its pools: the run worker's per-run instance when its run ends, the daemon's and
webserver's when they stop, so connections stay bounded by processes times POOL_SIZE, not by
statements. A pooled connection is checked before use (`pool_pre_ping`), so one left over from
before a PostgreSQL restart is replaced instead of failing a write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClassData
from dagster_postgres import (
    DagsterPostgresStorage,
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# Connections each store keeps per process, and how many more it opens while busier (closed when
# returned). The daemon's threads (sensors, queue, monitoring) are what reach past one.
POOL_SIZE = 2
MAX_OVERFLOW = 8
# Connections are replaced after an hour, so none outlives a PostgreSQL configuration change.
POOL_RECYCLE_S = 3600


class _Pooled:
    """Mixed into each of dagster-postgres's three stores: the pooled engine, and closing it
    when the store is disposed. A disposed instance disposes its run and event log stores; its
    schedule store (sensor and schedule ticks: the daemon's) closes with its process, and a run
    never opens it."""

    _engine: Any

    def __init__(
        self, postgres_url: str, should_autocreate_tables: bool = True, token_provider: Any = None
    ) -> None:
        super().__init__(  # type: ignore[call-arg]
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        # The stores reach PostgreSQL through `_engine` only; the unpooled one they were built
        # with holds no connection.
        self._engine.dispose()
        self._engine = create_pg_engine(
            postgres_url,
            token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_recycle=POOL_RECYCLE_S,
            pool_pre_ping=True,
        )

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()


class PooledRunStorage(_Pooled, PostgresRunStorage):
    """The same store over its connection pool."""


class PooledEventLogStorage(_Pooled, PostgresEventLogStorage):
    """The same store over its connection pool."""


class PooledScheduleStorage(_Pooled, PostgresScheduleStorage):
    """The same store over its connection pool."""


class PooledPostgresStorage(DagsterPostgresStorage):
    """`storage: custom:` in the instance file, with dagster-postgres's `postgres_db` config."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PooledRunStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._event_log_storage = PooledEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._schedule_storage = PooledScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        # DagsterPostgresStorage's own __init__ would first build the three unpooled stores.
        DagsterStorage.__init__(self)  # type: ignore[arg-type]

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
