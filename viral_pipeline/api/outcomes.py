"""`POST /api/outcomes` (what a predicted video did), `PATCH /api/predictions/{id}/video` (which
video it became), `GET /api/predictions/{id}/outcomes`.

Outcomes are idempotent per (request, tier): the first write answers 201, a repeat 200 and
updates the row. The viral label uses the training label's threshold (store/outcomes.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from viral_pipeline.api.deps import Caller, DbEngine, RequestId, require_caller
from viral_pipeline.api.limits import LimitGroup, rate_limit
from viral_pipeline.api.responses import (
    BODY_ERRORS,
    CALLER_ERRORS,
    RATE_LIMITED,
    Responses,
    problem,
)
from viral_pipeline.engine.calibration.outcomes import (
    TIER_AGES,
    TIKTOK_VIDEO_URL_PATTERN,
    EvaluationTier,
    prediction_posted_at,
    video_id_from_url,
)
from viral_pipeline.engine.inputs.text import LineText
from viral_pipeline.ml.early_view_updates import UpdatePolicy, update_after_outcome
from viral_pipeline.observability import get_logger
from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.store.outcomes import (
    OutcomeError,
    outcomes_of,
    set_prediction_video,
    upsert_outcome,
)
from viral_pipeline.store.queues import RequestStatus

# Every route needs a caller's token, and a caller labels only its own predictions: outcomes feed
# the calibration, so whoever learns a request id must not be able to write them.
router = APIRouter(
    prefix="/api",
    tags=["outcomes"],
    dependencies=[Depends(require_caller)],
    responses={**CALLER_ERRORS, **RATE_LIMITED},
)
log = get_logger("viral_pipeline.api.outcomes")

VideoId = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,32}$",
        description="TikTok video id (digits; a string, as 19 digits exceed a JSON number)",
    ),
]
# Strict: a JSON integer, never "24", 24.0 or true.
Count = Annotated[int, Field(ge=0, le=10**15, strict=True)]
# Conflicts the caller can resolve (wait for the prediction, scrape first, use the bound video).
_STATUS = {"unknown_request": 404, "not_succeeded": 409, "video_conflict": 409, "no_threshold": 409}


def _url_error(field: str, message: str, value: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )


class _VideoRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video_id: VideoId | None = None
    video_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=TIKTOK_VIDEO_URL_PATTERN,
        description="a TikTok video URL: https://www.tiktok.com/@handle/video/<digits>; with "
        "video_id as well, the URL's id must be video_id",
    )

    @field_validator("video_url")
    @classmethod
    def _tiktok_video_url(cls, value: str | None) -> str | None:
        if value is not None and video_id_from_url(value) is None:
            raise ValueError(
                "not a TikTok video URL (https://www.tiktok.com/@handle/video/<digits>)"
            )
        return value

    def resolved_video_id(self) -> str | None:
        """video_id, or the id in video_url; both given must agree (else 422 on video_url)."""
        if self.video_url is None:
            return self.video_id
        found = video_id_from_url(self.video_url)
        if self.video_id is not None and self.video_id != found:
            raise _url_error(
                "video_url", f"the URL's video id {found} differs from video_id", self.video_url
            )
        return found


class OutcomeIn(_VideoRef):
    """The JSON body of `POST /api/outcomes`; give the video's `video_id` or `video_url` (or both)."""

    request_id: LineText = Field(min_length=1, max_length=36)
    evaluation_tier: EvaluationTier
    views: Count
    likes: Count | None = None
    comments: Count | None = None
    shares: Count | None = None


