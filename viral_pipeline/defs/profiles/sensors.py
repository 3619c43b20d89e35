"""profile_requests: one `scrape_creator_profile` run per queued PATCH /api/profile, keyed by the request id."""

import dagster as dg

from viral_pipeline.defs.profiles.jobs import scrape_creator_profile
from viral_pipeline.defs.profiles.resources import ProfileSensorLimits
from viral_pipeline.defs.queue_sensors import PROFILE_QUEUE, queue_tick
from viral_pipeline.defs.resources import AppDatabase

# Nobody waits on a profile scrape the way a caller waits on a prediction: every daemon loop or two.
PROFILE_SENSOR_INTERVAL_S = 5


@dg.sensor(
    job=scrape_creator_profile,
    minimum_interval_seconds=PROFILE_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Launch one profile scrape per queued PATCH /api/profile (run_key = request id), "
        "a capped batch per tick."
    ),
)
def profile_requests(
    context: dg.SensorEvaluationContext, app_db: AppDatabase, profile_limits: ProfileSensorLimits
) -> dg.SensorResult:
    return queue_tick(
        "profile_requests",
        app_db.engine(),
        PROFILE_QUEUE,
        context.cursor,
        limit=profile_limits.max_runs_per_tick,
    )
