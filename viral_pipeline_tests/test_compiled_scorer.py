"""The champion compiled to numpy arrays gives scikit-learn's answers, and a predict run that
serves it (its what-if suggestions included) imports neither scikit-learn, pandas, SciPy nor
MLflow."""

import json
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from structlog.testing import capture_logs

from viral_pipeline.engine.model.classifier import ModelParams, train_calibrated
from viral_pipeline.engine.model.content import USE_COLUMNS
from viral_pipeline.engine.model.creator_history import HISTORY_COLUMNS
from viral_pipeline.engine.model.feature_row import (
    FEATURE_COLUMNS,
    RAW_COLUMNS,
    REQUEST_FEATURE_COLUMNS,
    feature_vector,
)
from viral_pipeline.engine.model.features import build_features
from viral_pipeline.engine.model.scorer import CompiledScorer
from viral_pipeline.ml import compiled as compiled_module
from viral_pipeline.ml.compiled import UnsupportedModel, compile_model
from viral_pipeline.ml.published import PublishedChampion, publish
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import serving_models
from viral_pipeline_tests.bundled_features import bundled_features
from viral_pipeline_tests.prediction_builders import BUNDLED


@pytest.fixture(scope="module")
def bundled():
    return bundled_features()


def _model(bundled, **params):
    _, X, y = bundled
    return train_calibrated(
        X[:6000], y[:6000], X[6000:9000], y[6000:9000], ModelParams(max_iter=40, **params)
    )


def test_feature_vector_equals_build_features_on_the_bundled_set(bundled):
    raw = bundled[0][[*RAW_COLUMNS, *HISTORY_COLUMNS, *USE_COLUMNS]].copy()
    raw.loc[raw.index[::7], "followers"] = np.nan  # the bundled set knows every count: blank some
    raw.loc[raw.index[::5], "verified"] = None
    X = build_features(raw)
    rows = raw.to_dict("records")
    vectors = np.array([feature_vector(row) for row in rows])
    expected = X.to_numpy()
    assert vectors.shape == expected.shape == (len(raw), len(FEATURE_COLUMNS))
    assert np.array_equal(np.isnan(vectors), np.isnan(expected))  # unknowns stay unknown
    assert np.nanmax(np.abs(vectors - expected)) < 1e-12
    # Unknowns kept: tier, log followers, verified, the history of a creator's first video, and
    # the uses of a missing sound or of no topic hashtag.
    unknown = {FEATURE_COLUMNS[i] for i in np.flatnonzero(np.isnan(expected).any(axis=0))}
    assert unknown == {
        "follower_tier",
        "log_followers",
        "verified",
        *HISTORY_COLUMNS[1:5],
        *USE_COLUMNS,
    }


@pytest.mark.parametrize(
    "row",
    [
        {
            "caption": None,
            "hashtags": None,
            "sound_original": None,
            "sound_trend_score": None,
            "duration_s": None,
            "is_slideshow": None,
            "followers": -5,
            "verified": None,
            "posted_at": datetime(2026, 3, 1, 23, 59, 30),
        },
        {
            "caption": "  two   words ",
            "hashtags": ("#FYP", " Food", "día"),
            "sound_original": np.True_,
            "sound_trend_score": "0.5",
            "duration_s": 30,
            "is_slideshow": 1,
            "followers": 999,
            "verified": 0,
            "posted_at": "2026-11-28T16:30:00Z",
        },
        {
            "caption": "x",
            "hashtags": [],
            "sound_original": False,
            "sound_trend_score": float("nan"),
            "duration_s": 7.5,
            "is_slideshow": False,
            "followers": 2_000_000,
            "verified": True,
            "posted_at": datetime(2026, 1, 5, tzinfo=UTC),
        },
    ],
)
def test_feature_vector_matches_on_edge_cases(row):
    import pandas as pd

    expected = build_features(pd.DataFrame([row])).to_numpy()[0]
    got = feature_vector(row)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.nanmax(np.abs(got - expected)) < 1e-12


def test_feature_vector_rejects_bad_rows():
    with pytest.raises(ValueError, match="missing"):
        feature_vector({"caption": "x"})
    row = dict.fromkeys(RAW_COLUMNS, None) | {"posted_at": datetime(2026, 1, 1, tzinfo=UTC)}
    with pytest.raises(TypeError, match="hashtags"):
        feature_vector(row | {"hashtags": "fyp"})
    with pytest.raises(TypeError, match="posted_at"):
        feature_vector(row | {"posted_at": 12})


