"""The production topology's run queue launches a run at once when the queue would let it
through on its next pass, and queues it otherwise, so no run skips a limit or overtakes another.

These tests use a real Dagster instance (SQLite run storage in a temporary folder) configured with
the production instance's run coordinator and run concurrency, and Dagster's own
`MockedRunLauncher`, which records each launch instead of starting a run worker: what is tested
is the decision to queue or launch. Real launches by this coordinator, on Celery workers, are
in test_production_topology.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.test_utils import create_run_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from viral_pipeline.defs.run_slots import RUN_LANE_TAG
from viral_pipeline.deploy.commands import DEFINITIONS_MODULE, LOCATION_NAME
from viral_pipeline.deploy.instance_config import production_instance
from viral_pipeline.deploy.run_coordinator import LaunchWhenFreeRunCoordinator
from viral_pipeline.settings import PROJECT_ROOT

PRODUCTION = production_instance()
MAX_RUNS = PRODUCTION["concurrency"]["runs"]["max_concurrent_runs"]
SCRAPE_SLOT = next(
    limit
    for limit in PRODUCTION["concurrency"]["runs"]["tag_concurrency_limits"]
    if limit.get("value") == "scrape"
)

# Where a submitted run says its job comes from (the product's code location); the recording
# launcher never loads it.
PREDICT_CODE = JobPythonOrigin(
    "predict",
    RepositoryPythonOrigin(
        sys.executable, ModuleCodePointer(DEFINITIONS_MODULE, "defs", str(PROJECT_ROOT))
    ),
)
PREDICT_ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(
            LoadableTargetOrigin(module_name=DEFINITIONS_MODULE), location_name=LOCATION_NAME
        ),
        "__repository__",
    ),
    "predict",
)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    overrides = {
        "run_coordinator": PRODUCTION["run_coordinator"],
        "concurrency": PRODUCTION["concurrency"],
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
    }
    with dg.instance_for_test(overrides=overrides) as test_instance:
        yield test_instance


def _submit(instance: dg.DagsterInstance, tags: dict[str, Any] | None = None) -> dg.DagsterRun:
    run = create_run_for_test(
        instance,
        job_name="predict",
        tags=tags or {},
        remote_job_origin=PREDICT_ORIGIN,
        job_code_origin=PREDICT_CODE,
    )
    return instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]


def _enqueued(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    return bool(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED))


def test_the_production_instance_uses_this_coordinator(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.run_coordinator, LaunchWhenFreeRunCoordinator)
    # The run queue's own settings still reach it (the daemon dequeues with them).
    assert instance.run_coordinator.dequeue_interval_seconds == 1
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == MAX_RUNS  # type: ignore[union-attr]


def test_with_every_slot_free_a_run_is_launched_without_entering_the_queue(
    instance: dg.DagsterInstance,
) -> None:
    run = _submit(instance)
    assert run.status == dg.DagsterRunStatus.STARTING
    assert [r.run_id for r in instance.run_launcher.queue()] == [run.run_id]  # type: ignore[attr-defined]
    assert not _enqueued(instance, run)


def test_once_every_slot_is_taken_runs_queue(instance: dg.DagsterInstance) -> None:
    launched = [_submit(instance) for _ in range(MAX_RUNS)]
    assert {run.status for run in launched} == {dg.DagsterRunStatus.STARTING}
    extra = _submit(instance)
    assert extra.status == dg.DagsterRunStatus.QUEUED
    assert _enqueued(instance, extra)


def test_a_free_slot_does_not_let_a_new_run_overtake_a_queued_one(
    instance: dg.DagsterInstance,
) -> None:
    for _ in range(MAX_RUNS):
        _submit(instance)
    waiting = _submit(instance)
    assert waiting.status == dg.DagsterRunStatus.QUEUED
    # A slot frees up; the queue's next pass owes it to `waiting`, not to a newcomer.
    first = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING]))[0]
    instance.report_run_failed(first)
    assert _submit(instance).status == dg.DagsterRunStatus.QUEUED


def test_a_run_a_tag_limit_counts_always_queues_and_another_value_does_not(
    instance: dg.DagsterInstance,
) -> None:
    scrape = _submit(instance, {SCRAPE_SLOT["key"]: SCRAPE_SLOT["value"]})
    assert scrape.status == dg.DagsterRunStatus.QUEUED
    instance.delete_run(scrape.run_id)  # nothing waits now
    background = _submit(instance, {RUN_LANE_TAG: "background"})
    assert background.status == dg.DagsterRunStatus.QUEUED
    instance.delete_run(background.run_id)
    unlimited = _submit(instance, {SCRAPE_SLOT["key"]: "not-a-limited-slot"})
    assert unlimited.status == dg.DagsterRunStatus.STARTING


def test_without_a_run_limit_only_the_queue_order_and_the_tag_limits_hold() -> None:
    overrides = {
        "run_coordinator": PRODUCTION["run_coordinator"],
        "concurrency": {"runs": {**PRODUCTION["concurrency"]["runs"], "max_concurrent_runs": -1}},
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
    }
    with dg.instance_for_test(overrides=overrides) as instance:
        runs = [_submit(instance) for _ in range(MAX_RUNS * 3)]
        assert {run.status for run in runs} == {dg.DagsterRunStatus.STARTING}
        assert _submit(instance, {RUN_LANE_TAG: "background"}).status == (
            dg.DagsterRunStatus.QUEUED
        )


def test_a_run_submitted_twice_is_not_launched_twice(instance: dg.DagsterInstance) -> None:
    run = _submit(instance)
    again = instance.run_coordinator.submit_run(  # type: ignore[union-attr]
        dg.SubmitRunContext(run, workspace=None)  # type: ignore[arg-type]
    )
    assert again.status == dg.DagsterRunStatus.STARTING
    assert len(instance.run_launcher.queue()) == 1  # type: ignore[attr-defined]
