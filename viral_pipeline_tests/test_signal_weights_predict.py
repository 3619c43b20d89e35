"""The predict run with learned signal weights: below the minimum of outcomes the fixed weights
serve and the result says so; a served learned version is read per version, with no restart,
and gives the probability itself (no Platt on top); unusable weights fall back to the fixed ones
(warning + Sentry event), never a failed prediction."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from viral_pipeline.api.predictions import PredictionResult
from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.predict import signal_weights_cache
from viral_pipeline.engine.calibration.platt import PlattParams
from viral_pipeline.engine.signals.learned_weights import scores_row
from viral_pipeline.settings import get_settings
from viral_pipeline.store.calibration import save_platt_params
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import signal_weight_versions
from viral_pipeline.store.signal_weights import save_learned_weights
from viral_pipeline.store.versioned_params import save_version
from viral_pipeline_tests.signal_outcomes import insert_signal_outcomes, signal_outcomes
from viral_pipeline_tests.test_calibration_predict import REQUEST, _predict
from viral_pipeline_tests.test_learned_weights import weights


def _engine():
    return ready_engine(get_settings().database_url)


def _learned(version, at, **changes):
    """A version fitted on outcomes where, as here, the judges, the ML signal (no champion) and
    the trends (no trending_sounds yet) were down."""
    seen = {"rules": 0, "trends": 400, "ml": 400, "gemini": 400, "deepseek": 400}
    return weights(version, fitted_at=at, seen_unavailable=seen, **changes)


def test_below_the_minimum_of_outcomes_the_fixed_weights_serve_and_the_result_says_so():
    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    insert_signal_outcomes(_engine(), *signal_outcomes(49, seed=2, truth="ml"))
    calibration = defs.resolve_job_def("calibration_job").execute_in_process(instance=instance)
    fit = calibration.asset_materializations_for_node("signal_weights_fit")[0].metadata
    assert fit["fitted"].value is False and fit["n"].value == 49

    (result,) = _predict(defs, instance, [REQUEST])
    assert result["weights_source"] == "fixed" and result["weights_version"] is None
    assert (
        "fixed weights" in result["weights_note"]
        and "50 reported outcomes of tier 7d" in result["weights_note"]
    )
    # The fixed weights' mean is the score, and the probability is not the learned one's.
    assert result["probability_source"] != "learned_weights"
    assert result["raw_probability"] == pytest.approx(result["score"] / 100, abs=1e-6)
    used = {name: s["weight"] for name, s in result["signals"].items() if s["available"]}
    assert sum(used.values()) == pytest.approx(1.0)


def test_a_served_learned_version_is_read_per_version_and_gives_the_probability_itself():
    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    now = datetime.now(UTC)
    # Platt parameters serve too: they must not be stacked on the learned probability.
    platt = PlattParams(a=-8.0, b=3.0, version="p-1", fitted_at=now, n_outcomes=80)
    save_platt_params(_engine(), platt, "7d")
    first_weights = _learned("w-first", now - timedelta(hours=1))
    save_learned_weights(_engine(), first_weights)
    (first,) = _predict(defs, instance, [REQUEST])
    second_weights = _learned("w-second", now, intercept=-1.0)
    save_learned_weights(_engine(), second_weights)
    (second,) = _predict(defs, instance, [REQUEST])

    for result, served in ((first, first_weights), (second, second_weights)):
        scores = {name: signal["score"] for name, signal in result["signals"].items()}
        expected = float(served.probabilities(scores_row(scores)[None, :])[0])
        assert result["weights_source"] == "learned" and result["weights_version"] == served.version
        assert result["probability_source"] == "learned_weights" and result["platt_version"] is None
        assert result["viral_probability"] == pytest.approx(expected, abs=1e-6)
        assert result["is_calibrated"] is True and "without Platt scaling" in result["weights_note"]
        assert result["probability_note"] == result["weights_note"]
        # The score stays the fixed weights' 0..100 ranking, on one scale across versions.
        assert result["raw_probability"] == pytest.approx(result["score"] / 100, abs=1e-6)
    assert (
        first["score"] == second["score"]
        and first["viral_probability"] < second["viral_probability"]
    )
    assert {"w-first", "w-second"} <= set(signal_weights_cache.cached_versions())
    shown = PredictionResult.model_validate(second)  # the API answers the same fields
    assert shown.weights_source == "learned" and shown.weights_version == "w-second"


def test_a_version_that_never_saw_these_signals_leaves_the_fixed_weights_serving():
    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    never_down = {"rules": 0, "trends": 400, "ml": 0, "gemini": 400, "deepseek": 400}
    version = weights("w-all-up", fitted_at=datetime.now(UTC), seen_unavailable=never_down)
    save_learned_weights(_engine(), version)
    (result,) = _predict(defs, instance, [REQUEST])
    assert result["weights_source"] == "fixed" and result["weights_version"] is None
    assert "w-all-up do not apply: ml is unavailable, and it never was" in result["weights_note"]


def test_unusable_learned_weights_fall_back_to_the_fixed_ones_with_a_warning_and_a_sentry_event(
    sentry_events, capfd
):
    from viral_pipeline.observability import configure_logging

    configure_logging("INFO", force=True)
    version = f"weights-broken-{datetime.now(UTC).timestamp()}"
    document = _learned(version, datetime.now(UTC)).model_dump(mode="json") | {"intercept": "x"}
    save_version(_engine(), signal_weight_versions, version, document, "7d", datetime.now(UTC))
    (result,) = _predict(load_defs(), dg.DagsterInstance.ephemeral(), [REQUEST])
    assert result["weights_source"] == "fixed" and result["probability_source"] != "learned_weights"
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    (warning,) = [
        line
        for line in lines
        if line.get("event") == "learned signal weights unusable, the fixed weights serve"
    ]
    assert (
        warning["level"] == "warning"
        and warning["weights_version"] == version
        and warning["reason"]
    )
    events = [e for e in sentry_events.events() if e.get("tags", {}).get("stage") == "aggregate"]
    assert events and events[-1]["tags"]["weights_version"] == version
