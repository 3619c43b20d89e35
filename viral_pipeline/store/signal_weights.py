"""The learned signal weights' tables: each outcome with its prediction's signal scores, and the
gated versions that serve.

A stored result keeps every signal's score and availability (`signals`, written by `persist`),
whichever weights combined them, so the learned weights train on what each signal said. Results
without signals (written before they were recorded) are skipped; a signal a result does not name
counts as unavailable, as in the aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa

from viral_pipeline.engine.signals.aggregate import SIGNALS
from viral_pipeline.engine.signals.learned_weights import LearnedWeights
from viral_pipeline.engine.timeutil import as_utc
from viral_pipeline.store.calibration import predictions_with_outcomes
from viral_pipeline.store.schema import signal_weight_versions
from viral_pipeline.store.versioned_params import (
    StoredVersion,
    has_version,
    latest_version,
    save_version,
)


@dataclass(frozen=True)
class SignalOutcome:
    request_id: str
    scores: dict[str, float | None]  # per signal of SIGNALS; None: unavailable
    is_viral: bool
    model_version: str | None
    created_at: datetime

    def scores_row(self) -> list[float]:
        return [np.nan if self.scores[s] is None else float(self.scores[s]) for s in SIGNALS]  # type: ignore[arg-type]


def _scores(signals: dict) -> dict[str, float | None]:
    scores: dict[str, float | None] = {}
    for name in SIGNALS:
        signal = signals.get(name) or {}
        available = bool(signal.get("available")) and signal.get("score") is not None
        scores[name] = float(signal["score"]) if available else None
    return scores


def load_signal_outcomes(
    engine: sa.Engine, tier: str, *, since: datetime | None = None
) -> list[SignalOutcome]:
    """Succeeded predictions with their signals and an outcome of `tier`, oldest first."""
    outcomes = []
    for row in predictions_with_outcomes(engine, tier, since=since):
        result = row.result or {}
        scores = _scores(result.get("signals") or {})
        if all(score is None for score in scores.values()):
            continue  # no signal recorded: nothing to learn a combination from
        outcomes.append(
            SignalOutcome(
                request_id=row.request_id,
                scores=scores,
                is_viral=bool(row.is_viral),
                model_version=result.get("model_version"),
                created_at=as_utc(row.created_at),
            )
        )
    return outcomes


def save_learned_weights(engine: sa.Engine, weights: LearnedWeights) -> None:
    document = weights.model_dump(mode="json")
    save_version(
        engine,
        signal_weight_versions,
        weights.version,
        document,
        weights.evaluation_tier,
        weights.fitted_at,
    )


def latest_learned_weights(engine: sa.Engine) -> StoredVersion | None:
    """The serving version (the newest fitted_at): one indexed query."""
    return latest_version(engine, signal_weight_versions)


def has_learned_weights_version(engine: sa.Engine, version: str) -> bool:
    return has_version(engine, signal_weight_versions, version)
