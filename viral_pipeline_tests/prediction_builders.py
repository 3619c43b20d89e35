"""Builders for prediction and outcome tests: predictions run through the sensor and the predict
job, succeeded predictions and scraped days written through the store."""

from __future__ import annotations

from datetime import date
from typing import Any

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.engine.model.provenance import Provenance
from viral_pipeline.engine.prediction import PredictionResult
from viral_pipeline.engine.world.simulated import generate_day
from viral_pipeline.store.predictions import (
    create_request,
    get_request,
    mark_running,
    mark_succeeded,
)
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.api_callers import CALLER

# What a model trained on the bundled simulated set records; it serves the simulated source.
BUNDLED = Provenance(
    dataset="bundled",
    source="simulated",
    first_posted_day="2026-01-01",
    last_posted_day="2026-01-30",
    rows=14_768,
)

PAYLOAD: dict[str, Any] = {
    "caption": "The 10-minute pasta #food #recipe",
    "hashtags": ["easyrecipe"],
    "sound": {"name": "golden dreams", "original": False},
    "duration_s": 18,
    "posted_at": "2026-11-20T16:00:00Z",
    "creator": {"handle": "chef", "followers": 25000, "verified": False},
    "hook": None,
}


def run_predictions(
    defs, instance, engine: sa.Engine, payloads: list[dict[str, Any]]
) -> list[tuple[dict, Any]]:
    """Queue the requests, tick the `prediction_requests` sensor (it caps runs per tick), run each
    predict run in-process; (stored result, run) per request, in order."""
    from viral_pipeline.defs.predict.sensors import prediction_requests

    ids = [create_request(engine, payload) for payload in payloads]
    resources = {key: defs.resources[key] for key in ("app_db", "prediction_limits")}
    requests, cursor = [], None
    while len(requests) < len(ids):
        tick = prediction_requests.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        )
        assert tick.run_requests, "the sensor stopped before every request had a run"
        requests, cursor = requests + list(tick.run_requests), tick.cursor
    assert [r.run_key for r in requests] == ids
    runs = []
    for run_request in requests:
        run = defs.resolve_job_def("predict").execute_in_process(
            run_config=run_request.run_config, instance=instance, tags=run_request.tags
        )
        assert run.success
        runs.append(run)
    return [(get_request(engine, request_id)["result"], run) for request_id, run in zip(ids, runs)]


def succeeded_prediction(
    engine: sa.Engine,
    payload: dict[str, Any] | None = None,
    *,
    score: float = 0.3,
    caller: str | None = CALLER,
) -> str:
    """A prediction request that went queued → running → succeeded, as the predict job leaves it;
    made by `caller` (by default the caller `api_client` calls as)."""
    request_id = create_request(engine, dict(payload or PAYLOAD), caller=caller)
    mark_running(engine, request_id, "test-run")
    mark_succeeded(
        engine,
        request_id,
        PredictionResult(
            viral_probability=score,
            score=score,
            confidence="LOW",
            is_calibrated=False,
            ml_score=None,
            model_version=None,
            signals={},
            notes=[],
            stages=[],
            cost_cents=0.0,
            duration_ms=0.0,
        ),
    )
    return request_id


def scrape_simulated_day(engine: sa.Engine, day: date, n: int = 400) -> None:
    """One simulated day in scraped_videos, as the scrape job stores it."""
    ingest_items(engine, generate_day(day, n).items, source="simulated", batch=f"test:{day}")


def asset_resources(url: str) -> dict[str, Any]:
    """The resources of the update, outcome and training assets, from the current settings, on
    the application database at `url`."""
    from viral_pipeline.defs.predict.resources import ModelServing
    from viral_pipeline.defs.resources import AppDatabase, MlflowTracking, ModelPolicy, Scraper
    from viral_pipeline.settings import get_settings

    settings = get_settings()
    return {
        "app_db": AppDatabase(url=url),
        "scraper": Scraper.from_settings(settings),
        "model_policy": ModelPolicy.from_settings(settings),
        "model_serving": ModelServing.from_settings(settings),
        "mlflow_tracking": MlflowTracking.from_settings(settings),
    }
