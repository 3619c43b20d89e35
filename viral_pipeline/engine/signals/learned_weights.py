"""Signal weights learned from outcomes: the stored combination and applying it (numpy only).

The configured weights (``WEIGHT_*``) are a guess. Once users have reported enough outcomes, a
logistic model on the five signals' scores gives the probability of going viral directly:

    logit P(viral) = intercept
                     + sum over available signals s of score_coefficients[s] * score_s / 100
                     + sum over unavailable signals s of unavailable_coefficients[s]

An unavailable signal contributes its own indicator's coefficient, never a score, so "gemini had
no key" is a fact the model has learned the weight of rather than a zero score. The model is
fitted on outcomes, so its probability is already calibrated: Platt's sigmoid is not applied on
top of it (that would fit the same labels twice).

The model only answers for what it has seen: a signal must have been available in at least one
outcome of the fit before its score may count, and unavailable in at least one before its
indicator may; otherwise (a judge's key added after the fit, say) the fixed weights serve and the
result says why. `LearnedWeights` validates stored parameters (errors raise);
`learned_weights_or_error` never raises, for the predict run that reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from viral_pipeline.engine.calibration.maths import expit
from viral_pipeline.engine.calibration.platt import ServedProbability
from viral_pipeline.engine.signals.aggregate import SIGNALS, SignalName
from viral_pipeline.engine.timeutil import as_utc

WeightsSource = Literal["fixed", "learned"]
# The design matrix: one score column per signal, then one "unavailable" indicator per signal.
DESIGN_COLUMNS: tuple[str, ...] = (
    *(f"score_{name}" for name in SIGNALS),
    *(f"unavailable_{name}" for name in SIGNALS),
)


def design_matrix(scores: np.ndarray) -> np.ndarray:
    """(n, 10) design of (n, 5) scores in SIGNALS order, NaN where a signal was unavailable: the
    score / 100 where available (0 otherwise), then 1 where unavailable (0 otherwise)."""
    scores = np.asarray(scores, dtype=float).reshape(-1, len(SIGNALS))
    unavailable = np.isnan(scores)
    return np.hstack([np.where(unavailable, 0.0, scores / 100.0), unavailable.astype(float)])


def scores_row(scores: Mapping[str, float | None]) -> np.ndarray:
    """(5,) scores in SIGNALS order from a mapping (None or a missing name: unavailable)."""
    values = [scores.get(name) for name in SIGNALS]
    return np.array([np.nan if value is None else float(value) for value in values])


class LearnedWeights(BaseModel):
    """One fitted, gated version of the learned combination, as `signal_weight_versions` stores it."""

    # Unknown keys are ignored, so parameters written by a newer version still load.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    version: str = Field(min_length=1, max_length=128)
    fitted_at: datetime
    evaluation_tier: str
    n_outcomes: int = Field(ge=1)
    intercept: float
    score_coefficients: dict[SignalName, float]  # per unit of score / 100
    unavailable_coefficients: dict[SignalName, float]
    seen_available: dict[SignalName, int]  # outcomes of the fit with the signal available
    seen_unavailable: dict[SignalName, int]
    # Cross-fitted held-out figures that passed the gate (the fixed weights Platt-calibrated).
    log_loss: float = Field(ge=0)
    log_loss_fixed: float = Field(ge=0)
    brier: float = Field(ge=0, le=1)
    brier_fixed: float = Field(ge=0, le=1)
    model_version: str | None = None

    _utc = field_validator("fitted_at")(staticmethod(as_utc))

    @model_validator(mode="after")
    def _every_signal(self) -> LearnedWeights:
        for field in ("score_coefficients", "unavailable_coefficients"):
            if set(getattr(self, field)) != set(SIGNALS):
                raise ValueError(f"{field} must name every signal of {[str(s) for s in SIGNALS]}")
        return self

    def coefficients(self) -> np.ndarray:
        """The (10,) coefficients in DESIGN_COLUMNS order."""
        return np.array(
            [self.score_coefficients[name] for name in SIGNALS]
            + [self.unavailable_coefficients[name] for name in SIGNALS]
        )

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """P(viral) of (n, 5) scores (NaN: unavailable)."""
        return expit(self.intercept + design_matrix(scores) @ self.coefficients())

    def unseen(self, scores: Mapping[str, float | None]) -> str | None:
        """Why this fit cannot answer for these signals (a state it never saw), or None."""
        for name in SIGNALS:
            available = scores.get(name) is not None
            if available and self.seen_available[name] == 0:
                return f"{name} is available, and it never was in the outcomes they were fitted on"
            if not available and self.seen_unavailable[name] == 0:
                return (
                    f"{name} is unavailable, and it never was in the outcomes they were fitted on"
                )
        return None


def learned_weights_or_error(data: Any) -> LearnedWeights | Exception:
    """Parameters from stored data (a mapping, JSON text, or LearnedWeights), or the reason they
    are unusable as the exception. Never raises."""
    if isinstance(data, LearnedWeights):
        return data
    if data is None:
        return ValueError("no learned weights")
    try:
        if isinstance(data, (str, bytes, bytearray)):
            return LearnedWeights.model_validate_json(data)
        return LearnedWeights.model_validate(data)
    except Exception as error:  # noqa: BLE001 - the contract is "never raises": the caller reports it
        return error


@dataclass(frozen=True, slots=True)
class ServedWeights:
    """Which weights combined a prediction's signals; `probability` only when learned ones did."""

    source: WeightsSource
    version: str | None
    probability: float | None
    note: str


def choose_weights(
    learned: LearnedWeights | None,
    scores: Mapping[str, float | None],
    *,
    min_outcomes: int,
    tier: str,
) -> ServedWeights:
    """The learned weights when a gated version serves and has seen these signals' states;
    otherwise the fixed ones, with the reason."""
    if learned is None:
        return ServedWeights(
            "fixed",
            None,
            None,
            "fixed weights (WEIGHT_*): no learned weights serve yet; a fit needs "
            f"{min_outcomes} reported outcomes of tier {tier} and must beat the fixed weights "
            "on held-out outcomes",
        )
    why = learned.unseen(scores)
    if why is not None:
        return ServedWeights(
            "fixed",
            None,
            None,
            f"fixed weights (WEIGHT_*): learned weights {learned.version} do not apply: {why}",
        )
    probability = float(learned.probabilities(scores_row(scores)[None, :])[0])
    return ServedWeights(
        "learned",
        learned.version,
        probability,
        f"learned weights {learned.version}, fitted on {learned.n_outcomes} outcomes of tier "
        f"{learned.evaluation_tier}: held-out log loss {learned.log_loss:.4f} against "
        f"{learned.log_loss_fixed:.4f} for the fixed weights; their probability serves as it is, "
        "without Platt scaling",
    )


def learned_probability(weights: ServedWeights) -> ServedProbability:
    """The prediction's probability when learned weights served (no Platt on top of them)."""
    if weights.probability is None:
        raise ValueError("the fixed weights served: there is no learned probability")
    return ServedProbability(weights.probability, "learned_weights", weights.note)
