"""The calibration loop's tables: (raw probability, outcome) pairs, Platt versions, audits.

Predictions keep their raw (uncalibrated) aggregate probability in their result document
(`raw_probability`, written by the `persist` op), so the pairs are read from the JSON result in
Python: the same code on SQLite and PostgreSQL. Predictions made before that field existed have
no raw probability and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.calibration.platt import PlattParams
from viral_pipeline.engine.timeutil import as_utc as _utc
from viral_pipeline.store.queues import SUCCEEDED
from viral_pipeline.store.schema import (
    calibration_audits,
    outcomes,
    platt_calibrations,
    prediction_requests,
)
from viral_pipeline.store.versioned_params import (
    StoredVersion,
    has_version,
    latest_version,
    save_version,
)


@dataclass(frozen=True)
class CalibrationPair:
    request_id: str
    raw_probability: float
    served_probability: float | None  # None: the prediction had no calibrated probability to give
    is_viral: bool
    model_version: str | None
    platt_version: str | None
    created_at: datetime


StoredPlatt = StoredVersion


def predictions_with_outcomes(
    engine: sa.Engine, tier: str, *, since: datetime | None = None
) -> list[sa.Row]:
    """(request_id, result, created_at, is_viral) of the succeeded predictions with an outcome of
    `tier`, oldest first (optionally created since): what the fits on outcomes read."""
    query = (
        sa.select(
            prediction_requests.c.request_id,
            prediction_requests.c.result,
            prediction_requests.c.created_at,
            outcomes.c.is_viral,
        )
        .join(outcomes, outcomes.c.request_id == prediction_requests.c.request_id)
        .where(outcomes.c.evaluation_tier == tier, prediction_requests.c.status == SUCCEEDED)
        .order_by(prediction_requests.c.created_at, prediction_requests.c.id)
    )
    if since is not None:
        query = query.where(prediction_requests.c.created_at >= since)
    with engine.connect() as connection:
        return list(connection.execute(query).fetchall())


def load_calibration_pairs(
    engine: sa.Engine, tier: str, *, since: datetime | None = None
) -> list[CalibrationPair]:
    """Succeeded predictions with an outcome of `tier`, oldest first (optionally created since)."""
    pairs = []
    for row in predictions_with_outcomes(engine, tier, since=since):
        result = row.result or {}
        raw = result.get("raw_probability")
        if raw is None:
            continue
        served = result.get("viral_probability", raw)
        pairs.append(
            CalibrationPair(
                request_id=row.request_id,
                raw_probability=float(raw),
                served_probability=None if served is None else float(served),
                is_viral=bool(row.is_viral),
                model_version=result.get("model_version"),
                platt_version=result.get("platt_version"),
                created_at=_utc(row.created_at),
            )
        )
    return pairs


def save_platt_params(engine: sa.Engine, params: PlattParams, tier: str) -> None:
    """Store a version; from the next prediction on it serves (the newest fitted_at wins)."""
    document = params.model_dump(mode="json")
    save_version(engine, platt_calibrations, params.version, document, tier, params.fitted_at)


def latest_platt(engine: sa.Engine) -> StoredPlatt | None:
    """The serving version: one query on the fitted_at index."""
    return latest_version(engine, platt_calibrations)


def has_platt_version(engine: sa.Engine, version: str) -> bool:
    return has_version(engine, platt_calibrations, version)


def record_audit(
    engine: sa.Engine,
    *,
    tier: str,
    window_days: int,
    n_outcomes: int,
    ece: float | None,
    ece_equal_mass: float | None,
    noise_floor: float | None,
    platt_version: str | None,
    audited_at: datetime | None = None,
) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(calibration_audits).values(
                audited_at=audited_at or datetime.now(UTC),
                evaluation_tier=tier,
                window_days=window_days,
                n_outcomes=n_outcomes,
                ece=ece,
                ece_equal_mass=ece_equal_mass,
                noise_floor=noise_floor,
                platt_version=platt_version,
            )
        )


def audits(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every recorded audit, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(calibration_audits).order_by(calibration_audits.c.id)
        ).fetchall()
    return [dict(row._mapping) for row in rows]
