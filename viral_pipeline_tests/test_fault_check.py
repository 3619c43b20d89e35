"""bench/faults.py's check that every request of a burst ended exactly once, on real records: the
app database's prediction_requests rows (SQLite and PostgreSQL) and runs executed in a Dagster
instance, tagged with their request id as the prediction_requests sensor tags them."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from bench.fault_check import (
    Finding,
    Problem,
    findings,
    request_records,
    run_history,
    runs_in_progress,
    successful_runs,
)
from viral_pipeline.store import queues
from viral_pipeline.store.predictions import create_request, mark_failed, mark_running
from viral_pipeline.store.schema import prediction_requests


@dg.op
def answer() -> None:
    pass


@dg.op
def crash() -> None:
    raise RuntimeError("worker lost")


@dg.job
def served() -> None:
    answer()


@dg.job
def crashed() -> None:
    crash()


def run_for(instance: dg.DagsterInstance, request_id: str, job=served) -> str:
    result = job.execute_in_process(
        instance=instance, tags={"request_id": request_id}, raise_on_error=False
    )
    return result.run_id


def succeed(engine: sa.Engine, instance: dg.DagsterInstance, request_id: str) -> None:
    mark_running(engine, request_id, run_for(instance, request_id))
    queues.succeed(engine, prediction_requests, request_id, result={"viral_probability": 0.5})


def check(engine: sa.Engine, instance, ids: list[str], *, bound_passed: bool) -> set[Finding]:
    return set(
        findings(
            ids,
            request_records(engine, ids),
            successful_runs(instance, ids),
            bound_passed=bound_passed,
        )
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_a_clean_burst_has_no_findings(app_engine: sa.Engine, instance) -> None:
    ok = create_request(app_engine, {"caption": "a"})
    succeed(app_engine, instance, ok)
    retried = create_request(app_engine, {"caption": "b"})
    # Its first run died with its worker, the retry succeeded: one success, not a duplicate.
    run_for(instance, retried, crashed)
    succeed(app_engine, instance, retried)
    refused = create_request(app_engine, {"caption": "c"})
    mark_failed(app_engine, refused, "run failed: worker lost")

    assert check(app_engine, instance, [ok, retried, refused], bound_passed=True) == set()


def test_a_duplicated_result_and_a_stuck_request_are_flagged(
    app_engine: sa.Engine, instance
) -> None:
    twice = create_request(app_engine, {"caption": "a"})
    succeed(app_engine, instance, twice)
    run_for(instance, twice)  # a second run of the same request, e.g. a relaunch after a fault
    stuck = create_request(app_engine, {"caption": "b"})
    mark_running(app_engine, stuck, "run-that-died")
    queued = create_request(app_engine, {"caption": "c"})
    never_stored = "00000000-0000-0000-0000-000000000000"
    ids = [twice, stuck, queued, never_stored]

    assert check(app_engine, instance, ids, bound_passed=True) == {
        Finding(twice, Problem.DUPLICATED_RUN),
        Finding(stuck, Problem.STUCK),
        Finding(queued, Problem.STUCK),
        Finding(never_stored, Problem.MISSING),
    }
    # Within the bound, an unfinished request is still on its way, not stuck.
    assert check(app_engine, instance, ids, bound_passed=False) == {
        Finding(twice, Problem.DUPLICATED_RUN),
        Finding(never_stored, Problem.MISSING),
    }


def test_a_success_without_a_run_and_a_failure_without_a_reason_are_flagged(
    app_engine: sa.Engine, instance
) -> None:
    unrun = create_request(app_engine, {"caption": "a"})
    queues.succeed(app_engine, prediction_requests, unrun, result={"viral_probability": 0.5})
    silent = create_request(app_engine, {"caption": "b"})
    queues.transition(app_engine, prediction_requests, silent, [queues.QUEUED], status="failed")

    assert check(app_engine, instance, [unrun, silent], bound_passed=True) == {
        Finding(unrun, Problem.NO_SUCCESSFUL_RUN),
        Finding(silent, Problem.FAILED_WITHOUT_REASON),
    }


def test_runs_still_going_are_counted_per_request_and_a_request_s_runs_are_told_in_order(
    instance,
) -> None:
    # The row of a request can end before its run (or its run's retry) does: the check waits
    # for these first.
    crashed_id = run_for(instance, "r1", crashed)
    retry_id = run_for(instance, "r1")
    waiting = instance.create_run_for_job(served, tags={"request_id": "r2"})
    instance.create_run_for_job(served, tags={"request_id": "someone-else"})
    assert runs_in_progress(instance, ["r1", "r2"]) == 1
    assert runs_in_progress(instance, ["r1"]) == 0
    instance.report_run_failed(waiting)
    assert runs_in_progress(instance, ["r1", "r2"]) == 0

    first, second = run_history(instance, "r1")
    assert first.startswith(f"run {crashed_id[:8]} FAILURE") and "crash" in first
    assert second.startswith(f"run {retry_id[:8]} SUCCESS")
