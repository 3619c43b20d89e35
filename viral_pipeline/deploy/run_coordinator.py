"""A run queue that does not hold a run it would start at once anyway.

Dagster's QueuedRunCoordinator puts every submitted run in the queue, and its daemon dequeues
once a second at best (`dequeue_interval_seconds` is a whole number): a prediction submitted
while every slot is free still waits half a second on average, plus the dequeue pass itself.
Here a submitted run is launched at once, as Dagster's DefaultRunCoordinator does, when the
queue would have let it through on its next pass: no run is waiting (so none is overtaken), a
run slot is free, and the run carries no tag that a concurrency limit counts. Otherwise it joins
the queue and the daemon applies every limit as before.

The check and the launch are not one transaction: two submitters (two sensors ticking at once,
or a sensor and the dequeuer) can each see the last free slot, so the count of running runs can
pass `max_concurrent_runs` by one per concurrent submitter for as long as those runs last. The
limit protects the machine from too many run processes, and a few more for a moment do not hurt
it; the tag limits (one scrape at a time) are never bypassed, because limited runs always queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import ACTIVE_RUN_STATUSES


class LaunchWhenFreeRunCoordinator(QueuedRunCoordinator):
    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        if run.status != DagsterRunStatus.NOT_STARTED or not self.starts_at_once(run):
            return super().submit_run(context)
        self._instance.launch_run(run.run_id, context.workspace)
        launched = self._instance.get_run_by_id(run.run_id)
        assert launched is not None, f"run {run.run_id} vanished while it was launched"
        return launched

    def starts_at_once(self, run: DagsterRun) -> bool:
        """Whether the queue's next pass would dequeue `run`: nothing queued, a free slot, no
        limited tag."""
        limits = self._instance.get_concurrency_config().run_queue_config
        assert limits is not None, "a queued run coordinator always has a run queue config"
        if any(_counted_by(limit, run.tags) for limit in limits.tag_concurrency_limits):
            return False
        if limits.should_block_op_concurrency_limited_runs and _uses_pools(run):
            return False
        instance = self._instance
        if instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED])) > 0:
            return False
        if limits.max_concurrent_runs == -1:
            return True
        active = instance.get_runs_count(RunsFilter(statuses=ACTIVE_RUN_STATUSES))
        return active < limits.max_concurrent_runs


def _counted_by(limit: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    """Whether a tag concurrency limit counts a run with `tags`: it has the limit's key and, if
    the limit names one value, that value (a limit per unique value counts any)."""
    if limit["key"] not in tags:
        return False
    value = limit.get("value")
    return value is None or isinstance(value, Mapping) or tags[limit["key"]] == value


def _uses_pools(run: DagsterRun) -> bool:
    """A run whose ops claim pool slots: the queue checks the pools' free slots, so it queues."""
    snapshot = run.run_op_concurrency
    return snapshot is not None and bool(snapshot.all_pools)
