"""The production instance's Dagster storage on a real PostgreSQL server: dagster-postgres's
stores over connection pools, so a run's events reuse a few connections instead of opening one
per statement, a connection PostgreSQL dropped is replaced before use, and disposing the
instance closes them all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from viral_pipeline.deploy.instance_config import production_instance_yaml
from viral_pipeline.deploy.storage import MAX_OVERFLOW, POOL_SIZE, _Pooled
from viral_pipeline_tests.postgres_server import PostgresServer


@dg.op
def start() -> int:
    return 1


@dg.op
def add_one(value: int) -> int:
    return value + 1


@dg.job
def three_ops() -> None:
    add_one.alias("then")(add_one.alias("next")(start()))


@pytest.fixture
def storage_db(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> sa.URL:
    url = make_url(postgres_server.create_database())
    for suffix, value in [
        ("USERNAME", url.username),
        ("PASSWORD", "trust-auth-ignores-it"),
        ("HOST", url.host),
        ("DB", url.database),
        ("PORT", str(url.port)),
    ]:
        monkeypatch.setenv(f"DAGSTER_PG_{suffix}", str(value))
    return url.set(drivername="postgresql+psycopg2")


def _instance(home: Path, instance_yaml: str) -> dg.DagsterInstance:
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml)
    return dg.DagsterInstance.from_config(str(home))


def _stores(instance: dg.DagsterInstance) -> list:
    return [instance.run_storage, instance.event_log_storage, instance.schedule_storage]


@pytest.fixture
def admin(storage_db: sa.URL) -> Iterator[sa.Engine]:
    engine = sa.create_engine(storage_db.set(database="postgres"), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _backends(admin: sa.Engine, database: str) -> list[int]:
    with admin.connect() as con:
        return list(
            con.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = :db "
                    "AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).scalars()
        )


def _connects_during_a_run(instance: dg.DagsterInstance) -> tuple[int, int]:
    """(new PostgreSQL connections, events written) while `three_ops` runs."""
    opened = []
    for store in _stores(instance):
        sa.event.listen(store._engine, "connect", lambda *_: opened.append(1))  # noqa: SLF001
    result = three_ops.execute_in_process(instance=instance)
    assert result.success
    return len(opened), len(instance.all_logs(result.run_id))


def test_a_run_reuses_a_few_pooled_connections_where_the_stock_storage_opens_one_per_write(
    storage_db: sa.URL, tmp_path: Path
) -> None:
    pooled = _instance(tmp_path / "pooled", production_instance_yaml("default"))
    try:
        assert all(isinstance(store, _Pooled) for store in _stores(pooled))
        connects, events = _connects_during_a_run(pooled)
    finally:
        pooled.dispose()
    assert events >= 15
    # The run's thread and Dagster's own background reads at most reach past the pool's size.
    assert connects <= 3 * (POOL_SIZE + MAX_OVERFLOW)
    assert connects < events / 3

    stock_yaml = Path(__file__).resolve().parent.parent / "deploy" / "dagster.postgres.yaml"
    stock = _instance(tmp_path / "stock", stock_yaml.read_text())
    try:
        stock_connects, stock_events = _connects_during_a_run(stock)
    finally:
        stock.dispose()
    # What the pool saves: dagster-postgres alone opens a connection for every write.
    assert stock_connects >= stock_events > connects


def test_a_connection_postgres_dropped_is_replaced_before_use(
    storage_db: sa.URL, admin: sa.Engine, tmp_path: Path
) -> None:
    instance = _instance(tmp_path / "home", production_instance_yaml("default"))
    try:
        assert three_ops.execute_in_process(instance=instance).success
        held = _backends(admin, storage_db.database)
        assert held, "the pools keep connections open between runs"
        # As a PostgreSQL restart does to every client: each pooled connection's backend ends.
        with admin.connect() as con:
            for pid in held:
                con.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        result = three_ops.execute_in_process(instance=instance)
        assert result.success
        assert len(instance.get_runs()) == 2
    finally:
        instance.dispose()


def test_disposing_the_instance_closes_every_pooled_connection(
    storage_db: sa.URL, admin: sa.Engine, tmp_path: Path
) -> None:
    instance = _instance(tmp_path / "home", production_instance_yaml("default"))
    assert three_ops.execute_in_process(instance=instance).success
    assert _backends(admin, storage_db.database)
    instance.dispose()
    # A backend leaves pg_stat_activity a moment after its client hangs up.
    deadline = time.monotonic() + 10
    while _backends(admin, storage_db.database) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _backends(admin, storage_db.database) == []
