"""What the queue sensors share: the two request queues, and one tick over a request table
(store.queues): one keyed RunRequest per queued row, and a cursor past the batch."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.observability import get_logger

log = get_logger(__name__)

# A row still queued this long after it was stored, at or below the cursor, is requested again.
STRAGGLER_AFTER_S = 30.0


@dataclass(frozen=True)
class RequestQueue:
    """A request table, and how a run carries one of its requests: the request id is the run
    key, the `request_id` config of the run's first op, and the value of a run tag."""

    table_name: str  # in viral_pipeline.store.schema
    op: str
    tag: str

    def table(self) -> sa.Table:
        from viral_pipeline.store import schema

        return getattr(schema, self.table_name)


PREDICTION_QUEUE = RequestQueue("prediction_requests", op="normalize", tag="request_id")
PROFILE_QUEUE = RequestQueue("profile_requests", op="scrape_profile", tag="profile_request_id")


def queue_tick(
    sensor: str,
    engine: sa.Engine,
    queue: RequestQueue,
    cursor: str | None,
    *,
    limit: int,
    max_stragglers: int = 10,
) -> dg.SensorResult:
    """New rows after the cursor, plus stragglers the cursor passed (store.queues)."""
    from viral_pipeline.store.queues import queued_after, stale_queued

    table, op, tag = queue.table(), queue.op, queue.tag

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
        log.info(
            "sensor tick",
            sensor=sensor,
            runs_requested=len(requests),
            cursor=new_cursor,
            stragglers=len(stragglers),
        )
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)
