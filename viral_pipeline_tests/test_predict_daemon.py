"""The prediction path under the real Dagster daemon (as `scripts/run.sh` runs it): each request
becomes exactly one `predict` run, across many ticks, daemon restarts, a reset cursor and a cursor
left ahead of the app database's ids."""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.scheduler.instigation import InstigatorType

from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request, get_request
from viral_pipeline_tests.dagster_daemon import Daemon

REQUEST = {
    "caption": "Wait for the end #food #fyp",
    "duration_s": 24,
    "creator": {"handle": "chef"},
}


@pytest.fixture
def daemon(tmp_path):
    running = Daemon.in_dir(tmp_path)
    running.start()
    yield running
    running.stop()


def _wait_until_done(engine, request_ids, daemon, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = {get_request(engine, rid)["status"] for rid in request_ids}
        if statuses <= {"succeeded", "failed"}:
            return
        time.sleep(0.5)
    pytest.fail(
        f"requests not done in {timeout:.0f} s: {statuses}; daemon log:\n" + daemon.log_tail()
    )


def _runs_per_request(home: Path, request_ids):
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {
            rid: len(instance.get_runs(filters=dg.RunsFilter(tags={"request_id": rid})))
            for rid in request_ids
        }


def test_the_daemon_runs_each_request_once_across_ticks_a_restart_and_a_cursor_reset(daemon):
    engine = ready_engine(get_settings().database_url)
    first = [create_request(engine, REQUEST) for _ in range(3)]
    _wait_until_done(engine, first, daemon)

    # Reset the sensor's cursor the way the UI's "reset cursor" does, with the daemon stopped so
    # its next tick cannot write the old cursor back; then restart it.
    daemon.stop()
    with dg.DagsterInstance.from_config(str(daemon.home)) as instance:
        (state,) = [
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.name == "prediction_requests"
        ]
        assert state.instigator_data.cursor  # it kept one: the id of the last request it read
        instance.update_instigator_state(
            state.with_data(state.instigator_data._replace(cursor=None))
        )
    second = [create_request(engine, REQUEST) for _ in range(2)]
    daemon.start()
    _wait_until_done(engine, second, daemon)
    time.sleep(3)  # a few more daemon loops: a duplicate, if any were launched, would show now

    # An app database whose ids restart below the stored cursor (recreated under a kept Dagster
    # instance): the request is found as a straggler once stale (backdated here, not waited for).
    daemon.stop()
    with dg.DagsterInstance.from_config(str(daemon.home)) as instance:
        (state,) = [
            s
            for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if s.name == "prediction_requests"
        ]
        instance.update_instigator_state(
            state.with_data(state.instigator_data._replace(cursor="1000"))
        )
    third = [create_request(engine, REQUEST)]
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE prediction_requests SET created_at = :old WHERE request_id = :rid"),
            {"old": datetime.now(UTC) - timedelta(minutes=2), "rid": third[0]},
        )
    daemon.start()
    _wait_until_done(engine, third, daemon)

    every = first + second + third
    assert {get_request(engine, rid)["status"] for rid in every} == {"succeeded"}
    assert _runs_per_request(daemon.home, every) == dict.fromkeys(every, 1)
    with dg.DagsterInstance.from_config(str(daemon.home)) as instance:
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="predict"))) == len(every)

    # The daemon, its sensors and its code server logged JSON only, one object per line.
    lines = [line for line in daemon.log.read_text().splitlines() if line.strip()]
    assert lines and [line for line in lines if not _is_json_object(line)] == []
    assert any(
        json.loads(line).get("event") == "sensor tick" for line in lines
    )  # ours among Dagster's


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
