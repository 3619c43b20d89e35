"""The run queue's per-kind limits apply to the runs our jobs really create: with the repo's
dagster.yaml, runs launched as the UI launches them and dequeued by the daemon's own queue logic
leave predictions a slot while a burst of profile scrapes waits, and start one scrape at a time."""

import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.run_slots import RUN_SLOT_TAG, RunSlot

REPO = Path(__file__).resolve().parent.parent
LOCATION = "viral_pipeline"

# The run config each job needs to be launched; what the runs would do does not matter here,
# since the launcher below records launches instead of starting run processes.
RUN_CONFIG = {
    "predict": {"ops": {"normalize": {"config": {"request_id": "r"}}}},
    "scrape_creator_profile": {"ops": {"scrape_profile": {"config": {"request_id": "r"}}}},
    "scrape_job": {},
}
PARTITION = {"scrape_job": "2026-01-05"}


def _limits(name: str) -> list[dict]:
    config = yaml.safe_load((REPO / name).read_text())
    return config["concurrency"]["runs"]["tag_concurrency_limits"]


@pytest.mark.parametrize("name", ["dagster.yaml", "deploy/dagster.postgres.yaml"])
def test_the_yaml_limits_name_the_run_slots_of_the_code(name):
    limits = {(limit["key"], limit["value"]): limit["limit"] for limit in _limits(name)}
    assert limits == {(RUN_SLOT_TAG, RunSlot.SCRAPE): 1, (RUN_SLOT_TAG, RunSlot.PROFILE_SCRAPE): 2}


@pytest.fixture
def queue_home(tmp_path):
    """The repo's instance config, with a run launcher that records each launch and leaves the run
    STARTING (in progress, holding its slot) instead of starting a run process."""
    home = tmp_path / "queue_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with open(home / "dagster.yaml", "a") as config:
        config.write(
            "\nrun_launcher:\n  module: dagster._core.test_utils\n  class: MockedRunLauncher\n"
        )
    return home


def _launch(request_context, job_name: str) -> str:
    """Launch a run of `job_name` as the UI's Launch button does; the queue coordinator queues it."""
    tags = (
        [{"key": "dagster/partition", "value": PARTITION[job_name]}]
        if job_name in PARTITION
        else []
    )
    result = execute_dagster_graphql(
        request_context,
        LAUNCH_PIPELINE_EXECUTION_MUTATION,
        variables={
            "executionParams": {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": "__repository__",
                    "jobName": job_name,
                },
                "runConfigData": {**JSON_RUN_LOGS, **RUN_CONFIG[job_name]},
                "executionMetadata": {"tags": tags},
            }
        },
    )
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_profile_bursts_leave_predictions_a_slot_and_scrapes_run_one_at_a_time(queue_home):
    # The code location as the daemon loads it: workspace.yaml, in its own code server.
    target = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
    with (
        dg.DagsterInstance.from_config(str(queue_home)) as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        request_context = workspace.create_request_context()
        # A burst of profile requests, then two scrapes (a schedule tick and a webhook ingest),
        # then a prediction: first in, first out would start four profile scrapes.
        order = ["scrape_creator_profile"] * 5 + ["scrape_job"] * 2 + ["predict"]
        job_of = {_launch(request_context, job): job for job in order}
        queued = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
        assert len(queued) == len(order)
        assert {run.tags.get(RUN_SLOT_TAG) for run in queued} == {*RunSlot, None}

        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        list(daemon.run_iteration(workspace))
        started = Counter(
            job_of[run.run_id]
            for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING]))
        )
        assert started == {"scrape_creator_profile": 2, "scrape_job": 1, "predict": 1}

        # All 4 slots are taken: the next pass starts nothing.
        list(daemon.run_iteration(workspace))
        assert len(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))) == 4
