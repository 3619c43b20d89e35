"""The Celery app of the run workers: `celery -A viral_pipeline.deploy.celery_worker worker`.

It is the app dagster-celery's CeleryRunLauncher sends runs to (same task names, the "dagster"
queue, its default Celery settings), with the broker and result backend of the settings. Each
task runs one Dagster run in this worker's process, against the instance at $DAGSTER_HOME, so a
worker needs the production instance file there and this package importable.
"""

from __future__ import annotations

from dagster_celery.config import DEFAULT_CONFIG
from dagster_celery.defaults import task_default_queue
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

# Loaded once here, before Celery forks its pool process, so a run does not import the code
# location (seconds of CPU) in a fresh process: the worker's point over a process per run.
import viral_pipeline.definitions  # noqa: F401
from viral_pipeline.settings import get_settings

QUEUE = task_default_queue

_settings = get_settings()
app = make_app(
    app_args={
        "broker": _settings.celery_broker_url,
        "backend": _settings.celery_result_backend,
        "include": [],
        # A worker takes a run only when it has a free process for it: a run never waits behind a
        # busy worker while another is idle.
        # Our JSON lines (configured when the definitions load) stay the worker's log format:
        # Celery would otherwise put its own text format on the root logger.
        "config_source": {
            **DEFAULT_CONFIG,
            "worker_disable_prefetch": True,
            "worker_hijack_root_logger": False,
        },
        "task_default_queue": QUEUE,
    }
)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
