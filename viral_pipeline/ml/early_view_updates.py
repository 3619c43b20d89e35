"""The updated prediction after early views, computed when a 24 h or 72 h outcome is stored.

Both ways an outcome arrives call `update_after_outcome`: `evaluate_predictions` (collected through
the scraper source) and `POST /api/outcomes`. It reads the published update model (the
`serving_models` row named `update_model_name(MODEL_NAME)`, compiled to numpy arrays: no
scikit-learn), the request and the outcome rows it may read (engine/model/early_views.py's leakage
rule), and stores the probability of being viral at 7 d in `prediction_updates`. No update model,
one trained on another scraper source, or a missing reading: no update, and a log line says why.
An update never fails the outcome it follows: an error is logged and reported, and the outcome
stays stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from viral_pipeline.engine.model.early_views import (
    UPDATE_FEATURE_COLUMNS,
    UPDATE_TIERS,
    early_views_at,
    update_model_name,
    update_vector,
)
from viral_pipeline.ml.loaded import LoadedModel, NoChampionError
from viral_pipeline.ml.published import PublishedChampion
from viral_pipeline.observability import get_logger, report_exception

log = get_logger(__name__)
_published: dict[str, PublishedChampion] = {}


@dataclass(frozen=True)
class UpdatePolicy:
    """Which update model serves: the one published beside the champion `model_name`, when it
    learned the configured scraper source (or `allow_other_source`, as for the champion)."""

    model_name: str
    scraper_source: str
    allow_other_source: bool

    @property
    def update_model(self) -> str:
        return update_model_name(self.model_name)


def _published_update_model(engine: sa.Engine, name: str) -> LoadedModel:
    cache = _published.get(name)
    if cache is None:
        cache = _published[name] = PublishedChampion(name)
    return cache.get(engine)


def request_raw(engine: sa.Engine, payload: dict[str, Any], created_at: datetime) -> dict:
    """The request's raw columns as its prediction read them (followers from `creators` when the
    request left them out); the sound's trend is not an update feature."""
    from viral_pipeline.engine.inputs.profiles import fill_creator
    from viral_pipeline.engine.inputs.request import feature_row, normalize, validate_stored
    from viral_pipeline.store.profiles import creator_by_handle

    request = normalize(validate_stored(payload), now=created_at)
    if request.creator_handle is not None and (
        request.followers is None or request.verified is None
    ):
        request, _ = fill_creator(request, creator_by_handle(engine, request.creator_handle))
    return feature_row(request, 0.0)


def _probability(loaded: LoadedModel, vector: np.ndarray) -> float:
    if loaded.compiled:
        return float(loaded.model.predict_proba(vector[None, :])[0, 1])
    import pandas as pd  # a model the compiler does not support serves from its pickle

    frame = pd.DataFrame([vector], columns=list(UPDATE_FEATURE_COLUMNS))
    return float(loaded.model.predict_proba(frame)[0, 1])


def _skip(request_id: str, tier: str, reason: str) -> None:
    log.info("no update computed", request_id=request_id, evaluation_tier=tier, reason=reason)


def update_after_outcome(
    engine: sa.Engine,
    policy: UpdatePolicy,
    request_id: str,
    tier: str,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Compute and store the update of `request_id` at `tier` from its stored outcomes; the stored
    update (tier, viral_probability_7d, model_version, computed_at), or None when there is none."""
    if tier not in UPDATE_TIERS:
        return None
    try:
        return _update(engine, policy, request_id, tier, now or datetime.now(UTC))
    except Exception as error:  # the outcome is stored; its update can be recomputed later
        report_exception(error, request_id=request_id, evaluation_tier=tier, stage="update")
        log.warning(
            "update failed",
            request_id=request_id,
            evaluation_tier=tier,
            error_type=type(error).__name__,
            reason=str(error),
        )
        return None


def _update(
    engine: sa.Engine, policy: UpdatePolicy, request_id: str, tier: str, now: datetime
) -> dict[str, Any] | None:
    from viral_pipeline.engine.calibration.outcomes import prediction_posted_at
    from viral_pipeline.engine.model.provenance import serving_decision
    from viral_pipeline.store.outcomes import outcomes_of
    from viral_pipeline.store.prediction_updates import upsert_update
    from viral_pipeline.store.predictions import get_request

    try:
        loaded = _published_update_model(engine, policy.update_model)
    except NoChampionError:
        _skip(
            request_id,
            tier,
            f"no update model {policy.update_model!r} is published yet: retrain_update_model_job "
            "trains it, and publishes it once update_gate passes",
        )
        return None
    decision = serving_decision(
        loaded.version, loaded.trained_on, policy.scraper_source, policy.allow_other_source
    )
    if not decision.allowed:
        _skip(request_id, tier, decision.reason or "the update model may not serve this source")
        return None
    row = get_request(engine, request_id)
    if row is None:
        _skip(request_id, tier, "unknown request")
        return None
    posted_at = prediction_posted_at(row["payload"], row["created_at"])
    early = early_views_at(tier, posted_at, outcomes_of(engine, request_id))
    if early is None:
        _skip(request_id, tier, f"no {tier} outcome stored")
        return None
    vector = update_vector(request_raw(engine, row["payload"], row["created_at"]), early)
    probability = _probability(loaded, vector)
    upsert_update(
        engine,
        request_id=request_id,
        evaluation_tier=tier,
        viral_probability_7d=probability,
        model_version=loaded.version,
        computed_at=now,
    )
    log.info(
        "prediction updated",
        request_id=request_id,
        evaluation_tier=tier,
        viral_probability_7d=round(probability, 4),
        model_version=loaded.version,
        views=early.views,
    )
    return {
        "tier": tier,
        "viral_probability_7d": probability,
        "model_version": loaded.version,
        "computed_at": now,
    }
