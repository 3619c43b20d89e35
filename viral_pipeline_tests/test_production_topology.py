"""The production topology with real processes (viral_pipeline/deploy): PostgreSQL, Redis,
MLflow, a code server, the webserver, the daemon, the API under two uvicorn workers and two
Celery run workers. One topology serves every test of this module (about two minutes to start).

Proves: a prediction runs on a Celery worker; a worker killed with SIGKILL while it runs a
prediction has its run failed by run monitoring and retried, the request succeeding once; a code
server killed with SIGKILL comes back on its own and the daemon and webserver reach it again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

from viral_pipeline.defs.queue_sensors import PREDICTION_QUEUE
from viral_pipeline.deploy import postgres
from viral_pipeline.deploy.__main__ import WORKER_VARIABLES, banner
from viral_pipeline.deploy.health import celery_worker_ok
from viral_pipeline.deploy.topology import Topology
from viral_pipeline_tests.conftest import _missing
from viral_pipeline_tests.fakes.llm_servers import FakeGemini

REQUEST_BOUND_S = 120.0  # longest wait for one request to end (each wait is bounded)
RECOVERY_BOUND_S = 120.0
SUCCESSFUL = dg.DagsterRunStatus.SUCCESS


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    """A Gemini judge the predict runs call: a delayed answer holds a run in flight."""
    with FakeGemini() as server:
        yield server


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory, gemini: FakeGemini) -> Iterator[Topology]:
    if shutil.which("redis-server") is None:
        _missing("redis-server not found: install with apt-get install redis-server")
    if postgres.server_bindir() is None:
        _missing("PostgreSQL server binaries not found: install with apt-get install postgresql")
    env = {"GEMINI_API_KEY": gemini.api_key, "GEMINI_BASE_URL": gemini.url}
    topology = Topology(tmp_path_factory.mktemp("topology"), bootstrap_model=False, env=env)
    try:
        with topology:
            yield topology
    finally:
        shutil.rmtree(topology.postgres_data_dir.parent, ignore_errors=True)


def _call(topology: Topology, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{topology.api_url}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {topology.api_token}",
            "content-type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _analyze(topology: Topology, caption: str) -> str:
    body = {"caption": caption, "duration_s": 24}
    return str(_call(topology, "POST", "/api/analyze", body)["request_id"])


def _wait_for_end(topology: Topology, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + REQUEST_BOUND_S
    while time.monotonic() < deadline:
        answer: dict[str, Any] = _call(topology, "GET", f"/api/predictions/{request_id}")
        if answer["status"] in ("succeeded", "failed"):
            return answer
        time.sleep(0.5)
    raise AssertionError(f"request {request_id} still {answer['status']} after {REQUEST_BOUND_S} s")


def _runs(topology: Topology, request_id: str) -> list[dg.DagsterRun]:
    with topology.instance() as instance:
        return list(instance.get_runs(dg.RunsFilter(tags={PREDICTION_QUEUE.tag: request_id})))


def _ended_runs(topology: Topology, request_id: str) -> list[dg.DagsterRun]:
    """The request's runs once each has ended: persist marks a request succeeded from inside its
    run, moments before the worker reports the run's own success."""
    deadline = time.monotonic() + REQUEST_BOUND_S
    while True:
        runs = _runs(topology, request_id)
        if all(run.is_finished for run in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def test_a_prediction_runs_on_a_celery_worker(topology: Topology) -> None:
    request_id = _analyze(topology, "The 10-minute pasta #food #recipe")
    assert _wait_for_end(topology, request_id)["status"] == "succeeded"

    [run] = _ended_runs(topology, request_id)
    assert run.status == SUCCESSFUL
    task_id = run.tags[DAGSTER_CELERY_TASK_ID_TAG]  # set by the Celery launcher on launch
    with topology.instance() as instance:
        assert type(instance.run_launcher).__name__ == "WorkerCheckingCeleryRunLauncher"
        # The task's final state in the result backend, written by the worker that ran it.
        assert instance.run_launcher.celery.AsyncResult(task_id).state == "SUCCESS"  # type: ignore[attr-defined]
        messages = [entry.message for entry in instance.all_logs(run.run_id) if entry.message]
        enqueued = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
    assert any(m.endswith("Celery task has been forwarded to the broker.") for m in messages)
    # Every slot was free and nothing waited: the sensor's submit launched it, not the queue.
    assert enqueued == []
    # The workers log JSON lines only (no banner, no Celery text format); the one that ran the
    # run logged taking its task.
    lines = [
        line
        for path in sorted((topology.workdir / "logs").glob("celery_worker-*.log"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    records = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in records)
    assert any(task_id in record.get("event", "") for record in records)


def _worker_holding(topology: Topology, task_id: str) -> int | None:
    with topology.instance() as instance:
        active = instance.run_launcher.celery.control.inspect(timeout=2).active() or {}  # type: ignore[attr-defined]
    for node, tasks in active.items():
        if any(task["id"] == task_id for task in tasks):
            return int(node.split("@")[0].rsplit("-", 1)[1])
    return None


def test_a_run_whose_worker_is_killed_is_failed_retried_and_its_request_succeeds_once(
    topology: Topology, gemini: FakeGemini
) -> None:
    gemini.delay(15)  # the first judge call holds the run on its worker
    calls_before = len(gemini.requests)
    request_id = _analyze(topology, "A worker dies mid-prediction #fyp")

    deadline = time.monotonic() + REQUEST_BOUND_S
    worker = None
    while worker is None and time.monotonic() < deadline:
        runs = _runs(topology, request_id)
        if (
            runs
            and len(gemini.requests) > calls_before
            and DAGSTER_CELERY_TASK_ID_TAG in runs[0].tags
        ):
            worker = _worker_holding(topology, runs[0].tags[DAGSTER_CELERY_TASK_ID_TAG])
        time.sleep(0.2)
    assert worker is not None, "the run never reached a worker's judge call"
    [first_run] = _runs(topology, request_id)
    topology.kill("celery_worker", worker)

    try:
        answer = _wait_for_end(topology, request_id)
    finally:
        topology.restart("celery_worker", worker)
    assert answer["status"] == "succeeded"

    runs = {run.run_id: run for run in _ended_runs(topology, request_id)}
    failed = runs[first_run.run_id]
    assert failed.status == dg.DagsterRunStatus.FAILURE
    with topology.instance() as instance:
        failure = [
            e
            for e in instance.all_logs(failed.run_id)
            if e.dagster_event_type == dg.DagsterEventType.RUN_FAILURE
        ]
    assert "no live Celery worker holds task" in (failure[0].message or "")
    [retry] = [
        run for run in runs.values() if run.tags.get("dagster/parent_run_id") == failed.run_id
    ]
    assert [run.run_id for run in runs.values() if run.status == SUCCESSFUL] == [retry.run_id]


def test_a_killed_code_server_comes_back_and_runs_launch_again(topology: Topology) -> None:
    old_pid = topology.pid("code_server")
    assert old_pid is not None
    os.killpg(old_pid, signal.SIGKILL)  # not through the topology: as if it crashed

    deadline = time.monotonic() + RECOVERY_BOUND_S
    while time.monotonic() < deadline and not (
        topology.pid("code_server") != old_pid and topology.healthy("code_server")
    ):
        time.sleep(0.5)
    assert topology.pid("code_server") != old_pid, "the supervisor did not restart the code server"
    assert topology.process("code_server").restarts == 1

    # The daemon's sensor and run launch reach the new server: a new request succeeds.
    request_id = _analyze(topology, "After the code server came back #food")
    assert _wait_for_end(topology, request_id)["status"] == "succeeded"
    # And the webserver shows the location loaded, with no reload by hand.
    assert _webserver_location_status(topology) == "RepositoryLocation"


def _webserver_location_status(topology: Topology) -> str:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } } }"
    deadline = time.monotonic() + RECOVERY_BOUND_S
    typename = ""
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{topology.urls['webserver']}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            entries = json.loads(response.read())["data"]["workspaceOrError"]["locationEntries"]
        typename = entries[0]["locationOrLoadError"]["__typename"]
        if typename == "RepositoryLocation":
            return typename
        time.sleep(1)
    return typename


