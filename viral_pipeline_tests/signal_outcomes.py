"""Simulated signal scores with outcomes, for the learned signal weights' tests, and succeeded
predictions carrying them, written straight to the tables as `persist` leaves them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa

from viral_pipeline.engine.signals.aggregate import SIGNALS
from viral_pipeline.engine.signals.learned_weights_fit import fixed_raw_probabilities
from viral_pipeline.settings import Settings
from viral_pipeline.store.schema import prediction_requests
from viral_pipeline_tests.calibration_rows import insert_outcome

FIXED = Settings().signal_weights  # the configured defaults: 0.15 / 0.15 / 0.40 / 0.15 / 0.15


def signal_outcomes(n: int, seed: int = 0, *, truth: str = "ml") -> tuple[np.ndarray, np.ndarray]:
    """(scores (n, 5) with NaN where unavailable, outcomes). No judge has a key; the ML signal is
    down for a fifth of the predictions. `truth` says what the outcome follows:

    - "ml": the ML score alone (rules and trends are noise), which the fixed weights dilute, so
      a combination learned from outcomes beats them;
    - "fixed": Platt's sigmoid of the fixed weights' aggregate itself, so the fixed weights
      calibrated by Platt are the right model and learning ten coefficients cannot do better.
    """
    rng = np.random.default_rng(seed)
    scores = np.full((n, len(SIGNALS)), np.nan)
    scores[:, 0] = rng.uniform(20, 90, n)  # rules
    scores[:, 1] = rng.uniform(0, 100, n)  # trends
    scores[:, 2] = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 100, n))  # ml
    if truth == "ml":
        logit = np.where(np.isnan(scores[:, 2]), -2.2, -4.5 + 5.0 * scores[:, 2] / 100)
    elif truth == "fixed":
        logit = -5.0 + 6.0 * fixed_raw_probabilities(scores, FIXED)
    else:
        raise ValueError(f"unknown truth {truth!r}")
    return scores.round(3), rng.random(n) < 1 / (1 + np.exp(-logit))


def stored_signals(row: np.ndarray) -> dict[str, dict]:
    """A result's `signals` as persist stores them (weights left at 0: the fits never read them)."""
    return {
        str(name): {
            "score": None if np.isnan(score) else float(score),
            "weight": 0.0,
            "available": not np.isnan(score),
            "reason": None if not np.isnan(score) else "unavailable",
            "cost_cents": 0.0,
        }
        for name, score in zip(SIGNALS, row)
    }


def insert_signal_outcomes(
    engine: sa.Engine, scores: np.ndarray, labels, *, tier="7d"
) -> list[str]:
    """One succeeded prediction per row of scores with its outcome of `tier`."""
    raw = fixed_raw_probabilities(scores, FIXED)
    ids = []
    for row, r, label in zip(scores, raw, labels):
        request_id = str(uuid.uuid4())
        result = {
            "viral_probability": None,
            "raw_probability": float(r),
            "model_version": "1",
            "signals": stored_signals(row),
        }
        with engine.begin() as connection:
            connection.execute(
                sa.insert(prediction_requests).values(
                    request_id=request_id,
                    payload={},
                    status="succeeded",
                    result=result,
                    created_at=datetime.now(UTC),
                )
            )
        insert_outcome(engine, request_id, bool(label), tier=tier)
        ids.append(request_id)
    return ids
