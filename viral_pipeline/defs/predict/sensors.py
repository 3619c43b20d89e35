"""prediction_requests: one `predict` run per queued request, keyed by the request id."""

import dagster as dg

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.defs.predict.jobs import predict
from viral_pipeline.defs.resources import AppDatabase
from viral_pipeline.observability import get_logger

log = get_logger(__name__)

# Dagster's sensor daemon loops at most every 5 s whatever this says; 1 asks for every loop.
PREDICTION_SENSOR_INTERVAL_S = 1


class PredictionSensorLimits(dg.ConfigurableResource):
    max_runs_per_tick: int = 50


@dg.sensor(
    job=predict,
    minimum_interval_seconds=PREDICTION_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launch one predict run per queued request (run_key = request id), a capped batch per tick.",
)
def prediction_requests(context: dg.SensorEvaluationContext, app_db: AppDatabase,
                        prediction_limits: PredictionSensorLimits) -> dg.SensorResult:
    from viral_pipeline.store.predictions import queued_after

    last_id = int(context.cursor or 0)
    queued = queued_after(app_db.engine(), last_id, prediction_limits.max_runs_per_tick)
    requests = [
        dg.RunRequest(
            # Dagster skips a run_key it has seen: a request never runs twice, cursor reset or not.
            run_key=request_id,
            run_config={**JSON_RUN_LOGS, "ops": {"normalize": {"config": {"request_id": request_id}}}},
            tags={"request_id": request_id},
        )
        for _, request_id in queued
    ]
    cursor = str(queued[-1][0]) if queued else str(last_id)
    if requests:
        log.info("sensor tick", sensor="prediction_requests", runs_requested=len(requests), cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
