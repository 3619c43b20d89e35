"""ECE, reliability tables, the ECE noise floor and Platt scaling, on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from viral_pipeline.engine.calibration.maths import (
    apply_platt,
    ece_from_table,
    ece_noise_floor,
    expected_calibration_error,
    fit_platt,
    reliability_table,
)

# ---- ECE and reliability tables ------------------------------------------------------------


def test_perfectly_calibrated_bins_give_zero():
    # In each bin the observed rate equals the predictions: 5 of 20 at 0.25, 7 of 10 at 0.7, 0 of 4 at 0.
    p = np.r_[np.full(20, 0.25), np.full(10, 0.7), np.full(4, 0.0)]
    y = np.r_[np.ones(5), np.zeros(15), np.ones(7), np.zeros(3), np.zeros(4)]
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(y, p, n_bins=10, strategy="quantile") == pytest.approx(
        0.0, abs=1e-12
    )


def test_overconfident_predictions_give_the_gap():
    p = np.full(10, 0.9)
    y = np.r_[np.ones(5), np.zeros(5)]
    assert expected_calibration_error(y, p) == pytest.approx(0.4)
    assert expected_calibration_error(y, p, strategy="quantile") == pytest.approx(0.4)
    assert reliability_table(y, p) == [(pytest.approx(0.9), 0.5, 10)]


def test_ece_weights_bins_by_their_count():
    # 30 predictions of 0.1 observed 0.2 (gap 0.1), 10 of 0.8 observed 0.5 (gap 0.3).
    p = np.r_[np.full(30, 0.1), np.full(10, 0.8)]
    y = np.r_[np.ones(6), np.zeros(24), np.ones(5), np.zeros(5)]
    expected = 30 / 40 * 0.1 + 10 / 40 * 0.3
    assert expected_calibration_error(y, p, n_bins=15) == pytest.approx(expected)


def test_uniform_bins_skip_empty_ones_and_include_one_in_the_last():
    p = np.array([0.0, 0.05, 0.95, 1.0])
    y = np.array([0, 0, 1, 1])
    table = reliability_table(y, p, n_bins=10)
    assert table == [(pytest.approx(0.025), 0.0, 2), (pytest.approx(0.975), 1.0, 2)]
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.025)


def test_equal_mass_bins_on_a_known_split():
    # Ten distinct probabilities, two equal-mass bins: {0.1..0.5} and {0.6..1.0}.
    p = np.round(np.arange(1, 11) / 10, 2)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    table = reliability_table(y, p, n_bins=2, strategy="quantile")
    assert table == [(pytest.approx(0.3), pytest.approx(0.2), 5), (pytest.approx(0.8), 1.0, 5)]
    assert expected_calibration_error(y, p, n_bins=2, strategy="quantile") == pytest.approx(
        0.5 * 0.1 + 0.5 * 0.2
    )
    # Equal-width bins of the same data split at 0.5 instead: [0.1..0.4] and [0.5..1.0].
    uniform = reliability_table(y, p, n_bins=2)
    assert [count for *_, count in uniform] == [4, 6]


def test_equal_mass_bins_keep_ties_together():
    # 80% of predictions tie at 0.05: the quantile edges collapse and the ties share one bin.
    p = np.r_[np.full(80, 0.05), np.linspace(0.5, 0.9, 20)]
    y = np.r_[np.zeros(76), np.ones(4), np.ones(20)]
    table = reliability_table(y, p, n_bins=10, strategy="quantile")
    assert table[0][2] == 80
    assert sum(count for *_, count in table) == 100
    assert len(table) == 3  # edges at the 80% and 90% quantiles (the rest coincide at 0.05)


def test_ece_from_table_matches():
    rng = np.random.default_rng(3)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    for strategy in ("uniform", "quantile"):
        table = reliability_table(y, p, 15, strategy)
        assert ece_from_table(table) == expected_calibration_error(y, p, 15, strategy)
        assert sum(count for *_, count in table) == 500


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.5], "differ in length"),
        ([], [], "no samples"),
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, 1.2], r"in \[0, 1\]"),
        ([0, 1], [0.1, np.nan], r"in \[0, 1\]"),
    ],
)
def test_bad_inputs_are_refused(y, p, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(y, p)


def test_bad_binning_is_refused():
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0, 1], [0.1, 0.9], n_bins=0)
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error([0, 1], [0.1, 0.9], strategy="kmeans")  # type: ignore[arg-type]


# ---- The noise floor -----------------------------------------------------------------------


def test_noise_floor_falls_with_n_and_matches_the_guide():
    # Base rate 0.2, concentration 2 reproduces the design notes: 0.054, 0.024, 0.008 (10 bins).
    floors = [ece_noise_floor(n, 10, 0.2, n_sims=60) for n in (200, 1_000, 10_000)]
    assert floors[0] > floors[1] > floors[2] > 0
    for got, guide in zip(floors, (0.054, 0.024, 0.008)):
        assert got == pytest.approx(guide, rel=0.25)
    # The default (10% base rate) is of the same order and also falls roughly as 1/sqrt(n).
    low, high = ece_noise_floor(1_000, n_sims=60), ece_noise_floor(250, n_sims=60)
    assert 0.01 < low < 0.03
    assert high / low == pytest.approx(2.0, rel=0.25)


def test_noise_floor_is_seeded_and_takes_a_models_own_probabilities():
    assert ece_noise_floor(300, n_sims=20, seed=1) == ece_noise_floor(300, n_sims=20, seed=1)
    confident = np.r_[np.full(50, 0.01), np.full(50, 0.99)]
    spread = np.linspace(0.05, 0.95, 100)
    # Near-certain predictions leave little room for noise; mid-range ones leave the most.
    floor_confident = ece_noise_floor(500, y_prob=confident, n_sims=40)
    floor_spread = ece_noise_floor(500, y_prob=spread, n_sims=40)
    assert 0 < floor_confident < floor_spread
    assert ece_noise_floor(500, y_prob=spread, strategy="quantile", n_sims=40) > 0


def test_noise_floor_refuses_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        ece_noise_floor(0)
    with pytest.raises(ValueError, match="base_rate"):
        ece_noise_floor(100, base_rate=1.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        ece_noise_floor(100, y_prob=[0.5, 2.0])


# ---- Platt scaling -------------------------------------------------------------------------


def _scores(n: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    return scale * (rng.normal(size=n) + 1.5 * y - 0.5), y


@pytest.mark.parametrize(
    ("n", "scale", "seed"), [(400, 1.0, 0), (2_000, 3.0, 1), (300, 60.0, 2), (40, 1.0, 3)]
)
def test_platt_matches_scikit_learns_sigmoid_calibration(n, scale, seed):
    s, y = _scores(n, scale, seed)
    a, b = fit_platt(s, y)
    reference = _SigmoidCalibration().fit(s, y)
    assert a == pytest.approx(reference.a_, abs=1e-3)
    assert b == pytest.approx(reference.b_, abs=1e-3)
    assert np.abs(apply_platt(s, a, b) - reference.predict(s)).max() < 1e-3


def test_platt_matches_calibrated_classifier_cv_on_a_frozen_model():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(1_500, 3))
    y = (rng.random(1_500) < 1 / (1 + np.exp(-(X[:, 0] - 2.2)))).astype(int)
    base = LogisticRegression(class_weight="balanced").fit(X[:1_000], y[:1_000])
    calibrated = CalibratedClassifierCV(FrozenEstimator(base), method="sigmoid").fit(
        X[1_000:], y[1_000:]
    )
    a, b = fit_platt(base.decision_function(X[1_000:]), y[1_000:])
    theirs = calibrated.predict_proba(X)[:, 1]
    ours = apply_platt(base.decision_function(X), a, b)
    assert np.abs(ours - theirs).max() < 1e-3
    # Class weighting pushed the raw probabilities up; Platt brings them back to the base rate.
    assert base.predict_proba(X[1_000:])[:, 1].mean() > 0.3
    assert ours[1_000:].mean() == pytest.approx(y[1_000:].mean(), abs=0.01)


def test_platt_stays_finite_on_separable_scores():
    s = np.r_[np.zeros(10), np.ones(10)]
    y = s.astype(int)
    a, b = fit_platt(s, y)
    assert np.isfinite([a, b]).all()
    # Smoothed targets: the fit reproduces 1/(N- + 2) and (N+ + 1)/(N+ + 2) exactly.
    p = apply_platt(np.array([0.0, 1.0]), a, b)
    assert p == pytest.approx([1 / 12, 11 / 12], abs=1e-6)
    assert a == pytest.approx(_SigmoidCalibration().fit(s, y).a_, abs=1e-3)


@pytest.mark.parametrize(
    ("s", "y"),
    [
        # A full Newton step overshoots on these: the step-halving path.
        (np.r_[np.linspace(-1, 1, 50), [100.0]], np.r_[np.zeros(50), [1]]),
        (np.r_[np.full(20, -1.0), np.full(2, 1.0)], np.r_[np.zeros(20), np.ones(2)]),
        (np.r_[np.zeros(1_000), [1.0]], np.r_[np.zeros(1_000), [1]]),
    ],
)
def test_platt_agrees_with_scikit_learn_on_hard_cases(s, y):
    a, b = fit_platt(s, y)
    reference = _SigmoidCalibration().fit(s, y)
    assert np.abs(apply_platt(s, a, b) - reference.predict(s)).max() < 1e-3


def test_platt_on_constant_scores_returns_the_mean_smoothed_target():
    a, b = fit_platt(np.zeros(10), np.r_[np.ones(2), np.zeros(8)])
    assert a == 0.0
    # Targets: 2 positives at (2 + 1) / (2 + 2), 8 negatives at 1 / (8 + 2).
    assert apply_platt([0.0], a, b)[0] == pytest.approx((2 * 3 / 4 + 8 / 10) / 10)


def test_platt_refuses_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        fit_platt([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="finite"):
        fit_platt([0.1, np.inf], [1, 0])
    with pytest.raises(ValueError, match="finite"):
        fit_platt([], [])


def test_platt_iterations_stop_at_the_limit_and_do_not_drift_past_convergence():
    s, y = _scores(500, 1.0, 4)
    a, b = fit_platt(s, y)
    # One Newton step from the start is not yet at the optimum.
    a1, b1 = fit_platt(s, y, max_iter=1)
    assert abs(a1 - a) > 1e-3
    # With no tolerance the loop runs all its iterations and stays at the optimum.
    a0, b0 = fit_platt(s, y, tol=0.0)
    assert (a0, b0) == pytest.approx((a, b), abs=1e-9)
