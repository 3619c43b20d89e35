"""CeleryRunLauncher whose worker health check notices a dead worker.

dagster-celery's check reads the run's task state from the result backend. A worker killed while
it runs a task never writes another state, so the task stays STARTED and the run would count as
running until its maximum runtime. Here a STARTED (or unknown) task is also looked for among the
tasks the live workers hold; a run whose task no worker holds at two checks in a row has lost its
worker, and run monitoring fails it (then run retries launch it again).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from dagster import DagsterRun
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

# How long the workers have to answer "which tasks do you hold?", and how long one answer serves
# the checks of every run in the same monitoring pass.
INSPECT_TIMEOUT_S = 2.0
HELD_TASKS_MAX_AGE_S = 3.0
MISSES_BEFORE_FAILED = 2


class WorkerCheckingCeleryRunLauncher(CeleryRunLauncher):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._misses: dict[str, int] = {}
        self._held: tuple[float, set[str]] = (0.0, set())
        self._lock = threading.Lock()

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        result = super().check_run_worker_health(run)
        if result.status in (WorkerStatus.SUCCESS, WorkerStatus.FAILED):
            self._misses.pop(run.run_id, None)
            return result
        task_id = run.tags[DAGSTER_CELERY_TASK_ID_TAG]
        if task_id in self._held_task_ids():
            self._misses.pop(run.run_id, None)
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        misses = self._misses.get(run.run_id, 0) + 1
        self._misses[run.run_id] = misses
        if misses < MISSES_BEFORE_FAILED:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker holds its task (once)")
        self._misses.pop(run.run_id, None)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"no live Celery worker holds task {task_id} ({result.msg or 'state STARTED'}): "
            "its worker died",
        )

    def _held_task_ids(self) -> set[str]:
        """Ids of the tasks every answering worker is running or has reserved."""
        with self._lock:
            fetched_at, held = self._held
            if time.monotonic() - fetched_at < HELD_TASKS_MAX_AGE_S:
                return held
            inspect = self.celery.control.inspect(timeout=INSPECT_TIMEOUT_S)
            held = set()
            for answer in (inspect.active() or {}, inspect.reserved() or {}):
                for tasks in answer.values():
                    held.update(task["id"] for task in tasks)
            self._held = (time.monotonic(), held)
            return held
