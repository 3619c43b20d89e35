"""What the request queues (prediction_requests, profile_requests) share: queueing a request,
reading it back, moving it from one status to the next, reading queued rows, and failing a
request whose run failed before it could say so itself.

Both tables have `id` (insertion order), `request_id`, `status` and `created_at`. A queue sensor
reads rows after its cursor (the last row id it read). The cursor alone can miss a row: on
PostgreSQL ids are handed out at insert and become visible at commit, so a row with a lower id can
appear after the cursor passed it; and an app database restored or recreated under a kept Dagster
instance starts its ids again below the stored cursor. Rows still queued at or below the cursor,
and older than a grace period, are requested again under the same run key: Dagster skips a key
that already has a run, so this never runs a request twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from viral_pipeline.store.db import dialect_insert


class RequestStatus(StrEnum):
    """Where a request of either queue stands: queued → running → succeeded | failed. The API
    answers these values, and the `status` columns store them."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# Short names for the store's transitions and the API's checks.
QUEUED, RUNNING, SUCCEEDED, FAILED = (
    RequestStatus.QUEUED,
    RequestStatus.RUNNING,
    RequestStatus.SUCCEEDED,
    RequestStatus.FAILED,
)

# Every status but succeeded: a request may still be started, finished or failed from these. A
# succeeded request keeps its result, whatever a retried or late run does after it.
NOT_SUCCEEDED = (QUEUED, RUNNING, FAILED)


def queued_insert(engine: sa.Engine, table: sa.Table, **values: Any) -> tuple[str, Any]:
    """A new request id and the INSERT of its queued row with these column values (the dialect's
    own insert, so a caller can add an ON CONFLICT clause)."""
    request_id = str(uuid.uuid4())
    insert = dialect_insert(engine, table).values(
        request_id=request_id, status=QUEUED, created_at=datetime.now(UTC), **values
    )
    return request_id, insert


def queue_request(engine: sa.Engine, table: sa.Table, **values: Any) -> str:
    """Insert a queued request with these column values; its new request id."""
    request_id, insert = queued_insert(engine, table, **values)
    with engine.begin() as connection:
        connection.execute(insert)
    return request_id


def request_match(
    table: sa.Table, request_id: str, caller: str | None = None
) -> sa.ColumnElement[bool]:
    """The row of `request_id`; with `caller`, only if that API caller owns it. The API asks with
    its caller and answers 404 for another's request, so an id reveals nothing. A row stored
    before callers were recorded (caller NULL) is nobody's. Without `caller` (the pipeline's own
    runs and schedules) any row matches."""
    condition = table.c.request_id == request_id
    return condition if caller is None else condition & (table.c.caller == caller)


def request_row(
    engine: sa.Engine, table: sa.Table, request_id: str, caller: str | None = None
) -> dict[str, Any] | None:
    """The request's row as a dict, or None for an unknown id, or (with `caller`) for a request
    that caller does not own."""
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(table).where(request_match(table, request_id, caller))
        ).first()
    return dict(row._mapping) if row else None


def transition(
    engine: sa.Engine, table: sa.Table, request_id: str, allowed: Sequence[str], **values: Any
) -> bool:
    """Set `values` on the request if its status is one of `allowed`, in one conditional UPDATE;
    True when it was. A retried run or a late duplicate finding it elsewhere changes nothing."""
    with engine.begin() as connection:
        return bool(
            connection.execute(
                sa.update(table)
                .where(table.c.request_id == request_id, table.c.status.in_(allowed))
                .values(**values)
            ).rowcount
        )


def start(
    engine: sa.Engine, table: sa.Table, request_id: str, dagster_run_id: str, **values: Any
) -> bool:
    """queued (or failed, on a run retry) → running under this run, with any further `values`.
    False when the request already succeeded."""
    return transition(
        engine,
        table,
        request_id,
        NOT_SUCCEEDED,
        status=RUNNING,
        dagster_run_id=dagster_run_id,
        error=None,
        **values,
    )


def succeed(engine: sa.Engine, table: sa.Table, request_id: str, **values: Any) -> bool:
    """→ succeeded, with any further `values` (a result). Written once: False when it already was."""
    return transition(
        engine,
        table,
        request_id,
        NOT_SUCCEEDED,
        status=SUCCEEDED,
        error=None,
        finished_at=datetime.now(UTC),
        **values,
    )


def fail(engine: sa.Engine, table: sa.Table, request_id: str, error: str) -> bool:
    """→ failed with this error (its first 2,000 characters). False when it already succeeded."""
    return _fail(engine, table, request_id, NOT_SUCCEEDED, error)


def _fail(
    engine: sa.Engine, table: sa.Table, request_id: str, allowed: Sequence[str], error: str
) -> bool:
    return transition(
        engine,
        table,
        request_id,
        allowed,
        status=FAILED,
        error=error[:2000],
        finished_at=datetime.now(UTC),
    )


def _ids(
    engine: sa.Engine, table: sa.Table, condition: sa.ColumnElement[bool], limit: int
) -> list[tuple[int, str]]:
    query = (
        sa.select(table.c.id, table.c.request_id)
        .where(condition, table.c.status == QUEUED)
        .order_by(table.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [(row.id, row.request_id) for row in connection.execute(query)]


def queued_after(
    engine: sa.Engine, table: sa.Table, last_id: int, limit: int
) -> list[tuple[int, str]]:
    """(id, request_id) of queued rows after the cursor, oldest first."""
    return _ids(engine, table, table.c.id > last_id, limit)


def stale_queued(
    engine: sa.Engine, table: sa.Table, up_to_id: int, created_before: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, request_id) of rows at or below the cursor still queued since before `created_before`."""
    return _ids(
        engine, table, (table.c.id <= up_to_id) & (table.c.created_at < created_before), limit
    )


def fail_unfinished(engine: sa.Engine, table: sa.Table, request_id: str, error: str) -> bool:
    """Mark a request failed if it is still queued or running; True when it was. A finished one
    (succeeded, or failed with its own reason) is left as it is."""
    return _fail(engine, table, request_id, [QUEUED, RUNNING], error)
