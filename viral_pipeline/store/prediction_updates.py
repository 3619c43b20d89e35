"""Updated predictions after early views: one row per (request, tier), upserted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.model.early_views import UPDATE_TIERS
from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.schema import prediction_updates


def upsert_update(
    engine: sa.Engine,
    *,
    request_id: str,
    evaluation_tier: str,
    viral_probability_7d: float,
    model_version: str,
    computed_at: datetime,
) -> None:
    """Store the update of a prediction at a tier; a recomputation replaces it."""
    values = {
        "request_id": request_id,
        "evaluation_tier": evaluation_tier,
        "viral_probability_7d": float(viral_probability_7d),
        "model_version": str(model_version),
        "computed_at": computed_at,
    }
    insert = dialect_insert(engine, prediction_updates)
    statement = insert.values(**values).on_conflict_do_update(
        index_elements=["request_id", "evaluation_tier"],
        set_={
            name: insert.excluded[name]
            for name in values
            if name not in ("request_id", "evaluation_tier")
        },
    )
    with engine.begin() as connection:
        connection.execute(statement)


def updates_of(engine: sa.Engine, request_id: str) -> list[dict[str, Any]]:
    """The request's updates, 24 h first: tier, viral_probability_7d, model_version, computed_at."""
    u = prediction_updates.c
    order = sa.case({str(tier): i for i, tier in enumerate(UPDATE_TIERS)}, value=u.evaluation_tier)
    query = (
        sa.select(
            u.evaluation_tier.label("tier"), u.viral_probability_7d, u.model_version, u.computed_at
        )
        .where(u.request_id == request_id)
        .order_by(order)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
