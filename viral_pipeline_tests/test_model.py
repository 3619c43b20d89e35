"""The classifier pipeline, its calibration, metrics, thresholds, noise margins, importances and
plots, on small imbalanced synthetic data (~10% positives, NaN injected)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import StandardScaler

from viral_pipeline.engine.calibration.maths import expected_calibration_error
from viral_pipeline.engine.model.classifier import (
    ModelParams,
    bootstrap_margins,
    build_classifier,
    choose_threshold,
    evaluate,
    feature_importances,
    metrics_from_probabilities,
    positive_probability,
    train_calibrated,
)
from viral_pipeline.ml import plots

FAST = ModelParams(learning_rate=0.1, max_iter=60)
COLUMNS = [f"f{i}" for i in range(8)]


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_calib: pd.DataFrame
    y_calib: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray


@pytest.fixture(scope="module")
def data() -> Split:
    X, y = make_classification(
        n_samples=5_000,
        n_features=8,
        n_informative=4,
        n_redundant=1,
        weights=[0.9, 0.1],
        flip_y=0.02,
        class_sep=1.0,
        random_state=0,
    )
    rng = np.random.default_rng(0)
    X[:, :3][rng.random((5_000, 3)) < 0.1] = np.nan  # unknowns in three columns
    frame = pd.DataFrame(X, columns=COLUMNS)
    return Split(
        frame[:3_000], y[:3_000], frame[3_000:4_000], y[3_000:4_000], frame[4_000:], y[4_000:]
    )


@pytest.fixture(scope="module")
def model(data: Split) -> CalibratedClassifierCV:
    return train_calibrated(data.X_train, data.y_train, data.X_calib, data.y_calib, FAST)


def test_default_params_pick_gradient_boosting_behind_the_imputer():
    pipeline = build_classifier()
    assert list(pipeline.named_steps) == ["impute", "classifier"]
    assert isinstance(pipeline.named_steps["classifier"], HistGradientBoostingClassifier)
    assert pipeline.named_steps["classifier"].class_weight == "balanced"
    imputer = pipeline.named_steps["impute"]
    assert (imputer.strategy, imputer.add_indicator) == ("median", True)
    assert ModelParams().as_dict()["classifier"] == "hist_gradient_boosting"


def test_logistic_regression_is_scaled_and_trains(data: Split):
    params = ModelParams(classifier="logistic_regression")
    pipeline = build_classifier(params)
    assert isinstance(pipeline.named_steps["scale"], StandardScaler)
    assert pipeline.named_steps["classifier"].class_weight == "balanced"
    fitted = train_calibrated(data.X_train, data.y_train, data.X_calib, data.y_calib, params)
    assert evaluate(fitted, data.X_test, data.y_test)["roc_auc"] > 0.75


def test_unknown_classifier_is_refused():
    with pytest.raises(ValueError, match="unknown classifier"):
        build_classifier(ModelParams(classifier="forest"))  # type: ignore[arg-type]


def test_calibrated_model_ranks_well_and_is_calibrated(data: Split, model: CalibratedClassifierCV):
    assert isinstance(model, CalibratedClassifierCV)
    metrics = evaluate(model, data.X_test, data.y_test)
    assert metrics["roc_auc"] > 0.8
    assert metrics["pr_auc"] > 2 * metrics["base_rate"]
    assert metrics["brier"] < metrics["no_skill_brier"]
    assert metrics["ece"] < 0.04
    assert metrics["ece_quantile"] < 0.06


def test_class_weighting_without_calibration_is_worse_calibrated(
    data: Split, model: CalibratedClassifierCV
):
    # The design notes' observation: balanced weights push probabilities towards 0.5.
    weighted = build_classifier(FAST).fit(data.X_train, data.y_train)
    raw = positive_probability(weighted, data.X_test)
    calibrated = positive_probability(model, data.X_test)
    ece_raw = expected_calibration_error(data.y_test, raw)
    ece_calibrated = expected_calibration_error(data.y_test, calibrated)
    assert ece_raw > 0.1
    assert ece_raw > 3 * ece_calibrated
    assert raw.mean() > 2 * data.y_test.mean()
    assert calibrated.mean() == pytest.approx(data.y_test.mean(), abs=0.03)


def test_model_survives_nan_and_adds_indicator_columns(data: Split, model: CalibratedClassifierCV):
    pipeline = model.calibrated_classifiers_[0].estimator.estimator  # FrozenEstimator -> Pipeline
    imputer = pipeline.named_steps["impute"]
    assert list(imputer.indicator_.features_) == [0, 1, 2]
    assert imputer.transform(data.X_test).shape == (len(data.X_test), len(COLUMNS) + 3)
    unknown = pd.DataFrame(np.nan, index=range(3), columns=COLUMNS)
    unknown.loc[1, "f7"] = 0.5
    # Column f7 had no NaN at fit time: it is imputed without an indicator, and nothing breaks.
    p = positive_probability(model, unknown)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()


def test_evaluate_reports_every_metric_and_the_threshold(
    data: Split, model: CalibratedClassifierCV
):
    metrics = evaluate(model, data.X_test, data.y_test, threshold=0.2)
    assert set(metrics) == {
        "accuracy",
        "balanced_accuracy",
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "ece_quantile",
        "base_rate",
        "no_skill_brier",
        "threshold",
        "n",
    }
    base_rate = data.y_test.mean()
    assert metrics["base_rate"] == pytest.approx(base_rate)
    assert metrics["no_skill_brier"] == pytest.approx(base_rate * (1 - base_rate))
    assert (metrics["threshold"], metrics["n"]) == (0.2, 1_000.0)
    at_half = evaluate(model, data.X_test, data.y_test)
    # A lower threshold says "viral" more often: better balanced accuracy on rare positives.
    assert metrics["balanced_accuracy"] > at_half["balanced_accuracy"]
    assert metrics["roc_auc"] == at_half["roc_auc"]


def test_metrics_on_a_single_class_leave_the_aucs_undefined():
    metrics = metrics_from_probabilities([0, 0, 0], [0.1, 0.2, 0.7])
    assert np.isnan(metrics["roc_auc"]) and np.isnan(metrics["pr_auc"])
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["balanced_accuracy"] == pytest.approx(2 / 3)
    assert metrics["no_skill_brier"] == 0.0


def test_choose_threshold_on_a_hand_made_case():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    # Viral for the top 4 catches every positive with one false alarm: accuracy 0.9, balanced
    # accuracy (1 + 6/7) / 2; the cut sits halfway between 0.6 and 0.5.
    assert choose_threshold(y, p) == pytest.approx(0.55)
    # Asking for accuracy 0.95 leaves no candidate: fall back to 0.5.
    assert choose_threshold(y, p, min_accuracy=0.95) == 0.5
    assert choose_threshold(np.zeros(5), np.linspace(0, 1, 5)) == 0.5


def test_choose_threshold_meets_the_gate_on_the_calibration_slice(
    data: Split, model: CalibratedClassifierCV
):
    p_calib = positive_probability(model, data.X_calib)
    threshold = choose_threshold(data.y_calib, p_calib)
    assert 0 < threshold < 0.5
    chosen = metrics_from_probabilities(data.y_calib, p_calib, threshold)
    at_half = metrics_from_probabilities(data.y_calib, p_calib, 0.5)
    assert chosen["accuracy"] >= 0.75
    assert chosen["balanced_accuracy"] > max(0.65, at_half["balanced_accuracy"])
    test = evaluate(model, data.X_test, data.y_test, threshold=threshold)
    assert test["accuracy"] >= 0.75 and test["balanced_accuracy"] >= 0.65


def _calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.5, 4.0, n)
    return p, (rng.random(n) < p).astype(int)


def test_bootstrap_margins_are_positive_and_shrink_with_n():
    p_small, y_small = _calibrated_sample(300, 1)
    p_large, y_large = _calibrated_sample(3_000, 2)
    small = bootstrap_margins(p_small, None, y_small, n_boot=40)
    large = bootstrap_margins(p_large, None, y_large, n_boot=40)
    assert set(small) == {
        "roc_auc",
        "pr_auc",
        "balanced_accuracy",
        "accuracy",
        "brier",
        "log_loss",
        "ece",
        "ece_quantile",
    }
    for key in small:
        assert 0 < large[key] < small[key], key
    assert bootstrap_margins(p_small, None, y_small, n_boot=40) == small  # seeded
    one_se = bootstrap_margins(p_small, None, y_small, n_boot=40, multiplier=1.0)
    assert one_se["roc_auc"] == pytest.approx(small["roc_auc"] / 2)


def test_bootstrap_margins_take_a_model(data: Split, model: CalibratedClassifierCV):
    margins = bootstrap_margins(model, data.X_test, data.y_test, n_boot=20)
    direct = bootstrap_margins(
        positive_probability(model, data.X_test), None, data.y_test, n_boot=20
    )
    assert margins == direct
    assert 0 < margins["roc_auc"] < 0.1


def test_bootstrap_margins_refuse_bad_input_and_survive_single_class_resamples():
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_margins(np.array([0.1, 0.2]), None, [0, 1, 1])
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_margins([0.1, 0.9], None, [0, 1], n_boot=1)
    # One positive in four: some resamples hold no positive and are left out of the AUC margin.
    margins = bootstrap_margins([0.1, 0.2, 0.3, 0.9], None, [0, 0, 0, 1], n_boot=30)
    assert np.isfinite(margins["roc_auc"])
    # With a single row every resample is single-class: the AUC margin is undefined.
    assert np.isnan(bootstrap_margins([0.3], None, [1], n_boot=5)["roc_auc"])


def test_importances_rank_an_informative_feature_above_noise():
    rng = np.random.default_rng(5)
    n = 2_000
    X = pd.DataFrame(
        {"noise": rng.normal(size=n), "signal": rng.normal(size=n), "weak": rng.normal(size=n)}
    )
    logit = 2.0 * X["signal"] + 0.4 * X["weak"] - 2.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    fitted = train_calibrated(X[:1_200], y[:1_200], X[1_200:1_600], y[1_200:1_600], FAST)
    ranked = feature_importances(fitted, X[1_600:], y[1_600:], n_repeats=3)
    assert [name for name, _ in ranked] == ["signal", "weak", "noise"]
    assert ranked[0][1] > 0.1 > abs(ranked[-1][1])
    renamed = feature_importances(fitted, X[1_600:], y[1_600:], ["a", "b", "c"], n_repeats=3)
    assert renamed[0][0] == "b"
    # A model fitted on a bare array: columns are named by position.
    arrays = X.to_numpy()
    on_arrays = train_calibrated(
        arrays[:1_200], y[:1_200], arrays[1_200:1_600], y[1_200:1_600], FAST
    )
    unnamed = feature_importances(on_arrays, arrays[1_600:], y[1_600:], n_repeats=3)
    assert unnamed[0][0] == "1"


def test_plots_write_non_empty_png_files(tmp_path, data: Split, model: CalibratedClassifierCV):
    p = positive_probability(model, data.X_test)
    y = data.y_test
    out = tmp_path / "plots"
    paths = [
        plots.plot_confusion_matrix(y, p, out, threshold=0.3),
        plots.plot_roc_curve(y, p, out),
        plots.plot_precision_recall(y, p, out),
        plots.plot_reliability_diagram(y, p, out),
        plots.plot_reliability_diagram(
            y, p, out, n_bins=10, strategy="quantile", filename="rel_q.png"
        ),
        plots.plot_feature_importances([("signal", 0.2), ("noise", -0.01), ("weak", 0.05)], out),
    ]
    assert len({path.name for path in paths}) == len(paths)
    # The same plots written to exact file paths (deeper folders are created).
    deeper = tmp_path / "exact" / "nested"
    paths += [
        plots.confusion_matrix_png(y, p >= 0.3, deeper / "cm.png"),
        plots.roc_curve_png(y, p, deeper / "roc.png"),
        plots.precision_recall_png(y, p, deeper / "pr.png"),
        plots.reliability_diagram_png(y, p, deeper / "rel.png"),
        plots.feature_importances_png([("signal", 0.2)], deeper / "imp.png"),
    ]
    assert sorted(path.name for path in deeper.iterdir()) == [
        "cm.png",
        "imp.png",
        "pr.png",
        "rel.png",
        "roc.png",
    ]
    for path in paths:
        assert path.parent in (out, deeper)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5_000
