"""`POST /api/analyze` (202, queued) and `GET /api/predictions/{id}` (with an optional long poll).

The API only stores the request: the `prediction_requests` sensor turns it into one Dagster run
of `predict`, which writes the result back to the same row.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from viral_pipeline.api.deps import DbEngine
from viral_pipeline.engine.calibration.platt import ProbabilitySource
from viral_pipeline.engine.inputs.request import AnalyzeRequest
from viral_pipeline.engine.model.provenance import Provenance
from viral_pipeline.observability import get_logger
from viral_pipeline.store.predictions import FAILED, SUCCEEDED, create_request, get_request

router = APIRouter(prefix="/api", tags=["predictions"])
log = get_logger("viral_pipeline.api.predictions")

MAX_WAIT_S = 30.0
POLL_INTERVAL_S = 0.25


class Queued(BaseModel):
    request_id: str
    status: Literal["queued"]
    status_url: str


class SignalOut(BaseModel):
    score: float | None
    weight: float
    available: bool
    reason: str | None
    cost_cents: float


class PredictionResult(BaseModel):
    # A calibrated probability, or null with probability_note saying why (older results: the raw score).
    viral_probability: float | None
    probability_source: ProbabilitySource | None = None
    probability_note: str | None = None
    # The 0..100 weighted score of the available signals: a ranking, not a probability.
    score: float
    confidence: Literal["HIGH", "MEDIUM", "LOW"]
    is_calibrated: bool
    # The aggregate before calibration and the Platt version applied (absent in older results).
    raw_probability: float | None = None
    platt_version: str | None = None
    ml_score: float | None
    model_version: str | None
    # What the champion was trained on (null: no champion, or published before this was recorded),
    # and whether it was trained on another scraper source than the configured one.
    model_trained_on: Provenance | None = None
    model_source_mismatch: bool = False
    signals: dict[str, SignalOut]
    notes: list[str]
    stages: list[dict[str, Any]]
    cost_cents: float
    duration_ms: float


class PredictionStatus(BaseModel):
    request_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    result: PredictionResult | None
    error: str | None


@router.post(
    "/analyze",
    status_code=202,
    response_model=Queued,
    summary="Queue a prediction request",
    responses={413: {"description": "body too large"}, 422: {"description": "invalid field"}},
)
def analyze(body: AnalyzeRequest, request: Request, engine: DbEngine) -> Queued:
    request_id = create_request(engine, body.model_dump(mode="json"))
    log.info("prediction queued", request_id=request_id)
    return Queued(
        request_id=request_id,
        status="queued",
        status_url=str(request.url_for("prediction_status", request_id=request_id)),
    )


def _status(row: dict[str, Any]) -> PredictionStatus:
    return PredictionStatus(
        request_id=row["request_id"], status=row["status"], result=row["result"], error=row["error"]
    )


@router.get(
    "/predictions/{request_id}",
    response_model=PredictionStatus,
    name="prediction_status",
    summary="A prediction's status and result",
    responses={404: {"description": "unknown request id"}},
)
async def prediction_status(
    request_id: str,
    engine: DbEngine,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_S, description="seconds to wait for the run to end")
    ] = 0,
) -> PredictionStatus:
    deadline = time.monotonic() + wait
    while True:
        row = await run_in_threadpool(get_request, engine, request_id)
        if row is None:
            raise HTTPException(404, f"no prediction request {request_id}")
        if row["status"] in (SUCCEEDED, FAILED) or time.monotonic() >= deadline:
            return _status(row)
        await asyncio.sleep(min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0)))