class VideoIn(_VideoRef):
    """The JSON body of `PATCH /api/predictions/{request_id}/video`: `video_id` or `video_url`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("video_id", "video_url")
            ]
        },
    )


class OutcomeOut(BaseModel):
    request_id: str
    evaluation_tier: EvaluationTier
    video_id: str | None
    video_url: str | None
    views: int
    likes: int | None
    comments: int | None
    shares: int | None
    is_viral: bool
    viral_threshold_views: float
    label_definition: str
    source: str
    observed_at: datetime
    updated_at: datetime

    @field_validator("observed_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # SQLite hands stored times back without their zone; they were written in UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class PredictionVideoOut(BaseModel):
    request_id: str
    status: RequestStatus
    video_id: str
    video_url: str | None
    posted_at: datetime
    tiers_due_at: dict[EvaluationTier, datetime] = Field(
        description="when each evaluation tier becomes due"
    )


def _raise(error: OutcomeError) -> None:
    if error.kind == "no_video":
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body", "video_id"), "msg": str(error), "input": None}]
        ) from error
    raise HTTPException(_STATUS[error.kind], str(error)) from error


_UNKNOWN_REQUEST: Responses = {404: problem("unknown request id, or another caller's")}


@router.post(
    "/outcomes",
    dependencies=[Depends(rate_limit(LimitGroup.WRITES))],
    response_model=OutcomeOut,
    status_code=201,
    summary="Record what a predicted video did at a tier",
    responses={
        200: {
            "model": OutcomeOut,
            "description": "an existing (request, tier) outcome was updated",
        },
        409: problem("prediction not succeeded, another video bound, or no viral threshold yet"),
        **_UNKNOWN_REQUEST,
        **BODY_ERRORS,
    },
)
def record_outcome(
    body: OutcomeIn,
    response: Response,
    engine: DbEngine,
    settings: Annotated[Settings, Depends(get_settings)],
    caller: Caller,
) -> Any:
    video_id = body.resolved_video_id()
    try:
        written = upsert_outcome(
            engine,
            request_id=body.request_id,
            evaluation_tier=body.evaluation_tier,
            views=body.views,
            likes=body.likes,
            comments=body.comments,
            shares=body.shares,
            video_id=video_id,
            video_url=body.video_url,
            source="api",
            quantile=settings.viral_quantile,
            window_days=settings.label_window_days,
            caller=caller,
        )
    except OutcomeError as error:
        _raise(error)
    if not written.created:
        response.status_code = 200
    # At 24h and 72h: the updated probability of being viral at 7d (GET /api/predictions/{id}).
    update_after_outcome(
        engine,
        UpdatePolicy(
            settings.model_name,
            settings.scraper_source.value,
            settings.serve_model_from_other_source,
        ),
        body.request_id,
        body.evaluation_tier,
    )
    log.info(
        "outcome recorded",
        request_id=body.request_id,
        evaluation_tier=body.evaluation_tier,
        created=written.created,
        is_viral=written.outcome["is_viral"],
    )
    return written.outcome


@router.patch(
    "/predictions/{request_id}/video",
    dependencies=[Depends(rate_limit(LimitGroup.WRITES))],
    response_model=PredictionVideoOut,
    summary="Announce the posted video of a prediction, so evaluate_predictions collects its outcomes",
    responses={
        409: problem("outcomes are already stored for another video"),
        **_UNKNOWN_REQUEST,
        **BODY_ERRORS,
    },
)
def announce_video(request_id: RequestId, body: VideoIn, engine: DbEngine, caller: Caller) -> Any:
    video_id = body.resolved_video_id()
    if video_id is None:
        raise RequestValidationError(
            [
                {
                    "type": "missing",
                    "loc": ("body", "video_id"),
                    "msg": "video_id or video_url is required",
                    "input": None,
                }
            ]
        )
    try:
        row = set_prediction_video(engine, request_id, video_id, body.video_url, caller=caller)
    except OutcomeError as error:
        _raise(error)
    posted_at = prediction_posted_at(row["payload"], row["created_at"])
    log.info("prediction video announced", request_id=request_id, video_id=video_id)
    return PredictionVideoOut(
        request_id=request_id,
        status=row["status"],
        video_id=row["video_id"],
        video_url=row["video_url"],
        posted_at=posted_at,
        tiers_due_at={tier: posted_at + age for tier, age in TIER_AGES.items()},
    )


@router.get(
    "/predictions/{request_id}/outcomes",
    dependencies=[Depends(rate_limit(LimitGroup.READS))],
    response_model=list[OutcomeOut],
    summary="The outcomes recorded for a prediction, by tier",
    responses=_UNKNOWN_REQUEST,
)
def list_outcomes(request_id: RequestId, engine: DbEngine, caller: Caller) -> Any:
    from viral_pipeline.store.predictions import get_request

    if get_request(engine, request_id, caller) is None:
        raise HTTPException(404, f"no prediction request {request_id}")
    return outcomes_of(engine, request_id)
