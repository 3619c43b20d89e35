"""Fitting the learned signal weights on outcomes, and measuring them against the fixed weights.

`fit_learned_weights` fits an L2-penalised logistic regression (scikit-learn) on the design of
`learned_weights.design_matrix` and measures it by K-fold CROSS-FITTING, with folds stratified by
label so each training part holds both classes. The comparison is fair: in the same folds, the
fixed weights' aggregate is Platt-calibrated on the training part (`fit_platt`, as
platt_calibration fits it) and scored on the held-out part, so each side is a probability fitted
on the same outcomes. Log loss and Brier are computed over all n out-of-fold probabilities.

`weights_verdict` is the rule of the `learned_weights_beat_fixed` check, which the publishing
step applies again: the learned combination's held-out log loss below the fixed one's by more than
`MARGIN_SE` standard errors of the paired per-outcome difference, and its Brier not above. The
margin is what makes the rule honest at small n: on simulated outcomes, fits whose cross-fitted
log loss was merely lower at 50-200 outcomes were mostly worse than the fixed weights on fresh
videos (bench/learned_weights.py). A design column that is constant over the outcomes (a judge that never
had a key: always unavailable) cannot be learned from them and keeps a coefficient of 0.

Never imported by a predict run: it only fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression

from viral_pipeline.engine.calibration.maths import apply_platt, fit_platt
from viral_pipeline.engine.calibration.platt_fit import FOLDS
from viral_pipeline.engine.signals.aggregate import SIGNALS, Signal, aggregate
from viral_pipeline.engine.signals.learned_weights import (
    DESIGN_COLUMNS,
    LearnedWeights,
    design_matrix,
)

# Inverse L2 strength (scikit-learn's C) on standardised columns: at the minimum of 50 outcomes it
# keeps ten coefficients from chasing a handful of positives; its pull fades as outcomes accumulate.
PENALTY_C = 1.0
# How many standard errors of the paired per-outcome log loss difference the learned weights'
# gain must exceed: about a one-sided 2.5% chance of publishing a fit that is no better.
MARGIN_SE = 2.0
_EPS = 1e-15


@dataclass(frozen=True)
class WeightsFit:
    """A fit on every outcome and how it measured out of fold against the fixed weights."""

    intercept: float
    coefficients: np.ndarray = field(repr=False)  # (10,) in DESIGN_COLUMNS order
    n: int
    positives: int
    seen_available: dict[str, int]
    seen_unavailable: dict[str, int]
    log_loss: float
    log_loss_fixed: float
    brier: float
    brier_fixed: float
    labels: np.ndarray = field(repr=False)
    cross_fitted: np.ndarray = field(repr=False)  # learned, out of fold
    cross_fitted_fixed: np.ndarray = field(repr=False)  # fixed + Platt, out of fold

    def coefficient(self, column: str) -> float:
        return float(self.coefficients[DESIGN_COLUMNS.index(column)])


@dataclass(frozen=True)
class WeightsVerdict:
    passed: bool
    log_loss_better: bool
    brier_not_worse: bool
    log_loss_gain: float  # fixed minus learned, mean over the held-out outcomes
    log_loss_gain_se: float  # its standard error over the paired per-outcome differences

    @property
    def reasons(self) -> list[str]:
        failed = {
            f"held-out log loss not below the fixed weights' by more than {MARGIN_SE:g} standard "
            f"errors (gain {self.log_loss_gain:.5f}, standard error {self.log_loss_gain_se:.5f})": (
                self.log_loss_better
            ),
            "held-out Brier above the fixed weights'": self.brier_not_worse,
        }
        return [reason for reason, ok in failed.items() if not ok]


def log_losses(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each outcome's log loss."""
    p = np.clip(probabilities, _EPS, 1 - _EPS)
    return -(labels * np.log(p) + (1 - labels) * np.log1p(-p))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean(log_losses(labels, probabilities)))


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((probabilities - labels) ** 2))


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index per outcome: each class dealt round-robin over the folds in a shuffled order."""
    rng = np.random.default_rng(seed)
    fold = np.empty(labels.size, dtype=np.int64)
    start = 0
    for value in (1.0, 0.0):
        where = np.flatnonzero(labels == value)
        fold[rng.permutation(where)] = (np.arange(where.size) + start) % folds
        start += where.size
    return fold


def _fit(design: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(intercept, coefficients over every column); constant columns stay at 0.

    The penalty sees standardised columns, so a signal whose scores spread little (an ML score
    that stays within 30..60) is not shrunk harder than one that spans 0..100; the coefficients
    are turned back to the design's own scale."""
    spread = design.std(axis=0)
    varying = spread > 0
    coefficients = np.zeros(design.shape[1])
    if not varying.any():
        rate = float(np.clip(labels.mean(), _EPS, 1 - _EPS))
        return float(np.log(rate / (1 - rate))), coefficients
    centre, scale = design[:, varying].mean(axis=0), spread[varying]
    model = LogisticRegression(C=PENALTY_C, max_iter=1000)
    model.fit((design[:, varying] - centre) / scale, labels)
    coefficients[varying] = model.coef_[0] / scale
    return float(model.intercept_[0] - coefficients[varying] @ centre), coefficients


def _predict(intercept: float, coefficients: np.ndarray, design: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(intercept + design @ coefficients)))


