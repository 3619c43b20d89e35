"""The Celery app of the run workers: `celery -A viral_pipeline.deploy.celery_worker worker`.

It is the app dagster-celery's CeleryRunLauncher sends runs to (same task names, the "dagster"
queue, its default Celery settings), with the broker and result backend of the settings. Each
task runs one Dagster run in this worker's process, against the instance at $DAGSTER_HOME, so a
worker needs the production instance file there and this package importable.
"""

from __future__ import annotations

from celery.signals import setup_logging
from dagster_celery.config import DEFAULT_CONFIG
from dagster_celery.defaults import task_default_queue
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

# Loaded once here, before Celery forks its pool process, so a run does not import the code
# location (seconds of CPU) in a fresh process: the worker's point over a process per run.
import viral_pipeline.definitions  # noqa: F401
from viral_pipeline.observability import configure_logging
from viral_pipeline.settings import get_settings

QUEUE = task_default_queue

_settings = get_settings()
# JSON lines from the start (Celery's "running as root" warning comes before its logging set-up).
configure_logging(_settings.log_level)


@setup_logging.connect
def _json_logs(**_: object) -> None:
    """Celery sets up no logging of its own when this signal has a receiver, so the JSON logging
    configured above stays the worker's: one JSON object a line, like every other entry point's."""


app = make_app(
    app_args={
        "broker": _settings.celery_broker_url,
        "backend": _settings.celery_result_backend,
        "include": [],
        "config_source": {
            **DEFAULT_CONFIG,
            # A worker takes a run only when it has a free process for it: a run never waits
            # behind a busy worker while another is idle.
            "worker_disable_prefetch": True,
            # The worker's output is our JSON log lines (see _json_logs); Celery would otherwise
            # also turn whatever reaches stdout and stderr into log records of its own.
            "worker_redirect_stdouts": False,
        },
        "task_default_queue": QUEUE,
    }
)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
