"""Predictions keep their 2 run slots under a flood of profile scrapes, with the real Dagster daemon
(as `scripts/run.sh` runs it) and every profile scrape busy on a slow fake Apify actor: 50 queued
PATCH /api/profile requests, then 5 predictions. The predictions finish while profile runs still
wait in the run queue, and never are more than 2 profile runs in progress: each time a prediction
ends, the queue passes over the older profile runs to start the next prediction."""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

from viral_pipeline.defs.run_slots import RUN_LANE_TAG, RunLane
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import get_request
from viral_pipeline.store.schema import profile_requests
from viral_pipeline_tests.dagster_daemon import Daemon

PROFILES = 50
PREDICTIONS = 5
# The fake actor scrapes each profile until the test ends it: the 2 profile runs in progress
# stay busy (waiting, not using the CPU the predictions need) until the predictions are done.
PROFILE_SCRAPE_S = 3600.0
PROFILE_JOB = "scrape_creator_profile"
PREDICTION = {"caption": "Three pans, one dinner #cooking", "duration_s": 31}
WAIT_S = 240.0  # generous: CI runs this on 2 cores, each run a new Python process
LOOK_EVERY_S = 0.25


@dataclass
class Looks:
    """The most runs the test saw in progress at once, looking at the instance every 0.25 s."""

    profile: int = 0
    background: int = 0
    predict: int = 0
    count: int = 0
    now: Counter | None = None

    def take(self, instance: dg.DagsterInstance) -> None:
        running = instance.get_runs(dg.RunsFilter(statuses=list(IN_PROGRESS_RUN_STATUSES)))
        self.now = Counter(run.job_name for run in running)
        background = [r for r in running if r.tags.get(RUN_LANE_TAG) == RunLane.BACKGROUND]
        self.profile = max(self.profile, self.now[PROFILE_JOB])
        self.background = max(self.background, len(background))
        self.predict = max(self.predict, self.now["predict"])
        self.count += 1


def _watch(
    instance: dg.DagsterInstance,
    looks: Looks,
    daemon: Daemon,
    done: Callable[[], bool],
    waiting_for: str,
) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        looks.take(instance)
        if done():
            return
        time.sleep(LOOK_EVERY_S)
    statuses = Counter(run.status.value for run in instance.get_runs())
    pytest.fail(
        f"no {waiting_for} in {WAIT_S:.0f} s; runs by status {dict(statuses)}, in progress "
        f"{dict(looks.now or {})}, most seen {looks}; daemon log:\n{daemon.log_tail()}"
    )


def _most_at_once(records: list) -> int:
    """The most of these runs in progress at one instant, from their start and end times."""
    edges = sorted(
        edge
        for record in records
        if record.start_time is not None
        for edge in ((record.start_time, 1), (record.end_time or float("inf"), -1))
    )
    most = running = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def _in_progress_throughout(records: list, run) -> int:
    """How many of these runs were in progress for the whole of `run`, from the run records."""
    return sum(
        1
        for record in records
        if record.start_time is not None
        and record.start_time <= run.start_time
        and (record.end_time or float("inf")) >= run.end_time
    )


def _queued_profile_rows(engine: sa.Engine) -> int:
    query = sa.select(sa.func.count()).where(profile_requests.c.status == "queued")
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def test_predictions_finish_while_a_flood_of_profile_scrapes_waits_in_the_run_queue(
    monkeypatch, fake_apify, api_client, tmp_path, record_property
):
    monkeypatch.setenv("SCRAPER_SOURCE", "apify")  # the daemon's run workers inherit it
    # The flood is one caller's: its profile rate limit must admit all of it.
    monkeypatch.setenv("RATE_LIMIT_PROFILE_PER_MINUTE", str(PROFILES))
    get_settings.cache_clear()
    fake_apify.busy_s = PROFILE_SCRAPE_S
    engine = ready_engine(get_settings().database_url)
    for n in range(PROFILES):
        queued = api_client.patch("/api/profile", json={"tiktok_handle": f"flood.creator.{n:02d}"})
        assert queued.status_code == 202, queued.text

    began = time.monotonic()
    daemon = Daemon.in_dir(tmp_path)
    daemon.start()
    looks = Looks()
    try:
        with dg.DagsterInstance.from_config(str(daemon.home)) as instance:
            # The whole flood in the run queue, two of it running, before the first prediction.
            _watch(
                instance,
                looks,
                daemon,
                lambda: (
                    instance.get_runs_count(dg.RunsFilter(job_name=PROFILE_JOB)) == PROFILES
                    and looks.now is not None
                    and looks.now[PROFILE_JOB] == 2
                ),
                "flood of profile runs",
            )
            request_ids = [
                api_client.post("/api/analyze", json=PREDICTION).json()["request_id"]
                for _ in range(PREDICTIONS)
            ]
            asked = time.monotonic()
            flood_s = asked - began
            _watch(
                instance,
                looks,
                daemon,
                lambda: all(
                    get_request(engine, rid)["status"] in ("succeeded", "failed")
                    for rid in request_ids
                ),
                "end of the predictions",
            )
            predictions_s = time.monotonic() - asked
            # The moment the last prediction finished: the flood still waits its turn.
            waiting_runs = len(
                instance.get_runs(
                    dg.RunsFilter(job_name=PROFILE_JOB, statuses=[dg.DagsterRunStatus.QUEUED])
                )
            )
            waiting_rows = _queued_profile_rows(engine)

            # Empty the queue and let the profile runs in progress end, so no run worker
            # outlives the test.
            for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])):
                instance.report_run_canceled(run)
            fake_apify.end_busy_runs()
            _watch(instance, looks, daemon, lambda: not looks.now, "end of the runs in progress")
            profile_records = instance.get_run_records(dg.RunsFilter(job_name=PROFILE_JOB))
            predict_records = instance.get_run_records(dg.RunsFilter(job_name="predict"))
    finally:
        fake_apify.end_busy_runs()  # a failed test leaves no run worker waiting on the fake
        daemon.stop()

    observed = {
        "seconds": round(time.monotonic() - began, 1),
        "flood_seconds": round(flood_s, 1),
        "predictions_seconds": round(predictions_s, 1),
        "profile_runs_queued_at_last_prediction": waiting_runs,
        "profile_requests_queued_at_last_prediction": waiting_rows,
        "most_profile_runs_seen": looks.profile,
        "most_profile_runs_by_records": _most_at_once(profile_records),
        "most_predict_runs_by_records": _most_at_once(predict_records),
        "profile_runs_beside_each_prediction": [
            _in_progress_throughout(profile_records, run) for run in predict_records
        ],
        "looks": looks.count,
    }
    for name, value in observed.items():
        record_property(name, value)
    assert {get_request(engine, rid)["status"] for rid in request_ids} == {"succeeded"}, observed
    assert waiting_runs > 0 and waiting_rows >= waiting_runs, observed
    # The lane and the profile slot held: never more than 2 profile (or any background) runs.
    assert looks.profile == looks.background == 2, observed
    assert observed["most_profile_runs_by_records"] == 2, observed
    # Each prediction ran in a slot the lane leaves free, beside the 2 profile runs holding it.
    assert observed["profile_runs_beside_each_prediction"] == [2] * PREDICTIONS, observed
    assert len(fake_apify.requests_to("/v2/acts/", method="POST")) == 2  # busy there, till the end
