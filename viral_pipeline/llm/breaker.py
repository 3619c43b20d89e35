"""A circuit breaker per LLM provider whose state lives in the application database.

Each `predict` run is its own process, so the breaker's memory is the `llm_circuit_breakers` row
of its provider, which every run (and the API) sees:

    closed --(failure_threshold consecutive failures)--> open
    open   --(open_until passed; ONE caller takes the probe)--> half_open
    half_open --(probe succeeds)--> closed
    half_open --(probe fails)--> open again, for open_seconds
    half_open --(probe never reports back for probe_timeout_s)--> the next caller takes a new probe

Every change is a single conditional UPDATE, so it is atomic across threads and processes on
SQLite (writes serialise on the database lock) and on PostgreSQL (the row lock, with the WHERE
clause re-checked against the committed row). In particular exactly one caller gets the probe:
its UPDATE is the one whose rowcount is 1. Reads never share a transaction with a write, so
SQLite's WAL mode cannot fail a write for reading a stale snapshot.

Results that arrive late are ignored rather than trusted: a failure counts only while the
breaker is closed, a success resets the count only while closed, and a probe's verdict counts
only if its token still holds the probe (a probe that expired has lost it).

Times are the callers' UTC clocks (`clock=`): processes sharing a database should share a clock
within a fraction of `open_seconds`. Database errors propagate (SQLAlchemyError); a caller that
would rather call the provider anyway when the database is down can catch them.

How to combine it with a judge:

    breaker = CircuitBreaker(engine, "gemini")
    result = call_with_breaker(breaker, lambda: judge.judge(item))

which is

    permit = breaker.acquire()            # BreakerOpen (a JudgeUnavailable) when open
    try:
        result = judge.judge(item)
    except JudgeFailed:
        breaker.record_failure(permit)
        raise
    except BaseException:
        breaker.release(permit)           # not the provider's fault: free the probe, count nothing
        raise
    breaker.record_success(permit)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from viral_pipeline.llm.judge import JudgeFailed, JudgeUnavailable
from viral_pipeline.observability import get_logger
from viral_pipeline.store.schema import llm_circuit_breakers as table

log = get_logger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

T = TypeVar("T")

# Both dialects' insert() build an INSERT with on_conflict_do_nothing.
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Permit:
    """Leave to make one call. `probe` is True for the single half-open trial call."""

    provider: str
    probe: bool = False
    token: str | None = None


class BreakerOpen(JudgeUnavailable):
    """The provider's breaker is open (or its one probe is in flight) until about `reopens_at`."""

    def __init__(self, provider: str, reopens_at: datetime) -> None:
        super().__init__(
            provider,
            f"circuit breaker open until {reopens_at.isoformat(timespec='seconds')}",
            kind="breaker_open",
        )
        self.reopens_at = reopens_at


