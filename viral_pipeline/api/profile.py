"""`PATCH /api/profile` (202: queued, or the caller's unfinished request for the handle) and
`GET /api/profile/{id}`.

The API only stores the handle: the `profile_requests` sensor turns the row into one
`scrape_creator_profile` run, which writes the profile into `creators` and the outcome back here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from viral_pipeline.api.deps import Caller, DbEngine, RequestId, require_caller
from viral_pipeline.api.limits import LimitGroup, rate_limit
from viral_pipeline.api.responses import BODY_ERRORS, CALLER_ERRORS, RATE_LIMITED, problem
from viral_pipeline.engine.inputs.profiles import ProfilePatch
from viral_pipeline.engine.timeutil import as_utc as _utc
from viral_pipeline.observability import get_logger
from viral_pipeline.store.profiles import create_profile_request, get_profile_request
from viral_pipeline.store.queues import RequestStatus

# Every route needs a caller's token (a profile scrape is a paid Apify run); a request's status
# is shown to the caller that made it only.
router = APIRouter(
    prefix="/api",
    tags=["profiles"],
    dependencies=[Depends(require_caller)],
    responses={**CALLER_ERRORS, **RATE_LIMITED},
)
log = get_logger("viral_pipeline.api.profile")


# Shaped like POST /api/analyze's answer, plus the handle and whether the caller had already
# queued it: each endpoint declares its own response model and route, since each is a public
# contract of its own.
class ProfileQueued(BaseModel):
    request_id: str
    handle: str
    status: Literal[RequestStatus.QUEUED, RequestStatus.RUNNING]
    status_url: str
    duplicate: bool = Field(
        description="true when this caller already had a request for the handle queued or "
        "running: that request is answered, and no second scrape is queued"
    )


class ProfileRequestStatus(BaseModel):
    request_id: str
    handle: str
    status: RequestStatus
    error: str | None
    created_at: datetime
    finished_at: datetime | None


@router.patch(
    "/profile",
    dependencies=[Depends(rate_limit(LimitGroup.PROFILE))],
    status_code=202,
    response_model=ProfileQueued,
    summary="Queue a creator profile scrape, or answer the caller's unfinished one for the handle",
    responses=BODY_ERRORS,
)
def patch_profile(
    body: ProfilePatch, request: Request, engine: DbEngine, caller: Caller
) -> ProfileQueued:
    queued = create_profile_request(
        engine, body.tiktok_handle, body.model_dump(mode="json"), caller=caller
    )
    log.info(
        "profile scrape already queued" if queued.duplicate else "profile scrape queued",
        request_id=queued.request_id,
        handle=queued.handle,
        status=str(queued.status),
    )
    return ProfileQueued(
        request_id=queued.request_id,
        handle=queued.handle,
        status=queued.status,
        status_url=str(request.url_for("profile_request_status", request_id=queued.request_id)),
        duplicate=queued.duplicate,
    )


@router.get(
    "/profile/{request_id}",
    dependencies=[Depends(rate_limit(LimitGroup.READS))],
    response_model=ProfileRequestStatus,
    name="profile_request_status",
    summary="A profile scrape's status",
    responses={404: problem("unknown request id, or another caller's")},
)
def profile_request_status(
    request_id: RequestId, engine: DbEngine, caller: Caller
) -> ProfileRequestStatus:
    row = get_profile_request(engine, request_id, caller)
    if row is None:
        raise HTTPException(404, f"no profile request {request_id}")
    return ProfileRequestStatus(
        request_id=row["request_id"],
        handle=row["handle"],
        status=row["status"],
        error=row["error"],
        created_at=_utc(row["created_at"]),
        finished_at=_utc(row["finished_at"]) if row["finished_at"] else None,
    )