def fit_learned_weights(
    scores: ArrayLike,
    fixed_raw: ArrayLike,
    is_viral: ArrayLike,
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> WeightsFit:
    """`scores`: (n, 5) in SIGNALS order, NaN where unavailable; `fixed_raw`: the configured
    weights' aggregate (score / 100) of the same predictions; `is_viral`: their outcomes."""
    design = design_matrix(np.asarray(scores, dtype=float))
    raw = np.asarray(fixed_raw, dtype=float).ravel()
    labels = np.asarray(is_viral, dtype=float).ravel()
    if not design.shape[0] == raw.size == labels.size:
        raise ValueError(
            f"scores, fixed_raw and is_viral differ in length: {design.shape[0]}, {raw.size}, {labels.size}"
        )
    positives = int(labels.sum())
    if min(positives, labels.size - positives) < 2:
        raise ValueError(
            f"need at least 2 viral and 2 non-viral outcomes to cross-fit, got {positives} of {labels.size}"
        )
    fold = stratified_folds(labels, folds, seed)
    learned, fixed = np.empty(labels.size), np.empty(labels.size)
    for k in range(folds):
        held = fold == k
        if not held.any():
            continue
        intercept, coefficients = _fit(design[~held], labels[~held])
        learned[held] = _predict(intercept, coefficients, design[held])
        a, b = fit_platt(raw[~held], labels[~held])
        fixed[held] = apply_platt(raw[held], a, b)
    intercept, coefficients = _fit(design, labels)
    unavailable = design[:, len(SIGNALS) :].astype(bool)
    return WeightsFit(
        intercept=intercept,
        coefficients=coefficients,
        n=int(labels.size),
        positives=positives,
        seen_available={str(s): int((~unavailable[:, i]).sum()) for i, s in enumerate(SIGNALS)},
        seen_unavailable={str(s): int(unavailable[:, i].sum()) for i, s in enumerate(SIGNALS)},
        log_loss=log_loss(labels, learned),
        log_loss_fixed=log_loss(labels, fixed),
        brier=brier(labels, learned),
        brier_fixed=brier(labels, fixed),
        labels=labels,
        cross_fitted=learned,
        cross_fitted_fixed=fixed,
    )


def weights_verdict(fit: WeightsFit) -> WeightsVerdict:
    gains = log_losses(fit.labels, fit.cross_fitted_fixed) - log_losses(
        fit.labels, fit.cross_fitted
    )
    gain = float(gains.mean())
    se = float(gains.std(ddof=1) / np.sqrt(gains.size)) if gains.size > 1 else float("inf")
    better = bool(np.isfinite(gain) and np.isfinite(se) and gain > MARGIN_SE * se)
    not_worse = bool(np.isfinite(fit.brier) and fit.brier <= fit.brier_fixed)
    return WeightsVerdict(
        passed=better and not_worse,
        log_loss_better=better,
        brier_not_worse=not_worse,
        log_loss_gain=gain,
        log_loss_gain_se=se,
    )


def weights_version(tier: str, fitted_at: datetime) -> str:
    """A unique, sortable version name: the tier and the fit time to the microsecond (UTC)."""
    return f"weights-{tier}-{fitted_at:%Y%m%dT%H%M%S%fZ}"


def learned_weights_of(
    fit: WeightsFit, *, version: str, fitted_at: datetime, tier: str, model_version: str | None
) -> LearnedWeights:
    """The stored form of a fit (validated: raises ValueError on non-finite coefficients)."""
    return LearnedWeights(
        version=version,
        fitted_at=fitted_at,
        evaluation_tier=tier,
        n_outcomes=fit.n,
        intercept=fit.intercept,
        score_coefficients={s: fit.coefficient(f"score_{s}") for s in SIGNALS},
        unavailable_coefficients={s: fit.coefficient(f"unavailable_{s}") for s in SIGNALS},
        seen_available=fit.seen_available,
        seen_unavailable=fit.seen_unavailable,
        log_loss=fit.log_loss,
        log_loss_fixed=fit.log_loss_fixed,
        brier=fit.brier,
        brier_fixed=fit.brier_fixed,
        model_version=model_version,
    )


@dataclass(frozen=True)
class WeightsCandidate:
    """What one signal_weights_fit run produced: a fit and its stored form, or why there is none."""

    tier: str
    n_outcomes: int
    min_outcomes: int
    fit: WeightsFit | None = None
    weights: LearnedWeights | None = None
    mlflow_run_id: str | None = None
    reason: str = ""

    def verdict(self) -> WeightsVerdict | None:
        """None when nothing was fitted; otherwise weights_verdict of the fit."""
        return weights_verdict(self.fit) if self.fit is not None else None

    def servable(self) -> bool:
        verdict = self.verdict()
        return bool(verdict and verdict.passed and self.weights is not None)


def fixed_raw_probabilities(scores: ArrayLike, weights: Mapping[str, float]) -> np.ndarray:
    """The configured weights' aggregate (score / 100) of each row of (n, 5) scores (NaN:
    unavailable), redistribution included: what the learned weights are measured against."""
    rows = np.asarray(scores, dtype=float).reshape(-1, len(SIGNALS))
    raw = np.empty(rows.shape[0])
    for k, row in enumerate(rows):
        signals = {
            str(name): Signal.unavailable(name, "unavailable")
            if np.isnan(value)
            else Signal(name, float(value), True)
            for name, value in zip(SIGNALS, row)
        }
        raw[k] = aggregate(signals, weights).raw_probability
    return raw
