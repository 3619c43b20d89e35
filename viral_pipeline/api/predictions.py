"""`POST /api/analyze` (202, queued) and `GET /api/predictions/{id}` (with an optional long poll).

The API only stores the request: the `prediction_requests` sensor turns it into one Dagster run
of `predict`, which writes the result back to the same row.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from viral_pipeline.api.deps import Caller, DbEngine, RequestId, require_caller
from viral_pipeline.api.limits import LimitGroup, rate_limit, request_time
from viral_pipeline.api.responses import (
    BODY_ERRORS,
    CALLER_ERRORS,
    INVALID_INPUT,
    RATE_LIMITED,
    problem,
)
from viral_pipeline.engine.calibration.outcomes import EvaluationTier
from viral_pipeline.engine.inputs.request import AnalyzeRequest
from viral_pipeline.engine.prediction import PredictionResult
from viral_pipeline.observability import get_logger
from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.store.prediction_updates import updates_of
from viral_pipeline.store.predictions import (
    IdempotencyKeyReused,
    create_keyed_request,
    create_request,
    get_request,
    keyed_request_id,
)
from viral_pipeline.store.queues import FAILED, SUCCEEDED, RequestStatus

# Every route needs a caller's token; a prediction is shown to the caller that made it only.
router = APIRouter(
    prefix="/api",
    tags=["predictions"],
    dependencies=[Depends(require_caller)],
    responses={**CALLER_ERRORS, **RATE_LIMITED},
)
log = get_logger("viral_pipeline.api.predictions")

MAX_WAIT_S = 30.0
POLL_INTERVAL_S = 0.25

# The header of a replayed answer (the IETF httpapi idempotency draft names the request header;
# this answer header is the one Stripe sends).
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_REUSED = (
    "Idempotency-Key already used with another request: a retry must repeat the first request "
    "exactly; send a new key for a new request"
)


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x20-\x7e]+$",
            description="optional, 1–255 printable ASCII characters chosen by the caller (a UUID "
            "does): a POST repeated with the same key and the same request answers the first "
            f"POST's 202 again, with `{REPLAYED_HEADER}: true`, and queues nothing; the same key "
            "with another request is a 422. Keys belong to the caller (its token's name).",
        ),
    ] = None,
) -> str | None:
    return key


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]


def analyze_limit(
    caller: Caller,
    engine: DbEngine,
    key: IdempotencyKey,
    settings: Annotated[Settings, Depends(get_settings)],
    now: Annotated[datetime, Depends(request_time)],
) -> None:
    """The analyze rate limit, spent by a new request only: a key the caller already used is a
    replay (or a 422), which queues nothing and so costs nothing."""
    if key is not None and keyed_request_id(engine, caller, key) is not None:
        return
    rate_limit(LimitGroup.ANALYZE)(caller, engine, settings, now)


class Queued(BaseModel):
    request_id: str
    status: Literal[RequestStatus.QUEUED]
    status_url: str


class PredictionUpdate(BaseModel):
    """The probability of being viral at 7 d, updated once the video's views at a tier were known."""

    tier: EvaluationTier = Field(
        description="the evaluation tier whose views it read: 24h or 72h (UPDATE_TIERS)"
    )
    viral_probability_7d: float = Field(
        ge=0,
        le=1,
        description="calibrated probability that the video is viral at 7 d (the training label's "
        "rule), from its views up to this tier, their growth and its pre-posting features",
    )
    model_version: str = Field(description="version of the update model that computed it")


class PredictionStatus(BaseModel):
    request_id: str
    status: RequestStatus
    result: PredictionResult | None
    error: str | None
    updates: list[PredictionUpdate] = Field(
        default_factory=list,
        description="updated predictions after early views, 24h first; empty until a 24h or 72h "
        "outcome is stored and an update model serves",
    )


@router.post(
    "/analyze",
    dependencies=[Depends(analyze_limit)],
    status_code=202,
    response_model=Queued,
    summary="Queue a prediction request",
    responses={
        **BODY_ERRORS,
        202: {
            "description": "queued; or, for a repeated Idempotency-Key, the first answer again",
            "headers": {
                REPLAYED_HEADER: {
                    "description": "`true` when this answer replays the first POST with the "
                    "same Idempotency-Key (nothing new was queued); absent otherwise",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        },
        422: {
            "description": f"{INVALID_INPUT}; or the Idempotency-Key was already used with "
            'another request (`{"detail": "<reason>"}`: nothing was stored)'
        },
    },
)
def analyze(
    body: AnalyzeRequest,
    request: Request,
    response: Response,
    engine: DbEngine,
    caller: Caller,
    key: IdempotencyKey,
) -> Queued:
    payload = body.model_dump(mode="json")
    if key is None:
        request_id = create_request(engine, payload, caller=caller)
    else:
        try:
            keyed = create_keyed_request(engine, payload, caller, key)
        except IdempotencyKeyReused:
            log.warning("idempotency key reused with another request")
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("header", "Idempotency-Key"),
                        "msg": KEY_REUSED,
                        "input": key,
                    }
                ]
            ) from None
        request_id = keyed.request_id
        if keyed.replayed:
            response.headers[REPLAYED_HEADER] = "true"
            log.info("prediction request replayed", request_id=request_id)
            return _queued(request, request_id)
    log.info("prediction queued", request_id=request_id)
    return _queued(request, request_id)


def _queued(request: Request, request_id: str) -> Queued:
    return Queued(
        request_id=request_id,
        status=RequestStatus.QUEUED,
        status_url=str(request.url_for("prediction_status", request_id=request_id)),
    )


def _status(row: dict[str, Any], updates: list[dict[str, Any]]) -> PredictionStatus:
    return PredictionStatus(
        request_id=row["request_id"],
        status=row["status"],
        result=row["result"],
        error=row["error"],
        updates=[PredictionUpdate.model_validate(update) for update in updates],
    )


@router.get(
    "/predictions/{request_id}",
    dependencies=[Depends(rate_limit(LimitGroup.READS))],
    response_model=PredictionStatus,
    name="prediction_status",
    summary="A prediction's status and result",
    responses={404: problem("unknown request id, or another caller's")},
)
async def prediction_status(
    request_id: RequestId,
    engine: DbEngine,
    caller: Caller,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_S, description="seconds to wait for the run to end")
    ] = 0,
) -> PredictionStatus:
    deadline = time.monotonic() + wait
    while True:
        row = await run_in_threadpool(get_request, engine, request_id, caller)
        if row is None:
            raise HTTPException(404, f"no prediction request {request_id}")
        if row["status"] in (SUCCEEDED, FAILED) or time.monotonic() >= deadline:
            updates = (
                await run_in_threadpool(updates_of, engine, request_id)
                if row["status"] == SUCCEEDED
                else []
            )
            return _status(row, updates)
        await asyncio.sleep(min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0)))
