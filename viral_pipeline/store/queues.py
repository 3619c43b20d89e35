"""What the request queues (prediction_requests, profile_requests) share: reading queued rows,
and failing a request whose run failed before it could say so itself.

Both tables have `id` (insertion order), `request_id`, `status` and `created_at`. A queue sensor
reads rows after its cursor (the last row id it read). The cursor alone can miss a row: on
PostgreSQL ids are handed out at insert and become visible at commit, so a row with a lower id can
appear after the cursor passed it; and an app database restored or recreated under a kept Dagster
instance starts its ids again below the stored cursor. Rows still queued at or below the cursor,
and older than a grace period, are requested again under the same run key: Dagster skips a key
that already has a run, so this never runs a request twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa


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
    with engine.begin() as connection:
        return bool(
            connection.execute(
                sa.update(table)
                .where(table.c.request_id == request_id, table.c.status.in_([QUEUED, RUNNING]))
                .values(status=FAILED, error=error[:2000], finished_at=datetime.now(UTC))
            ).rowcount
        )
