"""Fitting Platt parameters on (raw aggregate probability, observed label) pairs, honestly measured.

`fit_calibration` fits (a, b) on every pair, and measures "ECE after" by K-fold CROSS-FITTING:
each pair's calibrated probability comes from a fit on the other folds, so no pair is scored by
parameters that saw its own label. "ECE before" is the raw probabilities' ECE on the same pairs.
Both use all n pairs, which matters at small n where a held-out slice would be all noise.

`calibration_verdict` is the rule of the `calibration_improves` check, and the rule the step
that publishes the parameters applies again (so a run that skips the check cannot publish a fit
that fails it): ECE after (equal-width bins) must be no worse than before and at most
``max(MIN_ECE_THRESHOLD, NOISE_MULTIPLIER * noise floor)``. The noise floor is the mean ECE a
perfectly calibrated model with the same spread of predictions shows on n samples; being its
mean, about half of perfectly calibrated samples land above it, hence the multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike

from viral_pipeline.engine.calibration.maths import (
    apply_platt,
    ece_noise_floor,
    expected_calibration_error,
    fit_platt,
)
from viral_pipeline.engine.calibration.platt import PlattParams

N_BINS = 10
FOLDS = 5
MIN_ECE_THRESHOLD = 0.02
NOISE_MULTIPLIER = 1.5


@dataclass(frozen=True)
class CalibrationFit:
    """A fitted candidate and how it measured; arrays are kept for the reliability diagrams."""

    a: float
    b: float
    n: int
    positives: int
    ece_before: float
    ece_after: float
    ece_before_equal_mass: float
    ece_after_equal_mass: float
    noise_floor: float
    raw: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    cross_fitted: np.ndarray = field(repr=False)  # out-of-fold calibrated probabilities

    @property
    def ece_threshold(self) -> float:
        return max(MIN_ECE_THRESHOLD, NOISE_MULTIPLIER * self.noise_floor)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    no_worse: bool
    below_threshold: bool
    slope_negative: bool

    @property
    def reasons(self) -> list[str]:
        failed = {
            "ECE after > ECE before": self.no_worse,
            "ECE after above the noise-scaled threshold": self.below_threshold,
            "slope a is not negative": self.slope_negative,
        }
        return [reason for reason, ok in failed.items() if not ok]


def _folds(n: int, folds: int, seed: int) -> np.ndarray:
    """Fold index per pair, shuffled but balanced in size."""
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def cross_fitted_probabilities(
    raw: np.ndarray, labels: np.ndarray, folds: int = FOLDS, seed: int = 0
) -> np.ndarray:
    """Each pair calibrated by the (a, b) fitted on the other folds."""
    fold = _folds(raw.size, folds, seed)
    out = np.empty(raw.size)
    for k in range(folds):
        held = fold == k
        a, b = fit_platt(raw[~held], labels[~held])
        out[held] = apply_platt(raw[held], a, b)
    return out


def fit_calibration(
    raw_probability: ArrayLike, is_viral: ArrayLike, *, folds: int = FOLDS, seed: int = 0
) -> CalibrationFit:
    raw = np.asarray(raw_probability, dtype=float).ravel()
    labels = np.asarray(is_viral, dtype=float).ravel()
    if raw.size < 2 * folds:
        raise ValueError(
            f"need at least {2 * folds} pairs to cross-fit {folds} folds, got {raw.size}"
        )
    a, b = fit_platt(raw, labels)
    after = cross_fitted_probabilities(raw, labels, folds, seed)
    return CalibrationFit(
        a=float(a),
        b=float(b),
        n=int(raw.size),
        positives=int(labels.sum()),
        ece_before=expected_calibration_error(labels, raw, N_BINS, "uniform"),
        ece_after=expected_calibration_error(labels, after, N_BINS, "uniform"),
        ece_before_equal_mass=expected_calibration_error(labels, raw, N_BINS, "quantile"),
        ece_after_equal_mass=expected_calibration_error(labels, after, N_BINS, "quantile"),
        noise_floor=ece_noise_floor(raw.size, N_BINS, y_prob=after, seed=seed),
        raw=raw,
        labels=labels,
        cross_fitted=after,
    )


def calibration_verdict(fit: CalibrationFit) -> Verdict:
    no_worse = fit.ece_after <= fit.ece_before
    below = fit.ece_after <= fit.ece_threshold
    slope = bool(np.isfinite(fit.a) and fit.a < 0)
    return Verdict(
        passed=no_worse and below and slope,
        no_worse=no_worse,
        below_threshold=below,
        slope_negative=slope,
    )


def platt_version(tier: str, fitted_at: datetime) -> str:
    """A unique, sortable version name: the tier and the fit time to the microsecond (UTC)."""
    return f"platt-{tier}-{fitted_at:%Y%m%dT%H%M%S%fZ}"


@dataclass(frozen=True)
class PlattCandidate:
    """What one platt_calibration run produced: a fit and its parameters, or why there is none.

    `params` is None when nothing was fitted (too few outcomes) or when the fit cannot serve
    (a slope that is not negative fails PlattParams' validation)."""

    tier: str
    n_pairs: int
    min_outcomes: int
    fit: CalibrationFit | None = None
    params: PlattParams | None = None
    mlflow_run_id: str | None = None
    reason: str = ""

    def verdict(self) -> Verdict | None:
        """None when nothing was fitted; otherwise calibration_verdict of the fit."""
        return calibration_verdict(self.fit) if self.fit is not None else None

    def servable(self) -> bool:
        verdict = self.verdict()
        return bool(verdict and verdict.passed and self.params is not None)