@pytest.mark.parametrize("classifier", ["hist_gradient_boosting", "logistic_regression"])
def test_compiled_scorer_gives_scikit_learns_probabilities(bundled, classifier):
    _, X, _ = bundled
    model = _model(bundled, classifier=classifier)
    scorer = CompiledScorer.from_bytes(compile_model(model).to_bytes())  # through its stored form
    held_out = X[9000:]
    expected = model.predict_proba(held_out)
    got = scorer.predict_proba(held_out.to_numpy())
    assert np.abs(got - expected).max() < 1e-12
    assert got[:, 1].std() > 0.01  # a model that says something, not a constant
    with pytest.raises(ValueError, match="features"):
        scorer.predict_proba(held_out.to_numpy()[:, :5])


def test_an_ensemble_of_calibrators_is_averaged_like_scikit_learn(bundled):
    _, X, y = bundled
    model = CalibratedClassifierCV(LogisticRegression(max_iter=500), method="sigmoid", cv=3).fit(
        X[:3000].fillna(0), y[:3000]
    )
    # Three members, each with its own pipeline: not what champion_model publishes.
    with pytest.raises(UnsupportedModel, match="pipeline"):
        compile_model(model)


def test_unsupported_models_are_refused(bundled):
    with pytest.raises(UnsupportedModel, match="sigmoid"):
        compile_model(_model(bundled, calibration="isotonic"))
    with pytest.raises(UnsupportedModel):
        compile_model(LogisticRegression())
    with pytest.raises(ValueError, match="scorer"):
        CompiledScorer.from_bytes(_npz_without_format())


def _npz_without_format() -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, kind=np.asarray("trees"))
    return buffer.getvalue()


def test_published_champion_serves_the_compiled_scorer_and_falls_back_to_the_pickle(
    bundled, sqlite_url
):
    raw, X, _ = bundled
    engine = ready_engine(sqlite_url)
    row = raw[[*RAW_COLUMNS, *HISTORY_COLUMNS, *USE_COLUMNS]].iloc[9500].to_dict()
    for calibration, compiled in (("sigmoid", True), ("isotonic", False)):
        model = _model(bundled, calibration=calibration)
        publish(engine, "viral_classifier", calibration, model, 0.2, BUNDLED)
        loaded = PublishedChampion("viral_classifier").get(engine)
        assert loaded.compiled is compiled and loaded.version == calibration
        assert loaded.probability(row) == pytest.approx(
            model.predict_proba(X.iloc[[9500]])[0, 1], abs=1e-12
        )


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
@pytest.mark.parametrize(
    "columns",
    [REQUEST_FEATURE_COLUMNS, (*REQUEST_FEATURE_COLUMNS, *HISTORY_COLUMNS)],
    ids=["request", "request+history"],
)
def test_a_champion_without_the_newer_groups_reads_its_leading_columns(
    bundled, sqlite_url, calibration, columns
):
    """A champion trained before the creator history or content columns existed still serves,
    on the columns it was trained with (compiled, or the pickle)."""
    raw, X, y = bundled
    X = X[list(columns)]
    model = train_calibrated(
        X[:6000],
        y[:6000],
        X[6000:9000],
        y[6000:9000],
        ModelParams(max_iter=40, calibration=calibration),
    )
    publish(ready_engine(sqlite_url), "viral_classifier", "3", model, 0.2, BUNDLED)
    loaded = PublishedChampion("viral_classifier").get(ready_engine(sqlite_url))
    row = raw[[*RAW_COLUMNS, *HISTORY_COLUMNS, *USE_COLUMNS]].iloc[9500].to_dict()
    assert loaded.compiled is (calibration == "sigmoid")
    assert loaded.probability(row) == pytest.approx(
        model.predict_proba(X.iloc[[9500]])[0, 1], abs=1e-12
    )


@pytest.fixture(scope="module")
def gradient_boosting(bundled):
    return _model(bundled)


class _Unserialisable:
    def to_bytes(self) -> bytes:
        raise ValueError("array of an unexpected dtype")


def _renamed_private_field(model):
    # What a scikit-learn release renaming `_predictors` would do to compile_model. It is patched
    # because the installed release cannot have a fitted model that lacks the field yet predicts.
    raise AttributeError("'HistGradientBoostingClassifier' object has no attribute '_predictors'")


