"""What the queue sensors share: one keyed RunRequest per queued row, and a cursor past the batch."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.observability import get_logger

log = get_logger(__name__)


def one_run_per_request(sensor: str, queued: list[tuple[int, str]], last_id: int, *, op: str,
                        tag: str, stragglers: list[tuple[int, str]] | None = None) -> dg.SensorResult:
    """`queued` holds (row id, request id) after the cursor, oldest first; the request id is the run
    key and op config. `stragglers` are queued rows at or below the cursor, requested again (a key
    that already has a run is skipped by Dagster; one that has none gets its run now)."""
    requests = [
        dg.RunRequest(
            # Dagster skips a run_key it has seen: a request never runs twice, cursor reset or not.
            run_key=request_id,
            run_config={**JSON_RUN_LOGS, "ops": {op: {"config": {"request_id": request_id}}}},
            tags={tag: request_id},
        )
        for _, request_id in [*(stragglers or []), *queued]
    ]
    cursor = str(queued[-1][0]) if queued else str(last_id)
    if requests:
        log.info("sensor tick", sensor=sensor, runs_requested=len(requests), cursor=cursor,
                 stragglers=len(stragglers or []))
    return dg.SensorResult(run_requests=requests, cursor=cursor)
