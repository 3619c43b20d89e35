"""Prediction requests and their per-stage cost records.

A request moves queued → running → succeeded | failed. Each transition is one conditional
UPDATE, so a retried run (Dagster run retries) or a late duplicate never produces a second
prediction: the result is written once, per request id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.prediction import PredictionResult, StageRecord
from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.queues import FAILED, QUEUED, RUNNING, SUCCEEDED
from viral_pipeline.store.schema import prediction_requests, prediction_stages


def create_request(engine: sa.Engine, payload: dict[str, Any]) -> str:
    request_id = str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(
            sa.insert(prediction_requests).values(
                request_id=request_id, payload=payload, status=QUEUED, created_at=datetime.now(UTC)
            )
        )
    return request_id


def get_request(engine: sa.Engine, request_id: str) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(prediction_requests).where(prediction_requests.c.request_id == request_id)
        ).first()
    return dict(row._mapping) if row else None


def mark_running(engine: sa.Engine, request_id: str, dagster_run_id: str) -> bool:
    """queued (or failed, on a run retry) → running. False when the request already succeeded."""
    with engine.begin() as connection:
        return bool(
            connection.execute(
                sa.update(prediction_requests)
                .where(
                    prediction_requests.c.request_id == request_id,
                    prediction_requests.c.status.in_([QUEUED, RUNNING, FAILED]),
                )
                .values(
                    status=RUNNING,
                    dagster_run_id=dagster_run_id,
                    attempts=prediction_requests.c.attempts + 1,
                    started_at=datetime.now(UTC),
                    error=None,
                )
            ).rowcount
        )


def mark_succeeded(engine: sa.Engine, request_id: str, result: PredictionResult) -> bool:
    """Write the result once: a second attempt finding it succeeded changes nothing."""
    with engine.begin() as connection:
        return bool(
            connection.execute(
                sa.update(prediction_requests)
                .where(
                    prediction_requests.c.request_id == request_id,
                    prediction_requests.c.status != SUCCEEDED,
                )
                .values(
                    status=SUCCEEDED,
                    result=result.model_dump(mode="json"),
                    error=None,
                    finished_at=datetime.now(UTC),
                )
            ).rowcount
        )


def mark_failed(engine: sa.Engine, request_id: str, error: str) -> bool:
    with engine.begin() as connection:
        return bool(
            connection.execute(
                sa.update(prediction_requests)
                .where(
                    prediction_requests.c.request_id == request_id,
                    prediction_requests.c.status != SUCCEEDED,
                )
                .values(status=FAILED, error=error[:2000], finished_at=datetime.now(UTC))
            ).rowcount
        )


def record_stages(engine: sa.Engine, request_id: str, stages: list[StageRecord]) -> None:
    """Upsert one row per (request, stage): a retried run rewrites, never duplicates."""
    if not stages:
        return
    now = datetime.now(UTC)
    rows = [
        {"request_id": request_id, **stage.model_dump(), "recorded_at": now} for stage in stages
    ]
    insert = dialect_insert(engine, prediction_stages)
    statement = insert.on_conflict_do_update(
        index_elements=["request_id", "stage"],
        set_={
            name: insert.excluded[name]
            for name in (
                "provider",
                "duration_ms",
                "cost_cents",
                "input_tokens",
                "output_tokens",
                "recorded_at",
            )
        },
    )
    with engine.begin() as connection:
        connection.execute(statement, rows)
