"""platt_calibration → calibration_improves (blocking) → serving_calibration, and calibration_audit:
materialized for real (calibration_job in a Dagster instance) on SQLite and PostgreSQL, with a
real MLflow store in the test's temporary folder."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.engine.calibration.maths import apply_platt
from viral_pipeline.engine.calibration.platt import parse_platt_params
from viral_pipeline.engine.calibration.platt_fit import (
    MIN_ECE_THRESHOLD,
    calibration_verdict,
    fit_calibration,
    platt_version,
)
from viral_pipeline.ml.calibration_tracking import EXPERIMENT, VERDICT_TAG
from viral_pipeline.ml.tracking import client
from viral_pipeline.settings import get_settings
from viral_pipeline.store.calibration import audits, latest_platt, load_calibration_pairs
from viral_pipeline.store.db import ready_engine
from viral_pipeline_tests.calibration_rows import (
    insert_outcome,
    insert_pairs,
    insert_prediction,
    miscalibrated_pairs,
)


@pytest.fixture
def db(monkeypatch, any_db_url):
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    get_settings.cache_clear()
    return ready_engine(any_db_url)


def _run(instance=None, selection=None):
    defs = load_defs()
    job = defs.resolve_job_def("calibration_job")
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=selection,
    )


def _platt_check(result):
    """calibration_improves' evaluation (the job also fits the learned signal weights)."""
    return next(
        c for c in result.get_asset_check_evaluations() if c.check_name == "calibration_improves"
    )


def _meta(result, node):
    return {
        key: value.value
        for key, value in result.asset_materializations_for_node(node)[0].metadata.items()
    }


# ---- the engine rule -------------------------------------------------------------------


def test_cross_fitted_ece_after_beats_before_and_the_verdict_scales_with_n():
    raw, labels = miscalibrated_pairs(1000, seed=3)
    fit = fit_calibration(raw, labels)
    assert fit.a < 0 and fit.ece_after < fit.ece_before / 3
    assert fit.ece_after_equal_mass < fit.ece_before_equal_mass
    assert fit.ece_threshold == max(MIN_ECE_THRESHOLD, 1.5 * fit.noise_floor)
    assert calibration_verdict(fit).passed and calibration_verdict(fit).reasons == []
    small = fit_calibration(*miscalibrated_pairs(50, seed=3))
    assert small.noise_floor > 2 * fit.noise_floor  # the threshold loosens where noise is larger


def test_anti_correlated_labels_fail_the_verdict_with_reasons():
    raw, labels = miscalibrated_pairs(300, seed=1)
    fit = fit_calibration(raw, ~labels)
    verdict = calibration_verdict(fit)
    assert not verdict.passed and not verdict.slope_negative
    assert "slope a is not negative" in verdict.reasons


def test_too_few_pairs_to_cross_fit_are_refused_and_versions_sort_by_time():
    with pytest.raises(ValueError, match="at least 10 pairs"):
        fit_calibration([0.1] * 9, [0] * 9)
    early, late = datetime(2026, 1, 2, 5, tzinfo=UTC), datetime(2026, 1, 2, 5, 0, 0, 1, tzinfo=UTC)
    assert (
        platt_version("7d", early) < platt_version("7d", late) == "platt-7d-20260102T050000000001Z"
    )


# ---- the store -------------------------------------------------------------------------


def test_pairs_join_outcomes_of_the_tier_with_succeeded_predictions(db):
    kept = insert_prediction(db, 0.42, served=0.12, model_version="3", platt_version="v1")
    insert_outcome(db, kept, True)
    insert_outcome(db, kept, False, tier="24h")  # another tier: not in the 7d pairs
    pending = insert_prediction(db, None, status="queued")
    insert_outcome(db, pending, True)
    older = insert_prediction(db, None)  # a result from before raw_probability was recorded
    insert_outcome(db, older, True)
    (pair,) = load_calibration_pairs(db, "7d")
    assert (pair.request_id, pair.raw_probability, pair.served_probability, pair.is_viral) == (
        kept,
        0.42,
        0.12,
        True,
    )
    assert (
        pair.model_version == "3"
        and pair.platt_version == "v1"
        and pair.created_at.tzinfo is not None
    )
    assert [p.is_viral for p in load_calibration_pairs(db, "24h")] == [False]
    assert load_calibration_pairs(db, "7d", since=datetime.now(UTC) + timedelta(hours=1)) == []


# ---- the 50-outcome threshold ----------------------------------------------------------


@pytest.mark.parametrize("n, fitted", [(49, False), (50, True)])
def test_fewer_than_50_outcomes_fit_nothing_and_50_fit(db, n, fitted):
    insert_pairs(db, *miscalibrated_pairs(n, seed=0))
    result = _run()
    assert result.success
    meta = _meta(result, "platt_calibration")
    assert meta["fitted"] is fitted and meta["n"] == n and meta["min_outcomes"] == 50
    serving = _meta(result, "serving_calibration")
    if not fitted:
        assert "not yet possible" in meta["reason"] and "49 outcomes" in meta["reason"]
        assert latest_platt(db) is None and serving["published"] is False
        check = _platt_check(result)
        assert check.passed and check.metadata["fitted"].value is False
        return
    stored = latest_platt(db)
    assert (
        serving["published"] is True
        and stored.version == meta["version"] == serving["serving_version"]
    )
    params = parse_platt_params(stored.params)
    assert (
        params.n_outcomes == 50
        and params.a == pytest.approx(meta["a"])
        and params.ece_after == meta["ece_after"]
    )


