"""What predictions cost, from the per-stage records of the predict runs (`prediction_stages`).

Sums run inside the database (GROUP BY), on SQLite and PostgreSQL alike; a day is a UTC
calendar day of `recorded_at`. Stages without a provider (rules, trends, ml, ...) are our own
compute and count under the provider "internal". By caller, a request's cost goes to the API
caller that made it; requests stored before callers were recorded count under caller null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from viral_pipeline.store.schema import prediction_requests, prediction_stages

INTERNAL_PROVIDER = "internal"

# The UTC calendar day of recorded_at. SQLite holds UTC wall-clock text; PostgreSQL a timestamptz,
# whose date would otherwise follow the session's time zone.
_UTC_DAY = {
    "sqlite": "date(prediction_stages.recorded_at)",
    "postgresql": "CAST(timezone('UTC', prediction_stages.recorded_at) AS DATE)",
}


@dataclass(frozen=True)
class CostSummary:
    start: date
    end: date
    total_cost_cents: float
    requests: int
    stage_records: int
    by_day: list[dict[str, Any]] = field(default_factory=list)
    by_stage: list[dict[str, Any]] = field(default_factory=list)
    by_provider: list[dict[str, Any]] = field(default_factory=list)
    by_caller: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cost_per_request_cents(self) -> float:
        return self.total_cost_cents / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "totals": {
                "cost_cents": self.total_cost_cents,
                "requests": self.requests,
                "stage_records": self.stage_records,
                "cost_per_request_cents": self.cost_per_request_cents,
            },
            "by_day": self.by_day,
            "by_stage": self.by_stage,
            "by_provider": self.by_provider,
            "by_caller": self.by_caller,
        }


def _measures() -> list[Any]:
    c = prediction_stages.c
    return [
        sa.func.coalesce(sa.func.sum(c.cost_cents), 0.0).label("cost_cents"),
        sa.func.count(sa.distinct(c.request_id)).label("requests"),
        sa.func.count().label("stage_records"),
        sa.func.coalesce(sa.func.sum(c.duration_ms), 0.0).label("duration_ms"),
    ]


def _row(key: str, value: Any, row: Any) -> dict[str, Any]:
    return {
        key: value,
        "cost_cents": round(float(row.cost_cents), 6),
        "requests": int(row.requests),
        "stage_records": int(row.stage_records),
        "duration_ms": round(float(row.duration_ms), 2),
    }


def cost_summary(engine: sa.Engine, start: date, end: date) -> CostSummary:
    """Cost and counts for the UTC days start..end (both included), by day, stage and provider."""
    c = prediction_stages.c
    window = sa.and_(
        c.recorded_at >= datetime.combine(start, time(), tzinfo=UTC),
        c.recorded_at < datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )
    day: sa.ColumnElement[Any] = sa.literal_column(_UTC_DAY[engine.dialect.name]).label("day")
    provider = sa.func.coalesce(c.provider, INTERNAL_PROVIDER).label("provider")
    with engine.connect() as connection:
        total = connection.execute(sa.select(*_measures()).where(window)).one()
        days = {
            str(row.day)[:10]: row
            for row in connection.execute(sa.select(day, *_measures()).where(window).group_by(day))
        }
        stages = connection.execute(
            sa.select(c.stage, *_measures()).where(window).group_by(c.stage).order_by(c.stage)
        ).all()
        providers = connection.execute(
            sa.select(provider, *_measures()).where(window).group_by(provider).order_by(provider)
        ).all()
        caller = prediction_requests.c.caller
        callers = connection.execute(
            sa.select(caller, *_measures())
            .select_from(
                prediction_stages.outerjoin(
                    prediction_requests, prediction_requests.c.request_id == c.request_id
                )
            )
            .where(window)
            .group_by(caller)
            .order_by(caller.is_(None), caller)
        ).all()
    by_day = []
    for offset in range((end - start).days + 1):  # every day of the range, so a plot has no gaps
        key = (start + timedelta(days=offset)).isoformat()
        row = days.get(key)
        by_day.append(
            _row("day", key, row)
            if row is not None
            else {
                "day": key,
                "cost_cents": 0.0,
                "requests": 0,
                "stage_records": 0,
                "duration_ms": 0.0,
            }
        )
    return CostSummary(
        start=start,
        end=end,
        total_cost_cents=round(float(total.cost_cents), 6),
        requests=int(total.requests),
        stage_records=int(total.stage_records),
        by_day=by_day,
        by_stage=[_row("stage", row.stage, row) for row in stages],
        by_provider=[_row("provider", row.provider, row) for row in providers],
        by_caller=[_row("caller", row.caller, row) for row in callers],
    )
