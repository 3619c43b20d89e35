"""The database-backed circuit breaker, on SQLite and on PostgreSQL: transitions, the single
half-open probe under a race of threads and of processes, stale probes, and late results."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from viral_pipeline.llm import (
    BreakerOpen,
    CircuitBreaker,
    JudgeFailed,
    JudgeUnavailable,
    Permit,
    call_with_breaker,
)
from viral_pipeline.store import db
from viral_pipeline.store.db import create_db_engine, ready_engine
from viral_pipeline.store.schema import llm_circuit_breakers


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per backend for the whole module (migrating one per test would
    cost more than the tests); each test keeps to its own `provider` row."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('breaker')}/app.db"
        ready_engine(url)
        yield url
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    ready_engine(url)
    yield url
    with db._engines_lock:
        cached = db._engines.pop(url, None)
    if cached is not None:
        cached.dispose()
    server.drop_database(make_url(url).database)


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    return ready_engine(db_url)


@pytest.fixture
def provider() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def trip(breaker: CircuitBreaker, failures: int | None = None) -> None:
    for _ in range(failures or breaker.failure_threshold):
        breaker.record_failure(breaker.acquire())


def stored(engine: sa.Engine, provider: str):
    with engine.connect() as connection:
        return connection.execute(
            sa.select(llm_circuit_breakers).where(llm_circuit_breakers.c.provider == provider)
        ).one_or_none()


def test_the_row_is_created_closed_on_first_use(engine: sa.Engine, provider: str) -> None:
    assert stored(engine, provider) is None
    breaker = CircuitBreaker(engine, provider)
    permit = breaker.acquire()
    assert permit == Permit(provider, probe=False, token=None)
    row = stored(engine, provider)
    assert row.state == "closed" and row.consecutive_failures == 0
    # A second breaker (another process, say) finds the row instead of inserting it again.
    CircuitBreaker(engine, provider).acquire()
    with engine.connect() as connection:
        count = sa.select(sa.func.count()).where(llm_circuit_breakers.c.provider == provider)
        assert connection.execute(count).scalar() == 1


def test_opens_after_n_consecutive_failures_and_rejects(engine: sa.Engine, provider: str) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(engine, provider, failure_threshold=3, open_seconds=60, clock=clock)
    trip(breaker, 2)
    breaker.record_success(breaker.acquire())  # not consecutive any more
    assert stored(engine, provider).consecutive_failures == 0
    trip(breaker, 2)
    assert breaker.state()["state"] == "closed"
    breaker.record_failure(breaker.acquire())

    with pytest.raises(BreakerOpen) as info:
        breaker.acquire()
    assert isinstance(info.value, JudgeUnavailable) and not isinstance(info.value, JudgeFailed)
    assert info.value.reopens_at == clock.now + timedelta(seconds=60)
    assert info.value.provider == provider and "circuit breaker open until" in info.value.reason
    state = breaker.state()
    assert state["state"] == "open" and state["consecutive_failures"] == 3
    assert state["accepting_calls"] is False and state["probe_in_flight"] is False
    assert state["reopens_at"] == (clock.now + timedelta(seconds=60)).isoformat()


def test_probe_success_closes(engine: sa.Engine, provider: str) -> None:
    breaker = CircuitBreaker(engine, provider, failure_threshold=2, open_seconds=0.2)
    trip(breaker)
    with pytest.raises(BreakerOpen):
        breaker.acquire()
    time.sleep(0.25)
    assert breaker.state()["accepting_calls"] is True  # open, but its time is up: a probe may go
    probe = breaker.acquire()
    assert probe.probe and probe.token
    state = breaker.state()
    assert state["state"] == "half_open" and state["probe_in_flight"] is True
    with pytest.raises(BreakerOpen):
        breaker.acquire()

    breaker.record_success(probe)
    row = stored(engine, provider)
    assert (row.state, row.consecutive_failures, row.open_until, row.probe_token) == (
        "closed",
        0,
        None,
        None,
    )
    assert not breaker.acquire().probe


def test_probe_failure_reopens(engine: sa.Engine, provider: str) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(engine, provider, failure_threshold=2, open_seconds=30, clock=clock)
    trip(breaker)
    clock.advance(30)
    probe = breaker.acquire()
    assert probe.probe
    breaker.record_failure(probe)
    row = stored(engine, provider)
    assert row.state == "open" and row.probe_token is None and row.consecutive_failures == 3
    with pytest.raises(BreakerOpen) as info:
        breaker.acquire()
    assert info.value.reopens_at == clock.now + timedelta(seconds=30)
    clock.advance(30)
    assert breaker.acquire().probe  # and the cycle goes on


def test_a_stale_probe_expires_and_its_late_result_is_ignored(
    engine: sa.Engine, provider: str
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        engine, provider, failure_threshold=1, open_seconds=10, probe_timeout_s=120, clock=clock
    )
    trip(breaker)
    clock.advance(10)
    lost = breaker.acquire()
    clock.advance(60)
    with pytest.raises(BreakerOpen) as info:
        breaker.acquire()
    assert info.value.reopens_at == clock.now + timedelta(seconds=60)  # when the probe goes stale

    clock.advance(61)
    fresh = breaker.acquire()
    assert fresh.probe and fresh.token != lost.token
    breaker.record_success(lost)  # the expired probe reports back: too late to count
    breaker.record_failure(lost)
    assert stored(engine, provider).state == "half_open"
    breaker.record_success(fresh)
    assert stored(engine, provider).state == "closed"


def test_late_results_of_normal_calls_do_not_move_an_open_breaker(
    engine: sa.Engine, provider: str
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(engine, provider, failure_threshold=2, open_seconds=60, clock=clock)
    early = breaker.acquire()  # a slow call that started while the breaker was closed
    trip(breaker)
    breaker.record_success(early)
    breaker.record_failure(early)
    row = stored(engine, provider)
    assert row.state == "open" and row.consecutive_failures == 2


@SQLITE_ONLY
def test_release_frees_the_probe_without_counting(engine: sa.Engine, provider: str) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(engine, provider, failure_threshold=1, open_seconds=5, clock=clock)
    trip(breaker)
    clock.advance(5)
    probe = breaker.acquire()
    breaker.release(probe)
    row = stored(engine, provider)
    assert row.state == "half_open" and row.probe_token is None and row.consecutive_failures == 1
    assert breaker.state()["accepting_calls"] is True
    again = breaker.acquire()
    assert again.probe and again.token != probe.token
    breaker.release(Permit(provider))  # a normal permit: nothing to give back
    assert stored(engine, provider).probe_token == again.token


@SQLITE_ONLY
def test_state_lives_in_the_database_not_in_the_instance(engine: sa.Engine, provider: str) -> None:
    trip(CircuitBreaker(engine, provider, failure_threshold=2))
    with pytest.raises(BreakerOpen):
        CircuitBreaker(engine, provider, failure_threshold=2).acquire()
    # Providers are independent.
    assert not CircuitBreaker(engine, provider + "-other").acquire().probe


def test_exactly_one_probe_among_20_racing_threads(
    engine: sa.Engine, provider: str, db_url: str
) -> None:
    breaker = CircuitBreaker(engine, provider, failure_threshold=2, open_seconds=0.2)
    trip(breaker)
    with pytest.raises(BreakerOpen):
        breaker.acquire()
    time.sleep(0.25)

    threads = 20
    barrier = threading.Barrier(threads)

    def race(_: int) -> Permit | BreakerOpen:
        own_engine = create_db_engine(db_url)  # each thread on its own engine and connection
        try:
            with own_engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            contender = CircuitBreaker(own_engine, provider, failure_threshold=2, open_seconds=0.2)
            barrier.wait(timeout=30)
            try:
                return contender.acquire()
            except BreakerOpen as refused:
                return refused
        finally:
            own_engine.dispose()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(race, range(threads)))

    permits = [o for o in outcomes if isinstance(o, Permit)]
    assert len(permits) == 1 and permits[0].probe
    assert sum(isinstance(o, BreakerOpen) for o in outcomes) == threads - 1
    assert stored(engine, provider).probe_token == permits[0].token


PROCESSES = 6


@pytest.fixture(scope="module")
def spawned_pool() -> Iterator[tuple[ProcessPoolExecutor, Any]]:
    """Six spawned worker processes (and a manager for the barrier), shared by both backends' runs.

    Spawning and importing in six fresh interpreters is the slow part on a small machine, so it
    is paid once. Each task still builds its own engine from the URL, like a Dagster run would.
    """
    context = multiprocessing.get_context("spawn")
    with (
        context.Manager() as manager,
        ProcessPoolExecutor(max_workers=PROCESSES, mp_context=context) as pool,
    ):
        yield pool, manager


def _race_in_process(url: str, provider: str, barrier: Any, attempts: int) -> tuple[int, list[str]]:
    """One contender: its own engine from the URL, then `attempts` acquires once all are ready."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        breaker = CircuitBreaker(engine, provider)
        barrier.wait(timeout=60)
        outcomes = []
        for _ in range(attempts):
            try:
                permit = breaker.acquire()
                outcomes.append(f"probe:{permit.token}" if permit.probe else "call")
            except BreakerOpen:
                outcomes.append("refused")
            time.sleep(0.01)
        return os.getpid(), outcomes
    finally:
        engine.dispose()