# ---- calibration_improves --------------------------------------------------------------


def test_a_passing_fit_serves_and_is_logged_to_mlflow(db):
    insert_pairs(db, *miscalibrated_pairs(400, seed=2), model_version="7")
    result = _run()
    assert result.success
    check = _platt_check(result)
    assert check.passed and check.metadata["ece_after"].value <= check.metadata["ece_before"].value
    assert check.metadata["ece_after"].value <= check.metadata["ece_threshold"].value
    meta = _meta(result, "platt_calibration")
    assert meta["model_version"] == "7" and meta["a"] < 0
    for key in (
        "ece_before",
        "ece_after",
        "ece_before_equal_mass",
        "ece_after_equal_mass",
        "noise_floor",
    ):
        assert 0 <= meta[key] <= 1, key
    assert latest_platt(db).version == meta["version"]

    mlflow_client = client(get_settings().mlflow_tracking_uri)
    run = mlflow_client.get_run(meta["mlflow_run_id"])
    assert mlflow_client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.tags[VERDICT_TAG] == "passed" and run.data.metrics[
        "ece_after"
    ] == pytest.approx(meta["ece_after"])
    pictures = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "plots")}
    assert pictures == {"plots/reliability_before.png", "plots/reliability_after.png"}
    assert meta["reliability_diagram"].endswith("plots/reliability_after.png")


def test_a_failing_fit_never_serves_even_when_a_later_run_selects_only_the_publisher(db, tmp_path):
    insert_pairs(db, *miscalibrated_pairs(50, seed=0))
    (tmp_path / "instance").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "instance"))
    assert _run(instance).success
    good = latest_platt(db).version
    # New outcomes turn the relation upside down: the refit has a positive slope.
    raw, labels = miscalibrated_pairs(300, seed=5)
    insert_pairs(db, raw, ~labels)
    result = _run(instance)
    check = _platt_check(result)
    assert not check.passed and "slope" in check.description
    assert not result.success or not result.asset_materializations_for_node("serving_calibration")
    assert latest_platt(db).version == good  # the previous version keeps serving
    tracking = client(get_settings().mlflow_tracking_uri)
    run_id = _meta(result, "platt_calibration")["mlflow_run_id"]
    assert tracking.get_run(run_id).data.tags[VERDICT_TAG] == "failed"

    # A later run of the publisher alone reads the failing candidate and refuses it.
    alone = _run(instance, selection=[dg.AssetKey("serving_calibration")])
    assert alone.success
    meta = _meta(alone, "serving_calibration")
    assert meta["published"] is False and "failed calibration_improves" in meta["reason"]
    assert latest_platt(db).version == good


# ---- calibration_audit -----------------------------------------------------------------


def test_calibration_audit_records_recent_served_ece_with_its_noise_floor(db):
    raw, labels = miscalibrated_pairs(120, seed=4)
    # What each prediction served differs from its raw score: the audit must measure the served one.
    served = apply_platt(raw, -8.0, 3.0)
    for r, p, y in zip(raw, served, labels):
        insert_outcome(
            db, insert_prediction(db, float(r), served=float(p), platt_version="v-old"), bool(y)
        )
    old = insert_prediction(db, 0.9, created_at=datetime.now(UTC) - timedelta(days=45))
    insert_outcome(db, old, False)  # outside the 30-day window
    result = _run(selection=[dg.AssetKey("calibration_audit")])
    assert result.success
    (row,) = audits(db)
    assert row["n_outcomes"] == 120 and row["window_days"] == 30 and row["evaluation_tier"] == "7d"
    from viral_pipeline.engine.calibration.maths import expected_calibration_error

    assert row["ece"] == pytest.approx(expected_calibration_error(labels, served, 10))
    assert abs(row["ece"] - expected_calibration_error(labels, raw, 10)) > 0.01
    assert (
        row["noise_floor"] > 0
        and row["ece_equal_mass"] is not None
        and row["platt_version"] is None
    )
    meta = _meta(result, "calibration_audit")
    assert meta["n_outcomes"] == 120 and meta["calibrated_predictions"] == 120
    assert meta["ece"] == pytest.approx(row["ece"], abs=1e-6)


def test_calibration_audit_without_outcomes_records_an_empty_audit(db):
    result = _run(selection=[dg.AssetKey("calibration_audit")])
    assert result.success
    (row,) = audits(db)
    assert row["n_outcomes"] == 0 and row["ece"] is None and row["noise_floor"] is None
    assert "ece" not in _meta(result, "calibration_audit")


def test_the_daily_schedule_runs_the_calibration_job_and_is_running_by_default():
    defs = load_defs()
    schedule = defs.resolve_schedule_def("calibration_audit")
    assert schedule.cron_schedule == "0 5 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "calibration_job"
    when = datetime(2026, 11, 30, 5, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.run_key == when.isoformat()
    job = defs.resolve_job_def("calibration_job")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {
        "calibration_audit",
        "platt_calibration",
        "serving_calibration",
        "signal_weights_fit",
        "serving_signal_weights",
    }
