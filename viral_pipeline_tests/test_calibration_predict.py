"""The prediction path with Platt parameters: picked up per version without a restart, unusable
ones falling back to uncalibrated (warning + Sentry event), and the whole loop end to end:
predictions → outcomes → platt_calibration → a calibrated prediction."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pytest
import sqlalchemy as sa

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.predict import platt_cache
from viral_pipeline.engine.calibration.maths import apply_platt
from viral_pipeline.engine.calibration.platt import PlattParams
from viral_pipeline.settings import get_settings
from viral_pipeline.store.calibration import latest_platt, save_platt_params
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import platt_calibrations
from viral_pipeline_tests.calibration_rows import insert_outcome
from viral_pipeline_tests.prediction_builders import run_predictions

REQUEST = {
    "caption": "Wait for the end: the 10-minute pasta that broke my kitchen #food #recipe #fyp",
    "hashtags": ["easyrecipe", "cooking"],
    "duration_s": 24,
    "posted_at": "2026-11-28T16:30:00Z",
    "creator": {"handle": "@chef", "followers": 25000, "verified": False},
    "hook": "I tried the viral pasta so you don't have to",
}


def _engine():
    return ready_engine(get_settings().database_url)


def _predict(defs, instance, payloads):
    """The stored result of each request, run through the sensor and the predict job."""
    return [result for result, _ in run_predictions(defs, instance, _engine(), payloads)]


def _params(version, a=-8.0, b=3.0, at=None):
    return PlattParams(
        a=a,
        b=b,
        version=version,
        fitted_at=at or datetime.now(UTC),
        n_outcomes=500,
        ece_before=0.2,
        ece_after=0.01,
        model_version="1",
    )


def _store_raw(version, document, at):
    with _engine().begin() as connection:
        connection.execute(
            sa.insert(platt_calibrations).values(
                version=version, params=document, evaluation_tier="7d", fitted_at=at
            )
        )


def test_without_parameters_the_prediction_is_uncalibrated_and_nothing_is_reported(
    sentry_events, capfd
):
    (result,) = _predict(load_defs(), dg.DagsterInstance.ephemeral(), [REQUEST])
    assert result["is_calibrated"] is False and result["platt_version"] is None
    # No champion here either: a weighted mean of scores is not a probability, so none is given.
    assert (
        result["viral_probability"] is None and "no Platt parameters" in result["probability_note"]
    )
    assert result["raw_probability"] == pytest.approx(result["score"] / 100, abs=1e-6)
    assert sentry_events.events() == []
    assert "platt parameters unusable" not in capfd.readouterr().err


def test_a_new_version_is_picked_up_by_the_next_prediction_in_the_same_process():
    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    now = datetime.now(UTC)
    save_platt_params(
        _engine(), _params("v-first", a=-8.0, b=3.0, at=now - timedelta(hours=1)), "7d"
    )
    (first,) = _predict(defs, instance, [REQUEST])
    save_platt_params(_engine(), _params("v-second", a=-4.0, b=1.0, at=now), "7d")
    (second,) = _predict(defs, instance, [REQUEST])
    assert first["platt_version"] == "v-first" and second["platt_version"] == "v-second"
    assert first["is_calibrated"] and second["is_calibrated"]
    assert first["probability_source"] == second["probability_source"] == "outcome_calibration"
    raw = first["raw_probability"]
    assert second["raw_probability"] == raw
    assert first["viral_probability"] == pytest.approx(float(apply_platt(raw, -8.0, 3.0)), abs=1e-6)
    assert second["viral_probability"] == pytest.approx(
        float(apply_platt(raw, -4.0, 1.0)), abs=1e-6
    )
    assert {"v-first", "v-second"} <= set(platt_cache.cached_versions())


@pytest.mark.parametrize(
    "document",
    [
        {
            "a": 0.7,
            "b": 1.0,
            "version": "bad",
            "fitted_at": "2026-11-20T04:00:00Z",
            "n_outcomes": 80,
        },  # a >= 0
        {
            "a": float("nan"),
            "b": 1.0,
            "version": "bad",
            "fitted_at": "2026-11-20T04:00:00Z",
            "n_outcomes": 80,
        },
        {
            "b": 1.0,
            "version": "bad",
            "fitted_at": "2026-11-20T04:00:00Z",
            "n_outcomes": 80,
        },  # a missing
        "not a parameter document",
    ],
    ids=["positive-slope", "nan", "missing-field", "not-json-object"],
)
def test_unusable_parameters_fall_back_with_a_warning_and_a_sentry_event(
    document, sentry_events, capfd
):
    from viral_pipeline.observability import configure_logging

    configure_logging("INFO", force=True)
    version = f"platt-broken-{datetime.now(UTC).timestamp()}"
    _store_raw(version, document, datetime.now(UTC))
    (result,) = _predict(load_defs(), dg.DagsterInstance.ephemeral(), [REQUEST])
    assert result["is_calibrated"] is False and result["platt_version"] is None
    assert result["viral_probability"] is None and result["probability_source"] is None
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    (warning,) = [
        line
        for line in lines
        if line.get("event") == "platt parameters unusable, prediction stays uncalibrated"
    ]
    assert (
        warning["level"] == "warning" and warning["platt_version"] == version and warning["reason"]
    )
    events = [e for e in sentry_events.events() if e.get("tags", {}).get("stage") == "calibrate"]
    assert (
        events
        and events[-1]["tags"]["platt_version"] == version
        and events[-1]["level"] == "warning"
    )


def _varied_requests(n, seed=0):
    """Requests that differ in what the rules and trends look at, so raw probabilities spread."""
    rng = np.random.default_rng(seed)
    tags = [
        "fyp",
        "food",
        "recipe",
        "cooking",
        "viral",
        "easyrecipe",
        "pasta",
        "dinner",
        "foodtok",
        "chef",
    ]
    out = []
    for i in range(n):
        k = int(rng.integers(0, 9))
        out.append(
            {
                "caption": " ".join(["pasta"] * int(rng.integers(1, 30)))
                + f" #{tags[i % len(tags)]}",
                "hashtags": tags[:k],
                "duration_s": int(rng.integers(3, 180)),
                "posted_at": (
                    datetime(2026, 11, 28, tzinfo=UTC) + timedelta(hours=int(rng.integers(0, 24)))
                ).isoformat(),
                "creator": {"handle": f"@c{i}", "followers": int(rng.integers(100, 1_000_000))},
            }
        )
    return out


def test_end_to_end_predictions_outcomes_calibration_then_a_calibrated_prediction():
    """From a clean instance: 60 real predictions, their 7d outcomes, calibration_job, then a new
    prediction comes back calibrated with the version that was just fitted."""
    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    results = _predict(defs, instance, _varied_requests(60))
    raw = np.array([r["raw_probability"] for r in results])
    assert all(r["is_calibrated"] is False for r in results) and raw.std() > 0.01
    # What happened to the videos: a top-decile-like outcome that rises steeply with the raw score.
    rng = np.random.default_rng(1)
    z = (raw - raw.mean()) / raw.std()
    viral = rng.random(raw.size) < 1 / (1 + np.exp(-(2.0 * z - 1.8)))
    with _engine().connect() as connection:
        ids = [
            row.request_id
            for row in connection.execute(
                sa.text("select request_id from prediction_requests order by id")
            )
        ]
    for request_id, label in zip(ids, viral):
        insert_outcome(_engine(), request_id, bool(label))

    # The outcomes follow the fixed weights' aggregate itself: the learned signal weights, fitted
    # in the same job, may fail their own blocking check and fail the run; Platt's branch publishes.
    calibration = defs.resolve_job_def("calibration_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    checks = {c.check_name: c for c in calibration.get_asset_check_evaluations()}
    assert checks["calibration_improves"].passed, checks["calibration_improves"].metadata
    assert calibration.asset_materializations_for_node("serving_calibration")
    stored = latest_platt(_engine())
    assert stored is not None

    (after,) = _predict(defs, instance, [REQUEST])
    assert after["is_calibrated"] is True and after["platt_version"] == stored.version
    a, b = stored.params["a"], stored.params["b"]
    assert after["viral_probability"] == pytest.approx(
        float(apply_platt(after["raw_probability"], a, b)), abs=1e-6
    )
    # The API shows the same result, raw probability and version included.
    from viral_pipeline.api.predictions import PredictionResult

    shown = PredictionResult.model_validate(after)
    assert (
        shown.is_calibrated
        and shown.platt_version == stored.version
        and shown.raw_probability is not None
    )
