"""The learned signal weights in the engine: the design (an unavailable signal contributes its
indicator, never a score), applying a stored version, which weights serve, and the fit measured
against the fixed weights on held-out outcomes: better where the outcomes say so, refused where
the fixed weights are the right model."""

from datetime import UTC, datetime

import numpy as np
import pytest

from viral_pipeline.engine.calibration.maths import expit
from viral_pipeline.engine.signals.aggregate import SIGNALS
from viral_pipeline.engine.signals.learned_weights import (
    LearnedWeights,
    choose_weights,
    design_matrix,
    learned_probability,
    learned_weights_or_error,
)
from viral_pipeline.engine.signals.learned_weights_fit import (
    MARGIN_SE,
    fit_learned_weights,
    fixed_raw_probabilities,
    learned_weights_of,
    stratified_folds,
    weights_verdict,
    weights_version,
)
from viral_pipeline_tests.signal_outcomes import FIXED, signal_outcomes

NAN = np.nan


def weights(version="w-1", **changes) -> LearnedWeights:
    """A stored version: ML counts most; a judge never seen available in its outcomes."""
    document = {
        "version": version,
        "fitted_at": datetime(2026, 12, 1, 5, tzinfo=UTC),
        "evaluation_tier": "7d",
        "n_outcomes": 400,
        "intercept": -3.0,
        "score_coefficients": {
            "rules": 0.5,
            "trends": 0.2,
            "ml": 3.0,
            "gemini": 0.0,
            "deepseek": 0.0,
        },
        "unavailable_coefficients": {
            "rules": 0.0,
            "trends": 0.0,
            "ml": 1.1,
            "gemini": 0.0,
            "deepseek": 0.0,
        },
        "seen_available": {"rules": 400, "trends": 400, "ml": 320, "gemini": 0, "deepseek": 0},
        "seen_unavailable": {"rules": 0, "trends": 0, "ml": 80, "gemini": 400, "deepseek": 400},
        "log_loss": 0.30,
        "log_loss_fixed": 0.32,
        "brier": 0.09,
        "brier_fixed": 0.095,
    }
    return LearnedWeights.model_validate(document | changes)


def test_an_unavailable_signal_contributes_its_indicator_and_never_a_score():
    design = design_matrix(np.array([[50.0, 20.0, NAN, NAN, 80.0]]))
    assert design.tolist() == [[0.5, 0.2, 0.0, 0.0, 0.8, 0, 0, 1, 1, 0]]
    w = weights()
    with_ml = {"rules": 60.0, "trends": 10.0, "ml": 40.0, "gemini": None, "deepseek": None}
    without_ml = with_ml | {"ml": None}
    served, served_without = (
        choose_weights(w, scores, min_outcomes=50, tier="7d") for scores in (with_ml, without_ml)
    )
    assert served.source == "learned" and served.version == "w-1"
    assert served.probability == pytest.approx(
        float(expit(-3.0 + 0.5 * 0.6 + 0.2 * 0.1 + 3.0 * 0.4))
    )
    assert served_without.probability == pytest.approx(float(expit(-3.0 + 0.3 + 0.02 + 1.1)))
    probability = learned_probability(served)
    assert probability.source == "learned_weights" and probability.probability == served.probability
    assert "without Platt scaling" in probability.note and "w-1" in probability.note


def test_the_fixed_weights_serve_without_a_version_or_for_a_state_the_fit_never_saw():
    scores = {"rules": 60.0, "trends": 10.0, "ml": 40.0, "gemini": None, "deepseek": None}
    none = choose_weights(None, scores, min_outcomes=50, tier="7d")
    assert (none.source, none.version, none.probability) == ("fixed", None, None)
    assert "50 reported outcomes of tier 7d" in none.note
    unseen = choose_weights(weights(), scores | {"gemini": 70.0}, min_outcomes=50, tier="7d")
    assert unseen.source == "fixed" and unseen.probability is None
    assert "gemini is available, and it never was" in unseen.note
    with pytest.raises(ValueError, match="fixed weights served"):
        learned_probability(none)


@pytest.mark.parametrize(
    "document",
    [
        {"intercept": float("nan")},
        {"score_coefficients": {"rules": 1.0}},  # not every signal
        {"version": ""},
    ],
    ids=["nan", "missing-signal", "empty-version"],
)
def test_unusable_stored_weights_are_an_error_value_never_raised(document):
    stored = weights().model_dump(mode="json") | document
    assert isinstance(learned_weights_or_error(stored), Exception)
    assert isinstance(learned_weights_or_error(None), Exception)
    assert isinstance(learned_weights_or_error("not json"), Exception)
    assert learned_weights_or_error(weights().model_dump_json()) == weights()


def test_learned_weights_beat_the_fixed_ones_where_the_outcomes_follow_one_signal():
    scores, labels = signal_outcomes(400, seed=0, truth="ml")
    fit = fit_learned_weights(scores, fixed_raw_probabilities(scores, FIXED), labels)
    verdict = weights_verdict(fit)
    assert verdict.passed and verdict.reasons == []
    assert fit.log_loss < fit.log_loss_fixed and fit.brier <= fit.brier_fixed
    # The outcome follows ML alone: its coefficient dwarfs the noise signals'.
    assert fit.coefficient("score_ml") > 3 * max(
        abs(fit.coefficient("score_rules")), abs(fit.coefficient("score_trends"))
    )
    # No judge ever had a key: their columns are constant and keep a coefficient of 0.
    assert fit.coefficient("score_gemini") == fit.coefficient("unavailable_gemini") == 0.0
    assert fit.seen_available["gemini"] == 0 and fit.seen_unavailable["ml"] == int(
        np.isnan(scores[:, 2]).sum()
    )
    at = datetime(2026, 12, 3, 5, tzinfo=UTC)
    stored = learned_weights_of(
        fit, version=weights_version("7d", at), fitted_at=at, tier="7d", model_version="4"
    )
    assert stored.version == "weights-7d-20261203T050000000000Z"
    assert stored.probabilities(scores) == pytest.approx(
        1 / (1 + np.exp(-(fit.intercept + design_matrix(scores) @ fit.coefficients)))
    )


def test_the_verdict_fails_where_the_fixed_weights_are_the_right_model():
    scores, labels = signal_outcomes(400, seed=0, truth="fixed")
    fit = fit_learned_weights(scores, fixed_raw_probabilities(scores, FIXED), labels)
    verdict = weights_verdict(fit)
    assert not verdict.passed and not verdict.log_loss_better
    assert verdict.log_loss_gain <= MARGIN_SE * verdict.log_loss_gain_se
    assert verdict.reasons[0].startswith(
        "held-out log loss not below the fixed weights' by more than 2 standard errors"
    )


def test_folds_are_stratified_and_one_class_cannot_be_fitted():
    labels = np.array([1.0] * 7 + [0.0] * 43)
    fold = stratified_folds(labels, 5, seed=0)
    for k in range(5):
        assert 1 <= labels[fold == k].sum() <= 2 and (fold == k).sum() == 10
    scores, _ = signal_outcomes(50, seed=1)
    with pytest.raises(ValueError, match="at least 2 viral and 2 non-viral"):
        fit_learned_weights(
            scores, fixed_raw_probabilities(scores, FIXED), np.r_[1.0, np.zeros(49)]
        )
    assert len(SIGNALS) == 5
