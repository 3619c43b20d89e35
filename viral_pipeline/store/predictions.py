"""Prediction requests and their per-stage cost records.

A request moves queued → running → succeeded | failed. Each transition is one conditional
UPDATE, so a retried run (Dagster run retries) or a late duplicate never produces a second
prediction: the result is written once, per request id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.prediction import PredictionResult, StageRecord
from viral_pipeline.store import queues
from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.schema import prediction_requests, prediction_stages


def create_request(engine: sa.Engine, payload: dict[str, Any], caller: str | None = None) -> str:
    """Queue a prediction owned by `caller` (the API caller's name; None from inside the pipeline)."""
    return queues.queue_request(engine, prediction_requests, payload=payload, caller=caller)


def request_fingerprint(payload: dict[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON (sorted keys, no spaces): the same validated
    request gives the same fingerprint however its body was spelled or its keys ordered."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeyReused(Exception):
    """The caller's key already belongs to a request with another body."""


@dataclass(frozen=True)
class KeyedRequest:
    request_id: str
    replayed: bool  # True when the key already had this request: nothing new was stored


def keyed_request_id(engine: sa.Engine, caller: str, idempotency_key: str) -> str | None:
    """The request the caller's key already names, or None."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(prediction_requests.c.request_id).where(
                prediction_requests.c.caller == caller,
                prediction_requests.c.idempotency_key == idempotency_key,
            )
        ).scalar()


def create_keyed_request(
    engine: sa.Engine, payload: dict[str, Any], caller: str, idempotency_key: str
) -> KeyedRequest:
    """Queue the request under the caller's key, or answer the request the key already names.

    One INSERT ... ON CONFLICT DO NOTHING on the (caller, key) unique index: of two POSTs with
    one key at once, one inserts and the other finds its row (PostgreSQL makes the second wait
    for the first to commit; SQLite runs one writer at a time). Raises IdempotencyKeyReused when
    the stored request had another fingerprint: then nothing is stored.
    """
    fingerprint = request_fingerprint(payload)
    request_id, insert = queues.queued_insert(
        engine,
        prediction_requests,
        payload=payload,
        caller=caller,
        idempotency_key=idempotency_key,
        payload_sha256=fingerprint,
    )
    t = prediction_requests
    with engine.begin() as connection:
        if connection.execute(
            insert.on_conflict_do_nothing(index_elements=["caller", "idempotency_key"])
        ).rowcount:
            return KeyedRequest(request_id, replayed=False)
        stored = connection.execute(
            sa.select(t.c.request_id, t.c.payload_sha256).where(
                t.c.caller == caller, t.c.idempotency_key == idempotency_key
            )
        ).one()
    if stored.payload_sha256 != fingerprint:
        raise IdempotencyKeyReused(stored.request_id)
    return KeyedRequest(stored.request_id, replayed=True)


def get_request(
    engine: sa.Engine, request_id: str, caller: str | None = None
) -> dict[str, Any] | None:
    """The request, or None when unknown or (with `caller`) not that caller's."""
    return queues.request_row(engine, prediction_requests, request_id, caller)


def mark_running(engine: sa.Engine, request_id: str, dagster_run_id: str) -> bool:
    """queued (or failed, on a run retry) → running. False when the request already succeeded."""
    return queues.start(
        engine,
        prediction_requests,
        request_id,
        dagster_run_id,
        attempts=prediction_requests.c.attempts + 1,
        started_at=datetime.now(UTC),
    )


def mark_succeeded(engine: sa.Engine, request_id: str, result: PredictionResult) -> bool:
    """Write the result once: a second attempt finding it succeeded changes nothing."""
    return queues.succeed(
        engine, prediction_requests, request_id, result=result.model_dump(mode="json")
    )


def mark_failed(engine: sa.Engine, request_id: str, error: str) -> bool:
    return queues.fail(engine, prediction_requests, request_id, error)


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