class CircuitBreaker:
    def __init__(
        self,
        engine: sa.Engine,
        provider: str,
        failure_threshold: int = 3,
        open_seconds: float = 60,
        probe_timeout_s: float = 120,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if open_seconds < 0 or probe_timeout_s <= 0:
            raise ValueError("open_seconds must be >= 0 and probe_timeout_s > 0")
        self.engine = engine
        self.provider = provider
        self.failure_threshold = failure_threshold
        self.open_seconds = float(open_seconds)
        self.probe_timeout_s = float(probe_timeout_s)
        self._clock = clock
        insert = _INSERTS.get(engine.dialect.name)
        if insert is None:
            raise ValueError(
                f"CircuitBreaker supports SQLite and PostgreSQL, not {engine.dialect.name}"
            )
        self._insert = insert

    def __repr__(self) -> str:
        return f"CircuitBreaker(provider={self.provider!r}, failure_threshold={self.failure_threshold})"

    # -- reading -----------------------------------------------------------------------------
    def _now(self) -> datetime:
        now = self._clock()
        return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)

    def _row(self) -> Any:
        """The provider's row, created (closed) on first use; insert-if-missing is race-safe."""
        query = sa.select(table).where(table.c.provider == self.provider)
        with self.engine.connect() as connection:
            row = connection.execute(query).one_or_none()
        if row is not None:
            return row
        insert = self._insert(table).values(
            provider=self.provider, state=CLOSED, consecutive_failures=0, updated_at=self._now()
        )
        with self.engine.begin() as connection:
            connection.execute(insert.on_conflict_do_nothing(index_elements=[table.c.provider]))
        with self.engine.connect() as connection:
            return connection.execute(query).one()

    def _update(self, *conditions: Any, **values: Any) -> int:
        statement = (
            sa.update(table).where(table.c.provider == self.provider, *conditions).values(**values)
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount

    def _blocked_until(self, row: Any, now: datetime) -> datetime | None:
        """When a call is refused now, the time it may go again; None when it may go now (or probe)."""
        if row.state == OPEN:
            open_until = _aware(row.open_until)
            return open_until if open_until is not None and open_until > now else None
        if row.state == HALF_OPEN and row.probe_token is not None:
            started = _aware(row.probe_started_at)
            if started is None:  # a probe token is always written with its start time
                return None
            expires = started + timedelta(seconds=self.probe_timeout_s)
            return expires if expires > now else None
        return None

    # -- the protocol ------------------------------------------------------------------------
    def acquire(self) -> Permit:
        """A permit to call the provider, or BreakerOpen."""
        now = self._now()
        row = self._row()
        if row.state == CLOSED:
            return Permit(self.provider)
        blocked_until = self._blocked_until(row, now)
        if blocked_until is not None:
            raise BreakerOpen(self.provider, blocked_until)
        token = uuid.uuid4().hex
        stale = now - timedelta(seconds=self.probe_timeout_s)
        taken = self._update(
            sa.or_(
                sa.and_(
                    table.c.state == OPEN,
                    sa.or_(table.c.open_until.is_(None), table.c.open_until <= now),
                ),
                sa.and_(
                    table.c.state == HALF_OPEN,
                    sa.or_(table.c.probe_token.is_(None), table.c.probe_started_at < stale),
                ),
            ),
            state=HALF_OPEN,
            probe_token=token,
            probe_started_at=now,
            updated_at=now,
        )
        if taken == 1:
            log.info(
                "circuit breaker probe taken", provider=self.provider, previous_state=row.state
            )
            return Permit(self.provider, probe=True, token=token)
        # Someone else changed the row between our read and our update (most often: took the probe).
        row = self._row()
        if row.state == CLOSED:
            return Permit(self.provider)
        raise BreakerOpen(self.provider, self._blocked_until(row, now) or now)

    def record_success(self, permit: Permit) -> None:
        now = self._now()
        if permit.probe:
            closed = self._update(
                table.c.probe_token == permit.token,
                state=CLOSED,
                consecutive_failures=0,
                open_until=None,
                probe_token=None,
                probe_started_at=None,
                updated_at=now,
            )
            if closed:
                log.info("circuit breaker closed", provider=self.provider, reason="probe succeeded")
            else:
                log.info(
                    "circuit breaker ignored a late probe result",
                    provider=self.provider,
                    outcome="success",
                )
            return
        self._update(
            table.c.state == CLOSED,
            table.c.consecutive_failures > 0,
            consecutive_failures=0,
            updated_at=now,
        )

    def record_failure(self, permit: Permit) -> None:
        now = self._now()
        open_until = now + timedelta(seconds=self.open_seconds)
        if permit.probe:
            reopened = self._update(
                table.c.probe_token == permit.token,
                state=OPEN,
                consecutive_failures=table.c.consecutive_failures + 1,
                open_until=open_until,
                probe_token=None,
                probe_started_at=None,
                updated_at=now,
            )
            if reopened:
                log.warning(
                    "circuit breaker reopened",
                    provider=self.provider,
                    reason="probe failed",
                    open_until=_iso(open_until),
                )
            else:
                log.info(
                    "circuit breaker ignored a late probe result",
                    provider=self.provider,
                    outcome="failure",
                )
            return
        # One statement: SET expressions see the row as it was, so `+ 1` and the CASE agree.
        trips = table.c.consecutive_failures + 1 >= self.failure_threshold
        statement = (
            sa.update(table)
            .where(table.c.provider == self.provider, table.c.state == CLOSED)
            .values(
                consecutive_failures=table.c.consecutive_failures + 1,
                state=sa.case((trips, OPEN), else_=table.c.state),
                open_until=sa.case(
                    (trips, sa.literal(open_until, table.c.open_until.type)),
                    else_=table.c.open_until,
                ),
                updated_at=now,
            )
            .returning(table.c.state, table.c.consecutive_failures)
        )
        with self.engine.begin() as connection:
            row = connection.execute(statement).one_or_none()
        if row is not None and row.state == OPEN:
            log.warning(
                "circuit breaker opened",
                provider=self.provider,
                consecutive_failures=row.consecutive_failures,
                open_until=_iso(open_until),
            )

    def release(self, permit: Permit) -> None:
        """Give back a permit whose call neither succeeded nor failed on the provider's side.

        A probe's slot is freed at once (the next caller probes); a normal permit needs nothing.
        """
        if permit.probe:
            self._update(
                table.c.probe_token == permit.token,
                probe_token=None,
                probe_started_at=None,
                updated_at=self._now(),
            )

    def state(self) -> dict[str, Any]:
        """The stored state, and whether a call would be let through now (for diagnostics)."""
        now = self._now()
        row = self._row()
        blocked_until = self._blocked_until(row, now)
        return {
            "provider": self.provider,
            "state": row.state,
            "consecutive_failures": row.consecutive_failures,
            "open_until": _iso(_aware(row.open_until)),
            "probe_in_flight": row.state == HALF_OPEN
            and row.probe_token is not None
            and blocked_until is not None,
            "probe_started_at": _iso(_aware(row.probe_started_at)),
            "updated_at": _iso(_aware(row.updated_at)),
            "accepting_calls": blocked_until is None,
            "reopens_at": _iso(blocked_until),
            "failure_threshold": self.failure_threshold,
            "open_seconds": self.open_seconds,
        }


def call_with_breaker(breaker: CircuitBreaker, fn: Callable[[], T]) -> T:
    """Run `fn` (a judge call) under the breaker: JudgeFailed counts as a failure, success closes.

    Raises BreakerOpen without calling `fn` when the breaker is open. Any other exception
    (JudgeUnavailable, a bug, a cancellation) is not held against the provider.
    """
    permit = breaker.acquire()
    try:
        result = fn()
    except JudgeFailed:
        breaker.record_failure(permit)
        raise
    except BaseException:
        breaker.release(permit)
        raise
    breaker.record_success(permit)
    return result
