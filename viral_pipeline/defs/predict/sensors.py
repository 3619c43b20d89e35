"""prediction_requests: one `predict` run per queued request, keyed by the request id."""

import dagster as dg

from viral_pipeline.defs.predict.jobs import predict
from viral_pipeline.defs.queue_sensors import one_run_per_request
from viral_pipeline.defs.resources import AppDatabase

# Dagster's sensor daemon loops at most every 5 s whatever this says; 1 asks for every loop.
PREDICTION_SENSOR_INTERVAL_S = 1


class PredictionSensorLimits(dg.ConfigurableResource):
    max_runs_per_tick: int = 50
    # A request still queued this long after it was stored, at or below the cursor, is requested
    # again (see store.predictions.stale_queued); launched ones are skipped by their run key.
    straggler_after_s: float = 30.0
    max_stragglers_per_tick: int = 10


@dg.sensor(
    job=predict,
    minimum_interval_seconds=PREDICTION_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launch one predict run per queued request (run_key = request id), a capped batch per tick.",
)
def prediction_requests(context: dg.SensorEvaluationContext, app_db: AppDatabase,
                        prediction_limits: PredictionSensorLimits) -> dg.SensorResult:
    from datetime import UTC, datetime, timedelta

    from viral_pipeline.store.predictions import queued_after, stale_queued

    engine, last_id = app_db.engine(), int(context.cursor or 0)
    queued = queued_after(engine, last_id, prediction_limits.max_runs_per_tick)
    stale_before = datetime.now(UTC) - timedelta(seconds=prediction_limits.straggler_after_s)
    stragglers = stale_queued(engine, last_id, stale_before, prediction_limits.max_stragglers_per_tick)
    return one_run_per_request("prediction_requests", queued, last_id, op="normalize", tag="request_id",
                               stragglers=stragglers)
