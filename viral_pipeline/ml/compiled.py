"""Compile a fitted champion (see engine/model/classifier.py) into a `CompiledScorer`.

Supported: CalibratedClassifierCV(sigmoid) over Pipeline[SimpleImputer(add_indicator=True),
HistGradientBoostingClassifier] or Pipeline[SimpleImputer, StandardScaler, LogisticRegression],
binary and without categorical features: what `build_classifier` builds. Anything else raises
`UnsupportedModel`, and the pickled model serves instead (slower to load, same answers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viral_pipeline.engine.model.scorer import CompiledScorer


class UnsupportedModel(ValueError):
    """The model's structure is not one the compiled scorer reproduces."""


def _imputer_arrays(imputer: Any) -> dict[str, Any]:
    if getattr(imputer, "strategy", None) not in ("median", "mean", "most_frequent", "constant"):
        raise UnsupportedModel(f"imputer {imputer!r}")
    statistics = np.asarray(imputer.statistics_, dtype=float)
    kept = (
        ~np.isnan(statistics)
        if not getattr(imputer, "keep_empty_features", False)
        else np.ones_like(statistics, dtype=bool)
    )
    indicator = getattr(imputer, "indicator_", None)
    flagged = (
        np.asarray(indicator.features_, dtype=np.int64)
        if indicator is not None
        else np.zeros(0, np.int64)
    )
    if indicator is not None and indicator.features != "missing-only":
        raise UnsupportedModel("only missing-only indicators are supported")
    return {
        "n_features": statistics.size,
        "fill": np.nan_to_num(statistics),
        "kept": kept,
        "flagged": flagged,
    }


def _tree_arrays(hgb: Any) -> dict[str, Any]:
    if (
        getattr(hgb, "n_trees_per_iteration_", 1) != 1
        or getattr(hgb, "is_categorical_", None) is not None
        and np.any(hgb.is_categorical_)
    ):
        raise UnsupportedModel(
            "only binary gradient boosting without categorical features is supported"
        )
    nodes = [tree.nodes for trees in hgb._predictors for tree in trees]
    offsets = np.cumsum([0] + [len(n) for n in nodes[:-1]]).astype(np.int64)
    allnodes = np.concatenate(nodes)
    if np.any(allnodes["is_categorical"]):
        raise UnsupportedModel("categorical splits are not supported")
    shift = np.repeat(offsets, [len(n) for n in nodes])
    return {
        "kind": "trees",
        "baseline": float(np.asarray(hgb._baseline_prediction).ravel()[0]),
        "roots": offsets,
        "feature": allnodes["feature_idx"].astype(np.int64),
        "threshold": allnodes["num_threshold"].astype(float),
        "missing_left": allnodes["missing_go_to_left"].astype(bool),
        "left": allnodes["left"].astype(np.int64) + shift,
        "right": allnodes["right"].astype(np.int64) + shift,
        "is_leaf": allnodes["is_leaf"].astype(bool),
        "value": allnodes["value"].astype(float),
        "max_depth": int(allnodes["depth"].max()),
    }


def _pipeline_arrays(pipeline: Any) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    steps = [step for _, step in pipeline.steps]
    arrays = _imputer_arrays(steps[0])
    if len(steps) == 2 and isinstance(steps[1], HistGradientBoostingClassifier):
        return {**arrays, **_tree_arrays(steps[1])}
    if (
        len(steps) == 3
        and isinstance(steps[1], StandardScaler)
        and isinstance(steps[2], LogisticRegression)
    ):
        scaler, logreg = steps[1], steps[2]
        if logreg.coef_.shape[0] != 1:
            raise UnsupportedModel("only a binary logistic regression is supported")
        return {
            **arrays,
            "kind": "linear",
            "mean": np.asarray(scaler.mean_, dtype=float),
            "scale": np.asarray(scaler.scale_, dtype=float),
            "coef": logreg.coef_[0].astype(float),
            "intercept": float(logreg.intercept_[0]),
        }
    raise UnsupportedModel(f"pipeline steps {[type(s).__name__ for s in steps]}")


def compile_model(model: Any) -> CompiledScorer:
    """The compiled form of a fitted, sigmoid-calibrated champion; raises UnsupportedModel."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

    if not isinstance(model, CalibratedClassifierCV) or model.method != "sigmoid":
        raise UnsupportedModel(
            f"expected a sigmoid CalibratedClassifierCV, got {type(model).__name__}"
        )
    members = model.calibrated_classifiers_
    pipelines = [
        getattr(m.estimator, "estimator", m.estimator) for m in members
    ]  # FrozenEstimator wraps it
    if any(p is not pipelines[0] for p in pipelines) or not isinstance(pipelines[0], Pipeline):
        raise UnsupportedModel("every calibrated member must share one fitted pipeline")
    calibrators = [m.calibrators[0] for m in members]
    arrays = _pipeline_arrays(pipelines[0])
    return CompiledScorer(
        platt_a=np.array([c.a_ for c in calibrators], dtype=float),
        platt_b=np.array([c.b_ for c in calibrators], dtype=float),
        **arrays,
    )
