"""What the queue sensors share: one tick over a request table (store.queues), one keyed
RunRequest per queued row, and a cursor past the batch."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.observability import get_logger

log = get_logger(__name__)

# A row still queued this long after it was stored, at or below the cursor, is requested again.
STRAGGLER_AFTER_S = 30.0


def queue_tick(sensor: str, engine: sa.Engine, table: sa.Table, cursor: str | None, *, limit: int, op: str,
               tag: str, max_stragglers: int = 10) -> dg.SensorResult:
    """New rows after the cursor, plus stragglers the cursor passed (store.queues); the request id
    is the run key, the op's config and a tag."""
    from viral_pipeline.store.queues import queued_after, stale_queued

    last_id = int(cursor or 0)
    queued = queued_after(engine, table, last_id, limit)
    stale_before = datetime.now(UTC) - timedelta(seconds=STRAGGLER_AFTER_S)
    stragglers = stale_queued(engine, table, last_id, stale_before, max_stragglers)
    requests = [
        dg.RunRequest(
            # Dagster skips a run_key it has seen: a request never runs twice, cursor reset or not.
            run_key=request_id,
            run_config={**JSON_RUN_LOGS, "ops": {op: {"config": {"request_id": request_id}}}},
            tags={tag: request_id},
        )
        for _, request_id in [*stragglers, *queued]
    ]
    new_cursor = str(queued[-1][0]) if queued else str(last_id)
    if requests:
        log.info("sensor tick", sensor=sensor, runs_requested=len(requests), cursor=new_cursor,
                 stragglers=len(stragglers))
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)
