"""The API's rate limit counters: requests admitted per caller, limit group and fixed window, in
`api_rate_windows`. One atomic statement admits or refuses a request, so API processes on any
number of machines share one count and concurrent requests never admit more than the limit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.schema import api_rate_windows


def admit(
    engine: sa.Engine, caller: str, limit_group: str, window_start: datetime, limit: int
) -> int | None:
    """Count one request of `caller` in `limit_group` in the window starting at `window_start`,
    if fewer than `limit` were admitted there; the requests admitted so far, this one included,
    or None when it is refused (the count stays at the limit).

    INSERT ... ON CONFLICT DO UPDATE ... WHERE admitted < limit ... RETURNING: PostgreSQL locks
    the row for the increment and SQLite writes one statement at a time, so two requests can
    never both take the last place. The first request of a new window removes the caller's
    older windows of the group, which bounds the table to about one row per caller and group.
    """
    insert = dialect_insert(engine, api_rate_windows).values(
        caller=caller, limit_group=limit_group, window_start=window_start, admitted=1
    )
    statement = insert.on_conflict_do_update(
        index_elements=["caller", "limit_group", "window_start"],
        set_={"admitted": api_rate_windows.c.admitted + 1},
        where=api_rate_windows.c.admitted < limit,
    ).returning(api_rate_windows.c.admitted)
    with engine.begin() as connection:
        admitted = connection.execute(statement).scalar()
        if admitted == 1:
            connection.execute(
                sa.delete(api_rate_windows).where(
                    api_rate_windows.c.caller == caller,
                    api_rate_windows.c.limit_group == limit_group,
                    api_rate_windows.c.window_start < window_start,
                )
            )
    return admitted