def _unsupported(model):
    raise UnsupportedModel("a pipeline step the compiler does not know")


def _unforeseen(model):
    raise KeyError("n_features_in_")  # any error nobody anticipated


@pytest.mark.parametrize(
    ("compile_fails", "error_type", "reason"),
    [
        (_renamed_private_field, "AttributeError", "_predictors"),
        (_unsupported, "UnsupportedModel", "pipeline step"),
        (_unforeseen, "KeyError", "n_features_in_"),
        (lambda model: _Unserialisable(), "ValueError", "unexpected dtype"),  # to_bytes fails
    ],
)
def test_promotion_publishes_the_pickle_alone_when_compilation_raises_anything(
    bundled, gradient_boosting, sqlite_url, monkeypatch, compile_fails, error_type, reason
):
    raw, X, _ = bundled
    model = gradient_boosting  # the champion's kind, which compiles today
    monkeypatch.setattr(compiled_module, "compile_model", compile_fails)
    engine = ready_engine(sqlite_url)
    with capture_logs() as logs:
        publish(engine, "viral_classifier", "8", model, 0.2, BUNDLED)
    (warning,) = [e for e in logs if e["event"].startswith("champion not compiled")]
    assert warning["log_level"] == "warning" and warning["error_type"] == error_type
    assert reason in warning["reason"]
    with engine.connect() as connection:
        stored = connection.execute(sa.select(serving_models)).one()
    assert stored.scorer is None and stored.model_pickle  # the pickle alone
    loaded = PublishedChampion("viral_classifier").get(engine)
    assert loaded.version == "8" and loaded.compiled is False
    row = raw[[*RAW_COLUMNS, *HISTORY_COLUMNS, *USE_COLUMNS]].iloc[9500].to_dict()
    assert loaded.probability(row) == pytest.approx(
        model.predict_proba(X.iloc[[9500]])[0, 1], abs=1e-12
    )


LEAN_RUN = r"""
import json, sys
import dagster as dg
from viral_pipeline.definitions import defs
from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import serving_models
from viral_pipeline.store.predictions import create_request, get_request

engine = ready_engine(get_settings().database_url)
request_id = create_request(engine, {"caption": "pasta #food #fyp", "duration_s": 24,
                                     "creator": {"handle": "chef", "followers": 25000}})
result = defs().resolve_job_def("predict").execute_in_process(
    run_config={"ops": {"normalize": {"config": {"request_id": request_id}}}, **JSON_RUN_LOGS},
    instance=dg.DagsterInstance.ephemeral())
heavy = sorted(m for m in ("sklearn", "pandas", "scipy", "mlflow") if m in sys.modules)
out = get_request(engine, request_id)["result"]
print(json.dumps({"ok": result.success, "heavy": heavy, "ml": out["signals"]["ml"],
                  "suggestions": out["suggestions"]}))
"""


def test_a_predict_run_imports_neither_scikit_learn_pandas_scipy_nor_mlflow(bundled, sqlite_url):
    """What a run imports is paid on every request: keep the heavy libraries out of it."""
    publish(ready_engine(sqlite_url), "viral_classifier", "7", _model(bundled), 0.2, BUNDLED)
    done = subprocess.run(
        [sys.executable, "-c", LEAN_RUN], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["ml"]["available"], report
    assert report["suggestions"]["available"] and report["suggestions"]["best_posting_hour"]
    assert report["heavy"] == [], f"the predict run imported {report['heavy']}"


def test_a_version_number_published_again_elsewhere_is_loaded_again(bundled, tmp_path):
    # A fresh database (or a reset MLflow store) publishes a "1" again: the process that served
    # the old "1" must load the new one, not answer from its cache.
    model, published = _model(bundled), PublishedChampion("viral_classifier")
    old, new = (ready_engine(f"sqlite:///{tmp_path / name}.db") for name in ("old", "new"))
    publish(old, "viral_classifier", "1", model, 0.2, BUNDLED)
    assert published.get(old).threshold == 0.2
    publish(new, "viral_classifier", "1", model, 0.35, BUNDLED)
    assert published.get(new).threshold == 0.35
    assert published.get(old).threshold == 0.2 and published.cached_versions == ["1", "1"]
