"""Platt calibration of the aggregate score: the stored parameters and applying them.

The aggregate's raw probability (its score / 100, a number in 0..1) is not a probability of going
viral until it has been calibrated against outcomes. Platt's sigmoid maps it:

    p = 1 / (1 + exp(a * s + b)),   s = the raw probability in 0..1

with the convention of `viral_pipeline.engine.calibration.maths.fit_platt`, which fits (a, b).
`maths.apply_platt` is the one function that computes it: the served probability (`calibrate`),
a batch (`calibrate_many`) and the fit's own measurement (`platt_fit`) all call it, so fitting,
measuring and serving can never disagree. A higher score must mean a higher probability, so a
valid `a` is negative.

`PlattParams` validates stored parameters (validation errors raise). `parse_platt_params` is for
reading them from storage at prediction time: it never raises, and returns None when they are
missing or unusable, so the prediction falls back to the raw probability; `platt_params_or_error`
gives the reason instead, for the caller to log and report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, field_validator

from viral_pipeline.engine.calibration.maths import apply_platt


class PlattParams(BaseModel):
    # Unknown keys are ignored, so parameters written by a newer version still load.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    a: float = Field(
        lt=0, description="slope; negative, so a higher score means a higher probability"
    )
    b: float
    version: str = Field(min_length=1, max_length=128)
    fitted_at: datetime
    n_outcomes: int = Field(ge=1, description="outcomes the fit used")
    ece_before: float | None = Field(default=None, ge=0, le=1)
    ece_after: float | None = Field(default=None, ge=0, le=1)
    model_version: str | None = None

    @field_validator("fitted_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def calibrate(raw_probability: float, params: PlattParams | None) -> tuple[float, bool]:
    """(probability, is_calibrated): Platt's sigmoid of the raw probability, or the raw one
    unchanged (and False) when there are no parameters."""
    probability, is_calibrated = calibrate_many(raw_probability, params)
    return float(probability), is_calibrated


def calibrate_many(
    raw_probability: ArrayLike, params: PlattParams | None
) -> tuple[np.ndarray, bool]:
    """`calibrate` of every raw probability at once: (probabilities, is_calibrated). Without
    parameters the probabilities are a copy of the raw ones."""
    raw = np.asarray(raw_probability, dtype=float)
    bad = ~(np.isfinite(raw) & (raw >= 0.0) & (raw <= 1.0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = f" at position {first}" if raw.ndim else ""
        raise ValueError(f"raw_probability must lie in 0..1, got {float(raw.flat[first])!r}{where}")
    if params is None:
        return raw.copy(), False
    return apply_platt(raw, params.a, params.b), True


def platt_params_or_error(data: Any) -> PlattParams | Exception:
    """Parameters from stored data (a mapping, JSON text or bytes, or PlattParams), or the reason
    they are unusable (missing, malformed, out of range) as the exception. Never raises."""
    if data is None:
        return ValueError("no Platt parameters")
    if isinstance(data, PlattParams):
        return data
    try:
        if isinstance(data, (str, bytes, bytearray)):
            return PlattParams.model_validate_json(data)
        return PlattParams.model_validate(data)
    except Exception as error:  # noqa: BLE001 - the contract is "never raises": the caller reports it
        return error


def parse_platt_params(data: Any) -> PlattParams | None:
    """Like `platt_params_or_error`, with None in place of the reason."""
    parsed = platt_params_or_error(data)
    return parsed if isinstance(parsed, PlattParams) else None


# "learned_weights": the signal weights learned from outcomes (engine/signals/learned_weights.py).
ProbabilitySource = Literal["learned_weights", "outcome_calibration", "champion_model"]


@dataclass(frozen=True, slots=True)
class ServedProbability:
    """The number a prediction calls `viral_probability`: a calibrated probability or None.

    `source` says which calibration stands behind it; `note` says why, in the caller's terms."""

    probability: float | None
    source: ProbabilitySource | None
    note: str

    @property
    def is_calibrated(self) -> bool:
        return self.probability is not None


def served_probability(
    raw_probability: float,
    params: PlattParams | None,
    champion_probability: float | None,
    ml_reason: str | None,
) -> ServedProbability:
    """What a prediction may call a probability.

    The aggregate's raw probability is a weighted mean of 0..100 scores, not a probability. Once
    Platt parameters fitted on reported outcomes exist, their sigmoid of it is. Before that, the
    champion's own probability is one (Platt-calibrated on held-out videos when it was trained);
    without a champion serving, there is no probability to give, and `note` says why.
    """
    if params is not None:
        probability, _ = calibrate(raw_probability, params)
        return ServedProbability(
            probability,
            "outcome_calibration",
            f"aggregate calibrated by Platt parameters {params.version} fitted on outcomes",
        )
    if champion_probability is not None:
        return ServedProbability(
            float(champion_probability),
            "champion_model",
            "no Platt parameters fitted on outcomes yet: the champion model's probability, "
            "calibrated on held-out videos at training",
        )
    return ServedProbability(
        None,
        None,
        "no calibrated probability: no Platt parameters fitted on outcomes yet, "
        f"and the ML signal is unavailable ({ml_reason or 'no champion'})",
    )
