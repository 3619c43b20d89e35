"""prediction_requests: one `predict` run per queued request, keyed by the request id."""

import dagster as dg

from viral_pipeline.defs.predict.jobs import predict
from viral_pipeline.defs.predict.resources import PredictionSensorLimits
from viral_pipeline.defs.queue_sensors import PREDICTION_QUEUE, queue_tick
from viral_pipeline.defs.resources import AppDatabase

# Dagster's sensor daemon loops at most every 5 s whatever this says; 1 asks for every loop.
PREDICTION_SENSOR_INTERVAL_S = 1


@dg.sensor(
    job=predict,
    minimum_interval_seconds=PREDICTION_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launch one predict run per queued request (run_key = request id), a capped batch per tick.",
)
def prediction_requests(
    context: dg.SensorEvaluationContext,
    app_db: AppDatabase,
    prediction_limits: PredictionSensorLimits,
) -> dg.SensorResult:
    return queue_tick(
        "prediction_requests",
        app_db.engine(),
        PREDICTION_QUEUE,
        context.cursor,
        limit=prediction_limits.max_runs_per_tick,
    )
