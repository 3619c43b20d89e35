"""The loop, unattended, on the simulated source: real predictions with a published champion →
their videos announced → `evaluate_predictions_job` collects the 7d outcomes → `calibration_job`
fits and publishes Platt parameters (and the learned signal weights when they beat the fixed ones)
→ the next prediction comes back calibrated, saying which weights served."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import pytest

from viral_pipeline.dagster_logging import JSON_RUN_LOGS
from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.engine.model.classifier import ModelParams, train_calibrated
from viral_pipeline.engine.signals.learned_weights import learned_weights_or_error, scores_row
from viral_pipeline.ml.published import publish
from viral_pipeline.settings import get_settings
from viral_pipeline.store.calibration import latest_platt
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.outcomes import outcomes_of, set_prediction_video
from viral_pipeline.store.signal_weights import latest_learned_weights
from viral_pipeline_tests.bundled_features import bundled_features
from viral_pipeline_tests.prediction_builders import BUNDLED, scrape_simulated_day
from viral_pipeline_tests.test_calibration_predict import _predict

POSTED = datetime(2026, 11, 20, tzinfo=UTC)


def _requests(n: int, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "caption": f"day {i} of trying the pasta #food #fyp",
            "hashtags": ["recipe", "cooking"][: int(rng.integers(0, 3))],
            "duration_s": int(rng.integers(8, 60)),
            "posted_at": (POSTED + timedelta(hours=int(rng.integers(8, 22)))).isoformat(),
            # Reach drives the simulated world's plays, as it does TikTok's: from nano to mega.
            "creator": {"handle": f"c{i}", "followers": int(10 ** rng.uniform(2.5, 6.5))},
        }
        for i in range(n)
    ]


def test_predictions_outcomes_calibration_then_calibrated_predictions_on_the_simulated_source():
    engine = ready_engine(get_settings().database_url)
    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    scrape_simulated_day(
        engine, date(2026, 11, 20), n=600
    )  # the day's viral threshold comes from here
    _, X, y = bundled_features()  # every feature group, as the ml_model asset trains on
    model = train_calibrated(
        X[:8000], y[:8000], X[8000:11000], y[8000:11000], ModelParams(max_iter=60)
    )
    publish(engine, get_settings().model_name, "1", model, 0.2, BUNDLED)

    # 160 outcomes: at 80, a Platt fit's cross-fitted ECE is within noise of the gate's
    # noise-scaled bound, so whether the loop's calibration step passes would be a coin toss.
    first = _predict(defs, instance, _requests(160))
    assert all(r["signals"]["ml"]["available"] for r in first)
    # Before any outcome-fitted calibration, the probability served is the champion's own.
    assert all(
        r["probability_source"] == "champion_model" and r["platt_version"] is None for r in first
    )
    assert all(
        r["model_trained_on"]["dataset"] == "bundled" and not r["model_source_mismatch"]
        for r in first
    )
    with engine.connect() as connection:
        ids = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT request_id FROM prediction_requests ORDER BY id"
            )
        ]
    for i, request_id in enumerate(ids):  # the backend announces each posted video
        set_prediction_video(engine, request_id, str(7_400_000_000_000_000_000 + i), None)

    # Eight days later the hourly job finds the 7d tier due and collects it through the source.
    collect = defs.resolve_job_def("evaluate_predictions_job").execute_in_process(
        instance=instance,
        run_config={
            "ops": {
                "prediction_outcomes": {"config": {"now": (POSTED + timedelta(days=8)).isoformat()}}
            },
            **JSON_RUN_LOGS,
        },
    )
    assert collect.success
    collected = [o for rid in ids for o in outcomes_of(engine, rid) if o["evaluation_tier"] == "7d"]
    assert len(collected) >= 150 and 0 < sum(o["is_viral"] for o in collected) < len(collected)

    calibration = defs.resolve_job_def("calibration_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    checks = {c.check_name: c for c in calibration.get_asset_check_evaluations()}
    check = checks["calibration_improves"]
    assert check.passed, check.metadata
    fit = calibration.asset_materializations_for_node("platt_calibration")[0].metadata
    assert fit["ece_after"].value <= fit["ece_before"].value
    assert latest_platt(engine) is not None

    (after,) = _predict(defs, instance, _requests(1, seed=9))
    assert after["is_calibrated"] is True
    assert after["viral_probability"] != after["raw_probability"]
    # The learned signal weights, fitted in the same job on the same 7d outcomes, serve in Platt's
    # place when they beat the fixed weights on held-out outcomes by the gate's margin (at 160
    # outcomes they usually do not); either way the result says which served.
    learned = checks["learned_weights_beat_fixed"]
    if learned.passed:
        stored = latest_learned_weights(engine)
        weights = learned_weights_or_error(stored.params)
        scores = {name: signal["score"] for name, signal in after["signals"].items()}
        assert after["probability_source"] == "learned_weights" and after["platt_version"] is None
        assert after["weights_source"] == "learned" and after["weights_version"] == stored.version
        assert after["viral_probability"] == pytest.approx(
            float(weights.probabilities(scores_row(scores)[None, :])[0]), abs=1e-6
        )
    else:
        assert after["probability_source"] == "outcome_calibration" and after["platt_version"]
        assert after["weights_source"] == "fixed" and after["weights_version"] is None
