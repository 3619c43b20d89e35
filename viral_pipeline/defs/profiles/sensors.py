"""profile_requests: one `scrape_creator_profile` run per queued PATCH /api/profile, keyed by the request id."""

import dagster as dg

from viral_pipeline.defs.profiles.jobs import scrape_creator_profile
from viral_pipeline.defs.queue_sensors import one_run_per_request
from viral_pipeline.defs.resources import AppDatabase

# Nobody waits on a profile scrape the way a caller waits on a prediction: every daemon loop or two.
PROFILE_SENSOR_INTERVAL_S = 5


STRAGGLER_AFTER_S = 30.0


class ProfileSensorLimits(dg.ConfigurableResource):
    max_runs_per_tick: int = 25


@dg.sensor(
    job=scrape_creator_profile,
    minimum_interval_seconds=PROFILE_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launch one profile scrape per queued PATCH /api/profile (run_key = request id), a capped batch per tick.",
)
def profile_requests(context: dg.SensorEvaluationContext, app_db: AppDatabase,
                     profile_limits: ProfileSensorLimits) -> dg.SensorResult:
    from datetime import UTC, datetime, timedelta

    from viral_pipeline.store.profiles import queued_profile_requests_after, stale_queued_profile_requests

    engine, last_id = app_db.engine(), int(context.cursor or 0)
    queued = queued_profile_requests_after(engine, last_id, profile_limits.max_runs_per_tick)
    # Rows the cursor passed without reading (store.queues); a launched one is skipped by its run key.
    stale_before = datetime.now(UTC) - timedelta(seconds=STRAGGLER_AFTER_S)
    stragglers = stale_queued_profile_requests(engine, last_id, stale_before, profile_limits.max_runs_per_tick)
    return one_run_per_request("profile_requests", queued, last_id, op="scrape_profile", tag="profile_request_id",
                               stragglers=stragglers)