def test_exactly_one_probe_among_racing_processes(
    engine: sa.Engine, provider: str, db_url: str, spawned_pool: tuple[ProcessPoolExecutor, Any]
) -> None:
    pool, manager = spawned_pool
    attempts = 3
    breaker = CircuitBreaker(engine, provider, failure_threshold=1, open_seconds=0)
    trip(breaker)  # open, and already due for a probe

    barrier = manager.Barrier(PROCESSES)  # every task waits for all: each runs in its own process
    futures = [
        pool.submit(_race_in_process, db_url, provider, barrier, attempts) for _ in range(PROCESSES)
    ]
    answers = [future.result(timeout=120) for future in futures]

    assert len({pid for pid, _ in answers}) == PROCESSES
    outcomes = [outcome for _, per_process in answers for outcome in per_process]
    probes = [o for o in outcomes if o.startswith("probe:")]
    assert len(probes) == 1, outcomes
    assert outcomes.count("refused") == PROCESSES * attempts - 1
    assert stored(engine, provider).probe_token == probes[0].removeprefix("probe:")


# ---- Edges of acquire ---------------------------------------------------------------------------


def _stale_read_once(breaker: CircuitBreaker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the breaker's next read return the row as it is now, whatever happens in between."""
    snapshot = breaker._row()
    real = breaker._row
    calls = iter([lambda: snapshot])
    monkeypatch.setattr(breaker, "_row", lambda: next(calls, real)())


@SQLITE_ONLY
def test_losing_the_probe_race_after_reading_is_refused(
    engine: sa.Engine, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    winner = CircuitBreaker(engine, provider, failure_threshold=1, open_seconds=5, clock=clock)
    loser = CircuitBreaker(engine, provider, failure_threshold=1, open_seconds=5, clock=clock)
    trip(winner)
    clock.advance(5)
    _stale_read_once(loser, monkeypatch)  # the loser read "open, due" ...
    probe = winner.acquire()  # ... then the winner took the probe
    with pytest.raises(BreakerOpen) as info:
        loser.acquire()
    assert info.value.reopens_at == clock.now + timedelta(seconds=loser.probe_timeout_s)
    assert stored(engine, provider).probe_token == probe.token


@SQLITE_ONLY
def test_a_probe_resolved_between_read_and_update_lets_the_call_through(
    engine: sa.Engine, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    winner = CircuitBreaker(engine, provider, failure_threshold=1, open_seconds=5, clock=clock)
    late = CircuitBreaker(engine, provider, failure_threshold=1, open_seconds=5, clock=clock)
    trip(winner)
    clock.advance(5)
    _stale_read_once(late, monkeypatch)
    winner.record_success(winner.acquire())  # probe taken and succeeded: closed again
    assert late.acquire() == Permit(provider)


@SQLITE_ONLY
def test_open_without_a_deadline_is_due_for_a_probe(engine: sa.Engine, provider: str) -> None:
    breaker = CircuitBreaker(engine, provider)
    breaker.acquire()
    with engine.begin() as connection:
        connection.execute(
            sa.update(llm_circuit_breakers)
            .where(llm_circuit_breakers.c.provider == provider)
            .values(state="open", open_until=None)
        )
    assert breaker.acquire().probe


@SQLITE_ONLY
def test_a_naive_clock_is_taken_as_utc(engine: sa.Engine, provider: str) -> None:
    naive = datetime(2026, 1, 5, 12, 0)
    breaker = CircuitBreaker(
        engine, provider, failure_threshold=1, open_seconds=60, clock=lambda: naive
    )
    trip(breaker)
    with pytest.raises(BreakerOpen) as info:
        breaker.acquire()
    assert info.value.reopens_at == naive.replace(tzinfo=UTC) + timedelta(seconds=60)


@pytest.mark.parametrize(
    "kwargs", [{"failure_threshold": 0}, {"open_seconds": -1}, {"probe_timeout_s": 0}]
)
@SQLITE_ONLY
def test_invalid_settings_are_refused(engine: sa.Engine, provider: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(engine, provider, **kwargs)


def test_only_sqlite_and_postgresql_are_supported() -> None:
    mysql = sa.create_mock_engine("mysql://", executor=lambda *args, **kwargs: None)
    with pytest.raises(ValueError, match="not mysql"):
        CircuitBreaker(mysql, "gemini")  # type: ignore[arg-type]


# ---- call_with_breaker ----------------------------------------------------------------------------


@SQLITE_ONLY
def test_call_with_breaker(engine: sa.Engine, provider: str) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(engine, provider, failure_threshold=2, open_seconds=10, clock=clock)
    assert call_with_breaker(breaker, lambda: 42) == 42
    assert repr(breaker) == f"CircuitBreaker(provider={provider!r}, failure_threshold=2)"

    def failing() -> int:
        raise JudgeFailed(provider, "HTTP 500", kind="http")

    for _ in range(2):
        with pytest.raises(JudgeFailed):
            call_with_breaker(breaker, failing)
    assert stored(engine, provider).state == "open"

    called = []
    with pytest.raises(BreakerOpen):
        call_with_breaker(breaker, lambda: called.append(1))
    assert called == []

    clock.advance(10)

    def buggy() -> int:
        raise KeyError("not the provider's fault")

    with pytest.raises(KeyError):
        call_with_breaker(breaker, buggy)  # the probe is given back, nothing is counted
    row = stored(engine, provider)
    assert row.state == "half_open" and row.probe_token is None and row.consecutive_failures == 2
    assert call_with_breaker(breaker, lambda: "ok") == "ok"  # the next caller probes, and it closes
    assert stored(engine, provider).state == "closed"


@SQLITE_ONLY
def test_breaker_open_survives_pickling(engine: sa.Engine, provider: str) -> None:
    import pickle

    trip(CircuitBreaker(engine, provider, failure_threshold=1))
    with pytest.raises(BreakerOpen) as info:
        CircuitBreaker(engine, provider).acquire()
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is BreakerOpen and copy.reopens_at == info.value.reopens_at
    assert str(copy) == str(info.value) and copy.kind == "breaker_open"
