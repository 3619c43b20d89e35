"""Versioned parameters fitted on outcomes (Platt parameters, learned signal weights): stored by
the asset that publishes a gated fit, read by every predict run; the newest `fitted_at` serves.

Every such table has the same columns: a unique `version`, the `params` document, the
`evaluation_tier` of the outcomes fitted on and an indexed `fitted_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.timeutil import as_utc


@dataclass(frozen=True)
class StoredVersion:
    version: str
    params: Any  # the JSON document as stored: validated by the reader, never trusted here
    evaluation_tier: str
    fitted_at: datetime


def save_version(
    engine: sa.Engine, table: sa.Table, version: str, params: dict, tier: str, fitted_at: datetime
) -> None:
    """Store a version; from the next prediction on it serves (the newest fitted_at wins)."""
    with engine.begin() as connection:
        connection.execute(
            sa.insert(table).values(
                version=version, params=params, evaluation_tier=tier, fitted_at=fitted_at
            )
        )


def latest_version(engine: sa.Engine, table: sa.Table) -> StoredVersion | None:
    """The serving version: one query on the fitted_at index."""
    query = (
        sa.select(table.c.version, table.c.params, table.c.evaluation_tier, table.c.fitted_at)
        .order_by(table.c.fitted_at.desc(), table.c.id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return StoredVersion(row.version, row.params, row.evaluation_tier, as_utc(row.fitted_at))


def has_version(engine: sa.Engine, table: sa.Table, version: str) -> bool:
    with engine.connect() as connection:
        query = sa.select(table.c.id).where(table.c.version == version)
        return connection.execute(query).first() is not None
