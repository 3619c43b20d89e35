"""The run queue's limits apply to the runs our jobs really create: every job but `predict` runs in
the background lane, and with the repo's dagster.yaml, runs launched as the UI launches them and
dequeued by the daemon's own queue logic leave predictions 2 slots while a flood of background
runs waits, and start one scrape at a time. (test_run_slots_daemon.py proves it with the daemon.)"""

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
from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.run_slots import (
    PREDICTION_SLOTS_KEPT,
    RUN_LANE_TAG,
    RUN_SLOT_TAG,
    RunLane,
    RunSlot,
)

REPO = Path(__file__).resolve().parent.parent
LOCATION = "viral_pipeline"

# The run config each job needs to be launched beyond its defaults; what the runs would do does
# not matter here, since the launcher below records launches instead of starting run processes.
RUN_CONFIG = {
    "predict": {"ops": {"normalize": {"config": {"request_id": "r"}}}},
    "scrape_creator_profile": {"ops": {"scrape_profile": {"config": {"request_id": "r"}}}},
}
PARTITION = {"scrape_job": "2026-01-05", "cost_report_job": "2026-01-05"}
# Every job of the code location, predict aside: each runs in the background lane.
BACKGROUND_JOBS = [
    "scrape_creator_profile",
    "scrape_job",
    "trending_sounds_job",
    "creator_profiles_job",
    "retrain_ml_job",
    "retrain_update_model_job",
    "retrain_models_job",
    "evaluate_predictions_job",
    "calibration_job",
    "cost_report_job",
]


def _instance_config(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", ["dagster.yaml", "deploy/dagster.postgres.yaml"])
def test_the_yaml_limits_name_the_lane_and_slots_of_the_code(name):
    config = _instance_config(name)
    runs = config["concurrency"]["runs"]
    limits = {
        (limit["key"], limit["value"]): limit["limit"] for limit in runs["tag_concurrency_limits"]
    }
    assert limits == {
        (RUN_LANE_TAG, RunLane.BACKGROUND): runs["max_concurrent_runs"] - PREDICTION_SLOTS_KEPT,
        (RUN_SLOT_TAG, RunSlot.SCRAPE): 1,
        (RUN_SLOT_TAG, RunSlot.PROFILE_SCRAPE): 2,
    }
    # The PostgreSQL instance queues runs alike.
    local = _instance_config("dagster.yaml")
    assert (config["concurrency"], config["run_queue"]) == (
        local["concurrency"],
        local["run_queue"],
    )


def test_every_job_but_predict_runs_in_the_background_lane():
    defs = load_defs()
    lanes = {
        job.name: job.run_tags.get(RUN_LANE_TAG)
        for job in defs.resolve_all_job_defs()
        # The asset graph's own job: what a person materializes by hand from the UI.
        if not job.name.startswith("__ASSET_JOB")
    }
    assert lanes == {"predict": None, **dict.fromkeys(BACKGROUND_JOBS, RunLane.BACKGROUND)}
    # Automation runs belong to no job: the asset daemon tags them with their sensor's run tags.
    automation = [
        sensor
        for sensor in defs.get_repository_def().sensor_defs
        if isinstance(sensor, dg.AutomationConditionSensorDefinition)
    ]
    assert [sensor.name for sensor in automation] == ["trending_sounds_after_scrape"]
    assert {sensor.run_tags.get(RUN_LANE_TAG) for sensor in automation} == {RunLane.BACKGROUND}


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
                "runConfigData": {**JSON_RUN_LOGS, **RUN_CONFIG.get(job_name, {})},
                "executionMetadata": {"tags": tags},
            }
        },
    )
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_a_background_flood_leaves_predictions_two_slots_and_scrapes_run_one_at_a_time(queue_home):
    # The code location as the daemon loads it: workspace.yaml, in its own code server.
    target = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
    with (
        dg.DagsterInstance.from_config(str(queue_home)) as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        request_context = workspace.create_request_context()
        # Two scrapes (a schedule tick and a webhook ingest), a burst of profile requests, every
        # scheduled job, then predictions: first in, first out would start no prediction.
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        order = ["scrape_job"] * 2 + ["scrape_creator_profile"] * 5 + BACKGROUND_JOBS * 2
        order += ["predict"] * 3
        job_of = {_launch(request_context, job): job for job in order}
        queued = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
        assert len(queued) == len(order)
        assert {run.tags.get(RUN_SLOT_TAG) for run in queued} == {*RunSlot, None}

        started = {"scrape_job": 1, "scrape_creator_profile": 1, "predict": 2}
        list(daemon.run_iteration(workspace))
        # One scrape, and a profile scrape in the lane's other slot (the second scrape waits for
        # its slot, the other background runs for the lane); predictions take the other 2.
        assert _starting(instance, job_of) == started

        # All 4 slots are taken: the next pass starts nothing.
        list(daemon.run_iteration(workspace))
        assert _starting(instance, job_of) == started


def _starting(instance: dg.DagsterInstance, job_of: dict[str, str]) -> Counter:
    starting = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING]))
    return Counter(job_of[run.run_id] for run in starting)
