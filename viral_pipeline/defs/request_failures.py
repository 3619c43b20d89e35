"""request_run_failures: a request whose run failed for good ends `failed`, never stuck `queued`.

A `predict` or `scrape_creator_profile` run marks its own request failed when one of its ops
raises. A run can also fail where none of our code runs: its code location fails to load, a
resource cannot start, the run worker dies before its first op. Its request would then stay
queued (or running) for ever, since the queue sensor never asks twice for a run key that already
has a run. This sensor marks such a request failed with the run's failure message, once Dagster
will not retry the run (`run_retries` in dagster.yaml; a retry re-runs every op).
"""

import dagster as dg

from viral_pipeline.defs.predict.jobs import predict
from viral_pipeline.defs.profiles.jobs import scrape_creator_profile
from viral_pipeline.defs.queue_sensors import PREDICTION_QUEUE, PROFILE_QUEUE
from viral_pipeline.defs.resources import AppDatabase
from viral_pipeline.observability import get_logger, report_exception

log = get_logger(__name__)

# Dagster's tag on a failed run: "true" when its run retries will launch another attempt.
WILL_RETRY_TAG = "dagster/will_retry"

QUEUE_OF_JOB = {predict.name: PREDICTION_QUEUE, scrape_creator_profile.name: PROFILE_QUEUE}


@dg.run_failure_sensor(
    name="request_run_failures",
    monitored_jobs=[predict, scrape_creator_profile],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Mark a request failed when its run failed before any op could, and will not be retried.",
)
def request_run_failures(context: dg.RunFailureSensorContext, app_db: AppDatabase) -> None:
    from viral_pipeline.store.queues import fail_unfinished

    run = context.dagster_run
    queue = QUEUE_OF_JOB[run.job_name]
    tag = queue.tag
    request_id = run.tags.get(tag)
    if request_id is None:  # launched by hand, not for a request
        return
    fields = {"run_id": run.run_id, "job": run.job_name, "request_id": request_id}
    if run.tags.get(WILL_RETRY_TAG) == "true":
        log.info("run failed; a retry will run the request again", **fields)
        return
    error = f"run {run.run_id} failed: {_failure_text(context.failure_event)}"
    if fail_unfinished(app_db.engine(), queue.table(), request_id, error):
        report_exception(RuntimeError(error), **fields)
    else:
        log.info("run failed; its request had already finished", **fields)


def _failure_text(event: dg.DagsterEvent) -> str:
    """Dagster's message, then each error in the cause chain ("RuntimeError: ..."), no stack."""
    parts = [event.message or "the run failed"]
    error = event.job_failure_data.error if event.job_failure_data else None
    while error is not None and len(parts) < 6:
        parts.append(error.message.strip())
        error = error.cause
    return " <- ".join(parts)
