"""Platt parameters: validation, a parse that never raises, and calibrate = apply_platt."""

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
    parse_platt_params,
    platt_params_or_error,
)

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


def test_calibrate_applies_apply_platt():
    params = PlattParams.model_validate(VALID)
    for raw in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
        probability, calibrated = calibrate(raw, params)
        assert calibrated is True
        assert probability == pytest.approx(float(apply_platt(raw, params.a, params.b)), abs=1e-15)
        assert probability == pytest.approx(1 / (1 + np.exp(params.a * raw + params.b)))
    # Steep parameters push a·s + b far to both sides: no overflow, same answers.
    steep = PlattParams.model_validate({**VALID, "a": -900.0, "b": 450.0})
    for raw in (0.0, 0.3, 0.5, 0.7, 1.0):
        assert calibrate(raw, steep)[0] == pytest.approx(
            float(apply_platt(raw, steep.a, steep.b)), abs=1e-15
        )
    # a < 0: a higher raw score always means a higher probability.
    outputs = [calibrate(raw / 10, params)[0] for raw in range(11)]
    assert outputs == sorted(outputs)


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
