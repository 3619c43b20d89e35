"""Platt parameters: validation, a parse that never raises, and one applier (apply_platt) behind
the served probability, a batch and the fit's own measurement."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from viral_pipeline.engine.calibration.maths import apply_platt, fit_platt
from viral_pipeline.engine.calibration.platt import (
    PlattParams,
    calibrate,
    calibrate_many,
    parse_platt_params,
    platt_params_or_error,
    served_probability,
)
from viral_pipeline.engine.calibration.platt_fit import _folds, cross_fitted_probabilities

VALID = {
    "a": -6.5,
    "b": 3.1,
    "version": "platt-2026-11-20",
    "fitted_at": "2026-11-20T04:00:00Z",
    "n_outcomes": 812,
    "ece_before": 0.081,
    "ece_after": 0.012,
    "model_version": "7",
}


def test_round_trip_through_json():
    params = PlattParams.model_validate(VALID)
    assert params.fitted_at == datetime(2026, 11, 20, 4, tzinfo=UTC)
    again = parse_platt_params(params.model_dump_json())
    assert again == params
    assert parse_platt_params(params.model_dump(mode="json")) == params
    assert parse_platt_params(params.model_dump_json().encode()) == params
    assert parse_platt_params(params) is params


def test_optional_fields_and_naive_time():
    params = parse_platt_params(
        {
            "a": -1.0,
            "b": 0.0,
            "version": "v",
            "fitted_at": "2026-11-20T04:00:00",
            "n_outcomes": 1,
            "future_field": "ignored",
        }
    )
    assert params is not None
    assert params.ece_before is None and params.ece_after is None and params.model_version is None
    assert params.fitted_at.tzinfo is not None and params.fitted_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        "",
        "not json",
        b"\xff\xfe",
        42,
        [VALID],
        {k: v for k, v in VALID.items() if k != "a"},
        {k: v for k, v in VALID.items() if k != "fitted_at"},
        {**VALID, "a": 0.0},
        {**VALID, "a": 0.5},
        {**VALID, "a": -0.0},
        {**VALID, "a": float("nan")},
        {**VALID, "b": float("inf")},
        {**VALID, "a": "steep"},
        {**VALID, "n_outcomes": 0},
        {**VALID, "version": ""},
        {**VALID, "fitted_at": "yesterday"},
        {**VALID, "ece_after": 1.5},
        {**VALID, "ece_before": -0.1},
        '{"a": NaN, "b": 1, "version": "v", "fitted_at": "2026-11-20T04:00:00Z", "n_outcomes": 3}',
        json.dumps({**VALID, "a": 2.0}),
    ],
)
def test_missing_malformed_or_out_of_range_parse_to_none(data):
    assert parse_platt_params(data) is None


def test_validation_errors_raise_for_direct_construction():
    with pytest.raises(ValidationError, match="a"):
        PlattParams.model_validate({**VALID, "a": 1.0})
    with pytest.raises(ValidationError):
        PlattParams(a=-1.0, b=float("nan"), version="v", fitted_at=datetime.now(UTC), n_outcomes=5)


def test_calibrate_without_params_returns_the_raw_probability():
    assert calibrate(0.42, None) == (0.42, False)


def test_a_higher_raw_score_gets_a_higher_probability():
    params = PlattParams.model_validate(VALID)  # a < 0
    outputs = [calibrate(raw / 10, params)[0] for raw in range(11)]
    assert outputs == sorted(outputs) and outputs[0] < outputs[-1]


def test_served_batch_and_fit_paths_apply_the_same_sigmoid():
    raw = np.array([0.0, 0.01, 0.3, 0.5, 0.53, 0.99, 1.0])
    steep = PlattParams.model_validate({**VALID, "a": -900.0, "b": 400.0})
    for params in (PlattParams.model_validate(VALID), steep):
        closed_form = [1 / (1 + np.exp(params.a * x + params.b)) for x in raw]
        applied = apply_platt(raw, params.a, params.b)
        assert applied == pytest.approx(closed_form, abs=1e-12)
        batch, calibrated = calibrate_many(raw, params)
        assert calibrated and batch.tolist() == applied.tolist()
        assert [calibrate(x, params) for x in raw] == [(p, True) for p in applied.tolist()]
        served = [served_probability(x, params, 0.5, None) for x in raw]
        assert [s.probability for s in served] == applied.tolist()
        assert {s.source for s in served} == {"outcome_calibration"}
    # The fit measures each held-out pair with the same function, on the other folds' (a, b).
    rng = np.random.default_rng(4)
    scores = rng.uniform(0, 1, 400)
    labels = (rng.uniform(0, 1, 400) < scores).astype(float)
    held = _folds(400, 5, seed=0) == 2
    a, b = fit_platt(scores[~held], labels[~held])
    assert (
        cross_fitted_probabilities(scores, labels, folds=5, seed=0)[held].tolist()
        == apply_platt(scores[held], a, b).tolist()
    )


def test_calibrate_many_without_params_copies_and_refuses_out_of_range():
    raw = np.array([0.0, 0.3, 1.0])
    unchanged, calibrated = calibrate_many(raw, None)
    assert not calibrated and np.array_equal(unchanged, raw) and unchanged is not raw
    for bad in (np.nan, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"0\.\.1, got .* at position 1"):
            calibrate_many(np.array([0.2, bad]), PlattParams.model_validate(VALID))


def test_fit_then_calibrate_agree():
    """Parameters from fit_platt on raw scores in 0..1 give back the observed rates."""
    rng = np.random.default_rng(3)
    raw = rng.uniform(0, 1, 4000)
    labels = rng.uniform(0, 1, 4000) < 1 / (1 + np.exp(-(8 * raw - 5)))
    a, b = fit_platt(raw, labels)
    params = PlattParams(a=a, b=b, version="t", fitted_at=datetime.now(UTC), n_outcomes=len(raw))
    high = raw > 0.8
    predicted = np.mean([calibrate(r, params)[0] for r in raw[high]])
    assert predicted == pytest.approx(labels[high].mean(), abs=0.05)


@pytest.mark.parametrize("raw", [-0.01, 1.01, float("nan"), float("inf")])
def test_calibrate_refuses_a_raw_probability_outside_0_1(raw):
    with pytest.raises(ValueError, match="0..1"):
        calibrate(raw, None)


def test_the_reason_for_unusable_parameters_names_what_is_wrong():
    params = PlattParams.model_validate(VALID)
    assert platt_params_or_error(params.model_dump(mode="json")) == params
    assert "a" in str(platt_params_or_error({**VALID, "a": 0.5}))  # a must be negative
    assert "version" in str(
        platt_params_or_error({k: v for k, v in VALID.items() if k != "version"})
    )
    assert isinstance(platt_params_or_error(None), ValueError)
    assert (
        isinstance(platt_params_or_error(b"{not json"), Exception)
        and parse_platt_params(b"{not json") is None
    )
