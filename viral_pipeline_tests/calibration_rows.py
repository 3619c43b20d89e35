"""Rows for calibration tests: succeeded predictions and their outcomes, written straight to the
tables (the outcomes API writes that table too; these tests read it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa

from viral_pipeline.store.schema import outcomes, prediction_requests

LABEL_DEFINITION = "plays strictly above the 90th percentile of the posting day (UTC)"


def insert_prediction(
    engine: sa.Engine,
    raw: float | None,
    *,
    served: float | None = None,
    model_version="1",
    platt_version=None,
    created_at: datetime | None = None,
    status="succeeded",
) -> str:
    request_id = str(uuid.uuid4())
    result = {
        "viral_probability": served if served is not None else raw,
        "model_version": model_version,
        "platt_version": platt_version,
        "is_calibrated": platt_version is not None,
    }
    if raw is not None:
        result["raw_probability"] = raw
    with engine.begin() as connection:
        connection.execute(
            sa.insert(prediction_requests).values(
                request_id=request_id,
                payload={},
                status=status,
                result=result if status == "succeeded" else None,
                created_at=created_at or datetime.now(UTC),
            )
        )
    return request_id


def insert_outcome(
    engine: sa.Engine, request_id: str, is_viral: bool, *, tier: str = "7d", views: int = 1000
) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(outcomes).values(
                request_id=request_id,
                evaluation_tier=tier,
                views=views,
                is_viral=bool(is_viral),
                viral_threshold_views=250_000.0,
                label_definition=LABEL_DEFINITION,
                source="api",
                observed_at=now,
                updated_at=now,
            )
        )


def miscalibrated_pairs(n: int, seed: int = 0, *, slope: float = -12.0, intercept: float = 3.0):
    """Raw probabilities around 0.2..0.6 whose true rate is a steep sigmoid of them (base rate ~0.15):
    far from calibrated as they stand, and exactly what Platt's sigmoid can fix."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.15, 0.6, n)
    truth = 1 / (1 + np.exp(slope * raw + intercept + 3.0))
    return raw.round(6), rng.random(n) < truth


def insert_pairs(engine: sa.Engine, raw, labels, **kwargs) -> list[str]:
    ids = []
    for r, y in zip(raw, labels):
        request_id = insert_prediction(engine, float(r), **kwargs)
        insert_outcome(engine, request_id, bool(y))
        ids.append(request_id)
    return ids
