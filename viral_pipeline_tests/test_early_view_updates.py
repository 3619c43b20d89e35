"""The updated prediction after early views: its leakage rule, its model and gate, and the loop on
the simulated source (a prediction, its video announced, the 24 h and 72 h tiers collected by
evaluate_predictions or posted through the API, the update served by GET /api/predictions/{id}),
calibrated and more informative than the best pre-posting probability over many simulated videos."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from viral_pipeline.defs.outcomes.assets import prediction_outcomes
from viral_pipeline.defs.resources import ModelPolicy
from viral_pipeline.defs.updates.assets import update_champion, update_model
from viral_pipeline.defs.updates.checks import update_gate
from viral_pipeline.engine.calibration.maths import ece_noise_floor, expected_calibration_error
from viral_pipeline.engine.calibration.outcomes import EvaluationTier
from viral_pipeline.engine.model.classifier import ModelParams, train_calibrated
from viral_pipeline.engine.model.early_views import (
    EarlyViews,
    early_views_at,
    update_model_name,
    update_vector,
)
from viral_pipeline.engine.model.update_gate import evaluate_update_gate
from viral_pipeline.engine.world.simulated import roc_auc
from viral_pipeline.engine.world.simulated_outcomes import simulated_stats, viral_probability
from viral_pipeline.ml.compiled import compile_model
from viral_pipeline.ml.early_view_training import (
    LABEL,
    measure_update_model,
    simulated_trajectories,
)
from viral_pipeline.ml.early_view_updates import request_raw
from viral_pipeline.ml.published import PublishedChampion
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.outcomes import set_prediction_video, viral_threshold_for
from viral_pipeline.store.prediction_updates import updates_of
from viral_pipeline_tests.prediction_builders import (
    asset_resources,
    scrape_simulated_day,
    succeeded_prediction,
)

POSTED = datetime(2026, 11, 20, 16, tzinfo=UTC)
LEAN_UPDATE = """
import sys
from viral_pipeline.ml.early_view_updates import UpdatePolicy, update_after_outcome
from viral_pipeline.store.db import ready_engine
policy = UpdatePolicy("viral_classifier", "simulated", False)
update = update_after_outcome(ready_engine(sys.argv[1]), policy, sys.argv[2], "24h")
print("updated" if update else "none", "sklearn" in sys.modules, "mlflow" in sys.modules)
"""
SMALL = ModelParams(max_iter=60)


def _payload(i: int, rng: np.random.Generator) -> dict:
    return {
        "caption": f"day {i} of trying the pasta #food #fyp",
        "hashtags": ["recipe", "cooking"][: int(rng.integers(0, 3))],
        "duration_s": int(rng.integers(8, 60)),
        "posted_at": (POSTED + timedelta(minutes=int(rng.integers(-240, 240)))).isoformat(),
        "creator": {"handle": f"c{i}", "followers": int(10 ** rng.uniform(2.5, 6.5))},
    }


def test_an_update_reads_only_the_views_observed_up_to_its_tier():
    raw = request_raw_of(
        {"caption": "pasta #food", "duration_s": 20, "posted_at": POSTED.isoformat()}
    )
    rows = {
        "24h": {
            "evaluation_tier": "24h",
            "views": 40_000,
            "observed_at": POSTED + timedelta(hours=30),
        },
        "72h": {
            "evaluation_tier": "72h",
            "views": 90_000,
            "observed_at": POSTED + timedelta(hours=80),
        },
        "7d": {"evaluation_tier": "7d", "views": 99_000, "observed_at": POSTED + timedelta(days=8)},
    }

    def vector(tier: str, changed: dict) -> np.ndarray:
        outcomes = [rows[t] | changed.get(t, {}) for t in rows]
        early = early_views_at(tier, POSTED, outcomes)
        assert early is not None
        return update_vector(raw, early)

    at_24h = vector("24h", {})
    # Later tiers never move the 24 h update; the 7 d views (the label) never move the 72 h one.
    assert np.array_equal(
        at_24h, vector("24h", {"72h": {"views": 1}, "7d": {"views": 10**9}}), equal_nan=True
    )
    at_72h = vector("72h", {})
    assert np.array_equal(at_72h, vector("72h", {"7d": {"views": 1}}), equal_nan=True)
    assert not np.array_equal(at_72h, vector("72h", {"24h": {"views": 1}}), equal_nan=True)
    assert early_views_at("7d", POSTED, list(rows.values())) is None
    assert early_views_at("72h", POSTED, [rows["24h"]]) is None
    # The reading's age stays within the tier's collection window, whatever clock it carries.
    late = early_views_at(
        "24h", POSTED, [rows["24h"] | {"observed_at": POSTED + timedelta(days=9)}]
    )
    assert late is not None and late.hours_observed == 36.0
    # Without the 24 h reading, the 72 h update has no growth (NaN), as trained.
    alone = early_views_at("72h", POSTED, [rows["72h"]])
    assert alone is not None and alone.views_24h is None
    assert np.isnan(update_vector(raw, alone)[-2:]).all()


def request_raw_of(payload: dict) -> dict:
    return request_raw(ready_engine(get_settings().database_url), payload, POSTED)


@pytest.fixture(scope="module")
def trajectories():
    return simulated_trajectories(date(2026, 11, 10), 10, 400, quantile=0.9, window_days=1)


def _fit(training, labels_shuffled: bool = False):
    X_train, y_train = training.part("train")
    X_calib, y_calib = training.part("calibration")
    if labels_shuffled:  # a model that learned nothing: labels unrelated to its rows
        y_train = y_train.sample(frac=1.0, random_state=0).to_numpy()
        y_calib = y_calib.sample(frac=1.0, random_state=1).to_numpy()
    return train_calibrated(X_train, y_train, X_calib, y_calib, SMALL)


def test_the_gate_passes_an_informative_calibrated_update_model_and_fails_a_bad_one(trajectories):
    frame = trajectories.frame
    assert set(frame["tier"]) == {"24h", "72h"} and abs(frame[LABEL].mean() - 0.1) < 0.02
    good = measure_update_model(_fit(trajectories), trajectories, n_boot=50)
    verdict = evaluate_update_gate(
        good.metrics_by_tier, ModelPolicy.from_settings(get_settings()).gate_thresholds()
    )
    assert verdict.passed, verdict.summary()
    assert {"24h_roc_auc", "72h_ece", "24h_brier"} <= {c.name for c in verdict.checks}

    bad = measure_update_model(_fit(trajectories, labels_shuffled=True), trajectories, n_boot=50)
    refused = evaluate_update_gate(bad.metrics_by_tier)
    assert not refused.passed
    assert {"24h_roc_auc", "72h_roc_auc"} <= {c.name for c in refused.failed}
    # Better than what serves is demanded too: the bad model regresses against the good one.
    against = evaluate_update_gate(
        good.metrics_by_tier, None, bad.metrics_by_tier, good.margins_by_tier
    )
    assert against.passed
    assert not evaluate_update_gate(
        bad.metrics_by_tier, None, good.metrics_by_tier, bad.margins_by_tier
    ).passed


def test_the_compiled_update_model_gives_scikit_learns_answers(trajectories):
    model = _fit(trajectories)
    X_test, _ = trajectories.part("test")
    compiled = compile_model(model)
    assert np.allclose(
        compiled.predict_proba(X_test.to_numpy()), model.predict_proba(X_test), atol=1e-12
    )


def _train_update_model(resources: dict, **config) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [update_model, update_gate, update_champion],
        resources=resources,
        run_config={
            "ops": {
                "update_model": {
                    "config": {
                        "days": 10,
                        "videos_per_day": 400,
                        "last_day": "2026-11-10",
                        "max_iter": 60,
                        **config,
                    }
                }
            }
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _collect(resources: dict, now: datetime) -> dict:
    result = dg.materialize(
        [prediction_outcomes],
        resources=resources,
        run_config={"ops": {"prediction_outcomes": {"config": {"now": now.isoformat()}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    (event,) = result.asset_materializations_for_node("prediction_outcomes")
    return {key: value.value for key, value in event.metadata.items()}


def test_the_24h_and_72h_outcomes_bring_calibrated_updates_on_the_simulated_source(
    sqlite_url, api_client
):
    engine = ready_engine(sqlite_url)
    resources = asset_resources(sqlite_url)
    scrape_simulated_day(engine, POSTED.date(), n=400)  # the posting day's viral threshold
    rng = np.random.default_rng(3)
    ids = [succeeded_prediction(engine, _payload(i, rng)) for i in range(4)]
    for i, request_id in enumerate(ids):
        set_prediction_video(engine, request_id, str(7_400_000_000_000_000_100 + i), None)

    # No update model yet: the 24 h tier is collected, no update is stored (the log says why).
    early = _collect(resources, POSTED + timedelta(hours=25))
    assert early["collected_24h"] >= 3 and early["updated"] == 0
    assert all(updates_of(engine, request_id) == [] for request_id in ids)

    trained = _train_update_model(resources)
    assert trained.success
    (check,) = trained.get_asset_check_evaluations()
    assert check.passed
    published = PublishedChampion(update_model_name(get_settings().model_name)).get(engine)
    assert published.compiled and published.trained_on.dataset == "simulated_curves"

    # At 73 h the 72 h tier is collected, and now brings its update.
    later = _collect(resources, POSTED + timedelta(hours=73))
    assert later["updated"] == later["collected_72h"] >= 3
    answered = api_client.get(f"/api/predictions/{ids[0]}").json()
    assert [u["tier"] for u in answered["updates"]] in (["72h"], [])
    for request_id in ids:
        for update in updates_of(engine, request_id):
            assert 0.0 <= update["viral_probability_7d"] <= 1.0
            assert update["model_version"] == published.version

    with engine.connect() as connection:
        threshold = viral_threshold_for(connection, POSTED, quantile=0.9)
    assert threshold is not None
    # A 24 h outcome posted through the API brings its update, which GET then shows.
    fresh = succeeded_prediction(engine, _payload(9, rng))
    posted = api_client.post(
        "/api/outcomes",
        json={
            "request_id": fresh,
            "evaluation_tier": "24h",
            "views": int(2 * threshold.views),
            "video_id": "7400000000000000999",
        },
    )
    assert posted.status_code == 201, posted.text
    answered = api_client.get(f"/api/predictions/{fresh}").json()
    (update,) = answered["updates"]
    assert update["tier"] == "24h" and update["model_version"] == published.version
    assert 0.5 < update["viral_probability_7d"] <= 1.0  # twice the day's threshold at 24 h already
    # The outcome path scores the compiled arrays: a fresh process computing an update imports
    # neither scikit-learn nor MLflow.
    lean = subprocess.run(
        [sys.executable, "-c", LEAN_UPDATE, sqlite_url, fresh],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert lean.returncode == 0, lean.stderr
    assert lean.stdout.split()[-3:] == ["updated", "False", "False"], lean.stdout
    assert (
        "updates"
        in api_client.get("/openapi.json").json()["components"]["schemas"]["PredictionStatus"][
            "properties"
        ]
    )

    # Over many simulated videos, the served update is calibrated and ranks far better than the
    # best probability any pre-posting model could reach (the simulated world's knowable one).
    p_update, p_before, labels = [], [], []
    for i in range(3000):
        payload = _payload(i, rng)
        posted_at = datetime.fromisoformat(payload["posted_at"])
        video_id = str(7_500_000_000_000_000_000 + i)
        age = 24 + 12 * rng.random()
        at_24h = simulated_stats(video_id, payload, posted_at, posted_at + timedelta(hours=age))
        at_7d = simulated_stats(video_id, payload, posted_at, posted_at + timedelta(days=7))
        if at_24h is None or at_7d is None:
            continue
        vector = update_vector(
            request_raw(engine, payload, posted_at),
            EarlyViews(EvaluationTier.HOURS_24, age, at_24h.views),
        )
        p_update.append(published.model.predict_proba(vector[None, :])[0, 1])
        p_before.append(viral_probability(payload, posted_at, threshold.views))
        labels.append(threshold.is_viral(at_7d.views))
    p, y = np.array(p_update), np.array(labels, dtype=int)
    assert 0.05 < y.mean() < 0.4
    ece = expected_calibration_error(y, p, n_bins=15, strategy="uniform")
    assert ece <= max(0.05, 2 * ece_noise_floor(len(p), n_bins=15, y_prob=p, n_sims=50)), ece
    assert roc_auc(p, y) > roc_auc(np.array(p_before), y) + 0.1


def test_a_failing_gate_keeps_the_update_model_from_serving(sqlite_url, monkeypatch):
    # A gate that no model can pass (ROC AUC above 1): the version is registered, never served.
    monkeypatch.setenv("GATE_MIN_ROC_AUC", "1.0")
    get_settings.cache_clear()
    engine = ready_engine(sqlite_url)
    trained = _train_update_model(asset_resources(sqlite_url), days=6, videos_per_day=300)
    (check,) = trained.get_asset_check_evaluations()
    assert not check.passed
    assert "24h_roc_auc" in check.metadata["failed_checks"].value
    with pytest.raises(LookupError):
        PublishedChampion(update_model_name(get_settings().model_name)).get(engine)
