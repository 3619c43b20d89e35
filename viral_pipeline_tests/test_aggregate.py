"""Aggregation: weight redistribution, confidence rules, notes and refusals."""

from __future__ import annotations

import math

import pytest

from viral_pipeline.engine.signals.aggregate import (
    SIGNALS,
    Aggregate,
    Signal,
    aggregate,
    normalise_weights,
)

WEIGHTS = {"rules": 0.15, "trends": 0.15, "ml": 0.40, "gemini": 0.15, "deepseek": 0.15}


def _signals(
    scores: dict[str, float] | None = None, down: dict[str, str] | None = None
) -> dict[str, Signal]:
    scores = scores or dict.fromkeys(SIGNALS, 50.0)
    down = down or {}
    return {
        name: Signal.unavailable(name, down[name])
        if name in down
        else Signal(name, scores[name], True)
        for name in SIGNALS
    }


def test_all_available_uses_the_configured_weights():
    scores = {"rules": 80, "trends": 60, "ml": 70, "gemini": 75, "deepseek": 65}
    result = aggregate(_signals(scores), WEIGHTS)
    assert isinstance(result, Aggregate)
    assert result.weights_used == pytest.approx(WEIGHTS)
    assert result.score == pytest.approx(sum(WEIGHTS[n] * scores[n] for n in SIGNALS))
    assert result.raw_probability == pytest.approx(result.score / 100)
    assert not result.redistributed and result.confidence == "HIGH" and result.notes == []


def test_weights_are_normalised():
    doubled = {name: 2 * w for name, w in WEIGHTS.items()}
    assert aggregate(_signals(), doubled).weights_used == pytest.approx(WEIGHTS)
    assert normalise_weights({"ml": 3.0, "rules": 1.0}) == {
        "rules": 0.25,
        "trends": 0.0,
        "ml": 0.75,
        "gemini": 0.0,
        "deepseek": 0.0,
    }


def test_ml_down_is_spread_proportionally_over_the_others():
    result = aggregate(_signals(down={"ml": "no champion model"}), WEIGHTS)
    used = result.weights_used
    assert used["ml"] == 0.0 and math.isclose(sum(used.values()), 1.0)
    # Each remaining weight grows by the same factor, 1 / 0.6.
    for name in ("rules", "trends", "gemini", "deepseek"):
        assert used[name] == pytest.approx(WEIGHTS[name] / 0.6)
    assert result.redistributed
    assert "ml unavailable (no champion model): its 0.40 went to the others" in result.notes
    assert result.confidence == "MEDIUM"


def test_one_llm_down_hands_its_weight_to_the_other_llm():
    result = aggregate(_signals(down={"gemini": "GEMINI_API_KEY not set"}), WEIGHTS)
    assert result.weights_used == pytest.approx({**WEIGHTS, "gemini": 0.0, "deepseek": 0.30})
    assert (
        result.notes[0] == "gemini unavailable (GEMINI_API_KEY not set): its 0.15 went to deepseek"
    )
    assert result.redistributed and result.confidence == "MEDIUM"
    other = aggregate(_signals(down={"deepseek": "circuit breaker open"}), WEIGHTS)
    assert other.weights_used["gemini"] == pytest.approx(0.30)
    assert "deepseek unavailable (circuit breaker open): its 0.15 went to gemini" in other.notes


def test_one_llm_and_ml_down():
    result = aggregate(_signals(down={"gemini": "timeout", "ml": "no champion model"}), WEIGHTS)
    used = result.weights_used
    assert math.isclose(sum(used.values()), 1.0)
    # deepseek first takes gemini's 0.15 (0.30), then the ML weight spreads over 0.15/0.15/0.30.
    assert used["deepseek"] == pytest.approx(0.30 / 0.6)
    assert used["rules"] == used["trends"] == pytest.approx(0.15 / 0.6)
    assert len([n for n in result.notes if "unavailable" in n]) == 2


def test_both_llms_down_is_low_confidence():
    result = aggregate(
        _signals(down={"gemini": "GEMINI_API_KEY not set", "deepseek": "DEEPSEEK_API_KEY not set"}),
        WEIGHTS,
    )
    assert result.confidence == "LOW"
    assert result.weights_used["rules"] == pytest.approx(0.15 / 0.7)
    assert result.weights_used["ml"] == pytest.approx(0.40 / 0.7)
    assert "confidence LOW: both LLM judges are unavailable" in result.notes
    assert any(
        note.startswith("deepseek unavailable (DEEPSEEK_API_KEY not set): its 0.15")
        for note in result.notes
    )


