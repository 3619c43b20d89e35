"""What bench/faults.py checks after a burst under faults: every request ended exactly once.

A request is sound when its prediction_requests row exists once, ended `succeeded` (with exactly
one successful Dagster run carrying its request id) or `failed` with a reason, and did not stay
`queued` or `running` longer than the bound after the burst. The records are read from the app
database and the Dagster instance; `findings` itself only compares them, so a test can build
the records on real databases and check what it flags.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from viral_pipeline.store.queues import FAILED, QUEUED, RUNNING, SUCCEEDED
from viral_pipeline.store.schema import prediction_requests


class Problem(StrEnum):
    MISSING = "no request row"
    DUPLICATED_ROW = "more than one request row"
    STUCK = "still queued or running past the bound"
    FAILED_WITHOUT_REASON = "failed with no error"
    NO_SUCCESSFUL_RUN = "succeeded with no successful run"
    DUPLICATED_RUN = "more than one successful run"


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    status: str
    error: str | None
    rows: int  # prediction_requests rows with this request id


@dataclass(frozen=True)
class Finding:
    request_id: str
    problem: Problem


def request_records(engine: sa.Engine, request_ids: list[str]) -> dict[str, RequestRecord]:
    table = prediction_requests
    with engine.connect() as con:
        rows = con.execute(
            sa.select(table.c.request_id, table.c.status, table.c.error).where(
                table.c.request_id.in_(request_ids)
            )
        ).fetchall()
    counts = Counter(row.request_id for row in rows)
    return {
        row.request_id: RequestRecord(row.request_id, row.status, row.error, counts[row.request_id])
        for row in rows
    }


def successful_runs(instance, request_ids: list[str], tag: str = "request_id") -> dict[str, int]:
    """Successful Dagster runs per request id (a retried run that failed first is one success)."""
    import dagster as dg

    return {
        request_id: len(
            instance.get_run_records(
                filters=dg.RunsFilter(
                    tags={tag: request_id}, statuses=[dg.DagsterRunStatus.SUCCESS]
                )
            )
        )
        for request_id in request_ids
    }


def runs_in_progress(instance, request_ids: list[str], tag: str = "request_id") -> int:
    """Runs of these requests not yet ended: a request's row can end (its result persisted)
    before its run does, or before a retry of that run does, so the runs are checked after."""
    import dagster as dg
    from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

    wanted = set(request_ids)
    return sum(
        1
        for record in instance.get_run_records(
            filters=dg.RunsFilter(statuses=NOT_FINISHED_STATUSES)
        )
        if record.dagster_run.tags.get(tag) in wanted
    )


def run_history(instance, request_id: str, tag: str = "request_id") -> list[str]:
    """One line per run of a request, oldest first: id, status, parent, and how it failed."""
    import dagster as dg

    lines = []
    for record in reversed(instance.get_run_records(filters=dg.RunsFilter(tags={tag: request_id}))):
        run = record.dagster_run
        failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        why = failures[-1].message if failures else ""
        parent = run.tags.get("dagster/parent_run_id", "")[:8]
        lines.append(f"run {run.run_id[:8]} {run.status.value} parent={parent or '-'} {why}")
    return lines


def findings(
    request_ids: list[str],
    records: dict[str, RequestRecord],
    runs: dict[str, int],
    *,
    bound_passed: bool,
) -> list[Finding]:
    """Everything wrong with the burst's requests. `bound_passed`: the time a request may take
    after the burst has run out, so a request still queued or running is stuck."""
    found = []
    for request_id in request_ids:
        record = records.get(request_id)
        if record is None:
            found.append(Finding(request_id, Problem.MISSING))
            continue
        if record.rows > 1:
            found.append(Finding(request_id, Problem.DUPLICATED_ROW))
        if record.status in (QUEUED, RUNNING) and bound_passed:
            found.append(Finding(request_id, Problem.STUCK))
        if record.status == FAILED and not record.error:
            found.append(Finding(request_id, Problem.FAILED_WITHOUT_REASON))
        successes = runs.get(request_id, 0)
        if record.status == SUCCEEDED and successes == 0:
            found.append(Finding(request_id, Problem.NO_SUCCESSFUL_RUN))
        if successes > 1:
            found.append(Finding(request_id, Problem.DUPLICATED_RUN))
    return found