def test_up_prints_every_url_and_what_a_worker_machine_exports(topology: Topology) -> None:
    printed = banner(topology)
    for url in topology.urls.values():
        assert url in printed
    for var in WORKER_VARIABLES:
        assert f"export {var}={topology.env[var]}\n" in printed
    assert topology.api_token in printed


def test_a_worker_started_with_the_readme_command_joins_the_broker(topology: Topology) -> None:
    """A worker machine's command (`python -m viral_pipeline.deploy worker`), with the variables
    `up` prints and the instance file in its own DAGSTER_HOME, answers on the broker."""
    home = topology.workdir / "second_machine_home"
    home.mkdir(exist_ok=True)
    printed = subprocess.run(
        [sys.executable, "-m", "viral_pipeline.deploy", "instance-config"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    (home / "dagster.yaml").write_text(printed)
    # This process's environment stands in for the other machine's own (PATH, coverage's
    # measurement of the processes tests start); every connection is one `up` printed.
    env = {**os.environ, **{var: topology.env[var] for var in WORKER_VARIABLES}}
    env["DAGSTER_HOME"] = str(home)
    node = f"second-machine-{os.getpid()}@{socket.gethostname()}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "viral_pipeline.deploy", "worker", "--name", node],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        broker, backend = env["CELERY_BROKER_URL"], env["CELERY_RESULT_BACKEND"]
        deadline = time.monotonic() + RECOVERY_BOUND_S
        joined = False
        while not joined and time.monotonic() < deadline and worker.poll() is None:
            joined = celery_worker_ok(broker, backend, node)
            time.sleep(1)
        assert joined, f"worker {node} never answered on the broker (exit code {worker.poll()})"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