def test_fewer_than_three_signals_is_low():
    result = aggregate(
        _signals(
            down={"rules": "x", "trends": "no trending_sounds yet", "ml": "no champion model"}
        ),
        WEIGHTS,
    )
    assert result.confidence == "LOW"
    assert result.weights_used == pytest.approx(
        {"rules": 0, "trends": 0, "ml": 0, "gemini": 0.5, "deepseek": 0.5}
    )
    assert "confidence LOW: only 2 of 5 signals are available" in result.notes


def test_a_missing_signal_counts_as_unavailable():
    signals = _signals()
    del signals["trends"]
    result = aggregate(signals, WEIGHTS)
    assert result.weights_used["trends"] == 0.0
    assert "trends unavailable (no signal): its 0.15 went to the others" in result.notes


def test_spread_decides_high_medium_low():
    agree = {"rules": 60, "trends": 40, "ml": 50, "gemini": 55, "deepseek": 45}  # pstdev ~ 7
    assert aggregate(_signals(agree), WEIGHTS).confidence == "HIGH"
    edge = {"rules": 65, "trends": 35, "ml": 50, "gemini": 65, "deepseek": 35}  # pstdev 13.4
    assert aggregate(_signals(edge), WEIGHTS).confidence == "HIGH"
    apart = {"rules": 90, "trends": 20, "ml": 50, "gemini": 60, "deepseek": 40}  # pstdev ~ 23
    medium = aggregate(_signals(apart), WEIGHTS)
    assert medium.confidence == "MEDIUM"
    assert any(
        note.startswith("confidence MEDIUM: the signals spread 23.") for note in medium.notes
    )
    far = {"rules": 100, "trends": 0, "ml": 100, "gemini": 0, "deepseek": 50}  # pstdev ~ 44.7
    low = aggregate(_signals(far), WEIGHTS)
    assert low.confidence == "LOW" and any("disagree" in note for note in low.notes)


def test_high_needs_all_five():
    result = aggregate(_signals(down={"trends": "no trending_sounds yet"}), WEIGHTS)
    assert result.confidence == "MEDIUM"
    assert "confidence MEDIUM: 4 of 5 signals are available" in result.notes


def test_an_unavailable_zero_weight_signal_redistributes_nothing():
    weights = {**WEIGHTS, "trends": 0.0}
    result = aggregate(_signals(down={"trends": "no trending_sounds yet"}), weights)
    assert not result.redistributed
    assert "trends unavailable (no trending_sounds yet)" in result.notes
    down_without_reason = {**_signals(), "gemini": Signal("gemini", None, False)}
    assert (
        "gemini unavailable: its 0.15 went to deepseek"
        in aggregate(down_without_reason, WEIGHTS).notes
    )


def test_available_signals_with_zero_weight_share_equally():
    weights = {"ml": 1.0}
    result = aggregate(_signals(down={"ml": "no champion model"}), weights)
    assert result.weights_used == pytest.approx(
        {"rules": 0.25, "trends": 0.25, "ml": 0, "gemini": 0.25, "deepseek": 0.25}
    )


def test_no_signal_available_raises():
    everything_down = {name: Signal.unavailable(name, "down") for name in SIGNALS}
    with pytest.raises(ValueError, match="no signal is available"):
        aggregate(everything_down, WEIGHTS)
    with pytest.raises(ValueError, match="no signal is available"):
        aggregate({}, WEIGHTS)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({**WEIGHTS, "ml": -0.1}, "'ml' must be a finite number >= 0"),
        ({**WEIGHTS, "ml": float("nan")}, "'ml' must be a finite number >= 0"),
        ({**WEIGHTS, "ml": float("inf")}, "'ml' must be a finite number >= 0"),
        (dict.fromkeys(SIGNALS, 0.0), "sum to 0"),
        ({**WEIGHTS, "tiktok": 0.1}, "unknown signal"),
    ],
)
def test_bad_weights_raise(weights, message):
    with pytest.raises(ValueError, match=message):
        aggregate(_signals(), weights)


def test_bad_signal_mappings_raise():
    with pytest.raises(ValueError, match="unknown signal"):
        aggregate({**_signals(), "grok": Signal("grok", 50, True)}, WEIGHTS)
    with pytest.raises(ValueError, match="named 'gemini'"):
        aggregate({**_signals(), "deepseek": Signal("gemini", 50, True)}, WEIGHTS)


@pytest.mark.parametrize("score", [None, -1.0, 100.5, float("nan")])
def test_an_available_signal_needs_a_score_in_range(score):
    with pytest.raises(ValueError, match="score in 0..100"):
        Signal("ml", score, True)


def test_score_stays_in_range_and_carries_cost():
    result = aggregate(_signals(dict.fromkeys(SIGNALS, 100.0)), WEIGHTS)
    assert result.score == 100.0 and result.raw_probability == 1.0
    assert Signal.unavailable("gemini", "timeout", cost_cents=0.2).cost_cents == 0.2
