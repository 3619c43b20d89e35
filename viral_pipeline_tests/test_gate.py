"""The accuracy gate: the trivial model fails it, a good model passes, a regression against the
champion beyond the noise margin fails it, and every figure reaches the check metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier

from viral_pipeline.engine.gate import GateResult, GateThresholds, evaluate_gate
from viral_pipeline.engine.model import (
    ModelParams,
    choose_threshold,
    evaluate,
    metrics_from_probabilities,
    positive_probability,
    train_calibrated,
)

ABSOLUTE = ["accuracy", "roc_auc", "pr_auc", "balanced_accuracy", "brier"]
COMPARED = ("roc_auc", "pr_auc", "balanced_accuracy", "accuracy", "brier", "log_loss", "ece")
REGRESSION = [f"no_regression_{key}" for key in COMPARED]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(
        n_samples=4_000, n_features=6, n_informative=4, n_redundant=0, weights=[0.9, 0.1],
        flip_y=0.01, class_sep=1.2, random_state=1,
    )
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), y


@pytest.fixture(scope="module")
def good_metrics(data) -> dict[str, float]:
    X, y = data
    params = ModelParams(learning_rate=0.1, max_iter=60)
    model = train_calibrated(X[:2_400], y[:2_400], X[2_400:3_200], y[2_400:3_200], params)
    threshold = choose_threshold(y[2_400:3_200], positive_probability(model, X[2_400:3_200]))
    return evaluate(model, X[3_200:], y[3_200:], threshold=threshold)


def _failed(result: GateResult) -> set[str]:
    return {check.name for check in result.failed}


def test_always_not_viral_fails_despite_high_accuracy(data):
    X, y = data
    trivial = DummyClassifier(strategy="most_frequent").fit(X[:2_400], y[:2_400])
    metrics = evaluate(trivial, X[3_200:], y[3_200:])
    assert metrics["accuracy"] > 0.85  # the accuracy rule alone would let it through
    result = evaluate_gate(metrics, GateThresholds())
    assert not result.passed
    # ROC AUC 0.5, PR AUC = the base rate, balanced accuracy 0.5, and P = 0 for everything
    # makes its Brier score the base rate itself, above the no-skill base_rate * (1 - base_rate).
    assert _failed(result) == {"roc_auc", "pr_auc", "balanced_accuracy", "brier"}
    assert metrics["roc_auc"] == 0.5 and metrics["balanced_accuracy"] == 0.5


def test_constant_base_rate_probabilities_fail_too(data):
    _, y = data
    y_test = y[3_200:]
    metrics = metrics_from_probabilities(y_test, np.full(y_test.size, y_test.mean()))
    result = evaluate_gate(metrics)
    assert metrics["accuracy"] > 0.85
    # Its Brier equals the no-skill value, which is not strictly below it.
    assert _failed(result) == {"roc_auc", "pr_auc", "balanced_accuracy", "brier"}
    assert metrics["brier"] == pytest.approx(metrics["no_skill_brier"])


def test_a_good_model_passes(good_metrics):
    result = evaluate_gate(good_metrics, GateThresholds())
    assert result.passed, result.summary()
    assert [check.name for check in result.checks] == ABSOLUTE
    assert all(check.passed for check in result.checks)


def test_roc_auc_below_the_champion_beyond_the_margin_fails(good_metrics):
    champion = dict(good_metrics, roc_auc=good_metrics["roc_auc"] + 0.05)
    margins = {key: 0.02 for key in COMPARED}
    result = evaluate_gate(good_metrics, GateThresholds(), champion, margins)
    assert not result.passed
    assert _failed(result) == {"no_regression_roc_auc"}
    check = next(c for c in result.checks if c.name == "no_regression_roc_auc")
    assert check.threshold == pytest.approx(champion["roc_auc"] - 0.02)
    assert "roc_auc" in check.detail and "worse than the champion" in check.detail
    assert "FAIL no_regression_roc_auc" in result.summary().splitlines()[0]


def test_a_candidate_within_the_margin_passes(good_metrics):
    champion = dict(
        good_metrics,
        roc_auc=good_metrics["roc_auc"] + 0.01,
        brier=good_metrics["brier"] - 0.001,
        ece=good_metrics["ece"] - 0.005,
    )
    margins = {"roc_auc": 0.02, "brier": 0.002, "ece": 0.01, "pr_auc": 0.0, "balanced_accuracy": 0.0,
               "accuracy": 0.0, "log_loss": 0.0}
    result = evaluate_gate(good_metrics, GateThresholds(), champion, margins)
    assert result.passed, result.summary()
    assert [check.name for check in result.checks] == ABSOLUTE + REGRESSION


def test_lower_is_better_metrics_regress_upwards(good_metrics):
    champion = dict(good_metrics, ece=good_metrics["ece"] - 0.03, log_loss=good_metrics["log_loss"] - 0.01)
    # No margins given: every metric must be at least as good as the champion's.
    result = evaluate_gate(good_metrics, GateThresholds(), champion)
    assert _failed(result) == {"no_regression_ece", "no_regression_log_loss"}
    check = next(c for c in result.checks if c.name == "no_regression_ece")
    assert check.threshold == pytest.approx(champion["ece"])


def test_metrics_the_champion_lacks_are_not_compared(good_metrics):
    champion = {"roc_auc": good_metrics["roc_auc"], "ece": None}
    result = evaluate_gate(good_metrics, GateThresholds(), champion, {})
    assert [c.name for c in result.checks] == ABSOLUTE + ["no_regression_roc_auc"]
    assert result.passed


def test_missing_or_nan_metrics_fail_and_a_nan_margin_fails():
    result = evaluate_gate({"accuracy": 0.9, "roc_auc": float("nan")})
    assert _failed(result) == set(ABSOLUTE) - {"accuracy"}
    good = {"accuracy": 0.8, "roc_auc": 0.8, "pr_auc": 0.4, "balanced_accuracy": 0.7, "brier": 0.07,
            "base_rate": 0.1}
    # no_skill_brier missing: it is derived from the base rate.
    assert evaluate_gate(good).passed
    nan_margin = evaluate_gate(good, champion_metrics={"roc_auc": 0.8}, margins={"roc_auc": float("nan")})
    assert _failed(nan_margin) == {"no_regression_roc_auc"}


def test_thresholds_are_configurable(good_metrics):
    strict = GateThresholds(min_accuracy=0.99, min_roc_auc=0.999, brier_below_no_skill=False)
    result = evaluate_gate(good_metrics, strict)
    assert "brier" not in {c.name for c in result.checks}
    assert {"accuracy", "roc_auc"} <= _failed(result)
    relaxed = GateThresholds(min_pr_auc_over_base_rate=1.0)
    pr = next(c for c in evaluate_gate(good_metrics, relaxed).checks if c.name == "pr_auc")
    assert pr.threshold == pytest.approx(good_metrics["base_rate"])


def test_metadata_holds_every_value_and_threshold(good_metrics):
    champion = dict(good_metrics, roc_auc=good_metrics["roc_auc"] + 0.1)
    result = evaluate_gate(good_metrics, GateThresholds(), champion, {"roc_auc": 0.01})
    metadata = result.metadata()
    assert metadata["passed"] is False
    assert metadata["failed_checks"] == "no_regression_roc_auc"
    assert len(result.checks) == len(ABSOLUTE) + len(REGRESSION)
    for check in result.checks:
        assert metadata[check.name] == check.value
        assert metadata[f"{check.name}_threshold"] == check.threshold
        assert metadata[f"{check.name}_passed"] is check.passed
    assert metadata["accuracy"] == good_metrics["accuracy"]
    assert metadata["pr_auc_threshold"] == pytest.approx(2 * good_metrics["base_rate"])
    assert metadata["brier_threshold"] == pytest.approx(good_metrics["no_skill_brier"])
    assert metadata["accuracy_threshold"] == 0.75
    assert metadata["no_regression_roc_auc_passed"] is False
    for value in metadata.values():
        assert isinstance(value, (float, bool, str))
    assert evaluate_gate(good_metrics).metadata()["failed_checks"] == ""
