"""`GET /api/admin/costs`: prediction spend by day, stage, provider and caller, for operators.

Guarded by `Authorization: Bearer <ADMIN_TOKEN>` (`api.deps.require_admin_token`, compared in
constant time). With no token configured the admin endpoints are off (503), rather than open.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from viral_pipeline.api.deps import DbEngine, require_admin_token
from viral_pipeline.api.responses import ADMIN_ERRORS
from viral_pipeline.observability import get_logger
from viral_pipeline.store.costs import cost_summary

# Every admin route requires the admin token.
router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_admin_token)])
log = get_logger("viral_pipeline.api.admin")

MAX_RANGE_DAYS = 366  # a year of daily rows is plenty for one answer
DEFAULT_RANGE_DAYS = 7
# The days a report may name: costs are recorded this century, and the bounds keep the range
# arithmetic (the default start, the day after `end`) far from the calendar's first and last day.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2099, 12, 31)
_BOUNDS = f"between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}"
# Those bounds as the OpenAPI document can show them on a date's text: the years 20xx.
_DAY_PATTERN = {"pattern": "^20[0-9]{2}-"}


class CostTotals(BaseModel):
    cost_cents: float
    requests: int
    stage_records: int
    cost_per_request_cents: float


class CostRow(BaseModel):
    cost_cents: float
    requests: int
    stage_records: int
    duration_ms: float


class DayCost(CostRow):
    day: date


class StageCost(CostRow):
    stage: str


class ProviderCost(CostRow):
    provider: str


class CallerCost(CostRow):
    caller: str | None = Field(
        description="the API caller (API_TOKENS name); null for requests stored before callers"
    )


class CostReport(BaseModel):
    start: date
    end: date
    totals: CostTotals
    by_day: list[DayCost]
    by_stage: list[StageCost]
    by_provider: list[ProviderCost]
    by_caller: list[CallerCost]


def _invalid(field: str, message: str) -> HTTPException:
    # The shape of FastAPI's own validation errors, so clients parse one format.
    return HTTPException(422, [{"type": "value_error", "loc": ["query", field], "msg": message}])


@router.get(
    "/costs",
    response_model=CostReport,
    summary="Prediction cost by day, stage, provider and caller",
    responses={**ADMIN_ERRORS, 422: {"description": f"invalid date range (days lie {_BOUNDS})"}},
)
async def costs(
    engine: DbEngine,
    start: Annotated[
        date | None,
        Query(
            description=f"first UTC day, {_BOUNDS} "
            f"(default: {DEFAULT_RANGE_DAYS - 1} days before end)",
            json_schema_extra=_DAY_PATTERN,
        ),
    ] = None,
    end: Annotated[
        date | None,
        Query(
            description=f"last UTC day, included, {_BOUNDS}, not before start, at most "
            f"{MAX_RANGE_DAYS} days after it (default: today)",
            json_schema_extra=_DAY_PATTERN,
        ),
    ] = None,
) -> dict[str, Any]:
    for field, day in (("start", start), ("end", end)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise _invalid(field, f"{field} must lie {_BOUNDS}")
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if end < start:
        raise _invalid("end", "end must not be before start")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise _invalid("end", f"the range spans at most {MAX_RANGE_DAYS} days")
    summary = await run_in_threadpool(cost_summary, engine, start, end)
    log.info(
        "costs served",
        start=start.isoformat(),
        end=end.isoformat(),
        total_cost_cents=summary.total_cost_cents,
    )
    return summary.as_dict()
