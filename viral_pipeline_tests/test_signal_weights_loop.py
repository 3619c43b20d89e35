"""signal_weights_fit → learned_weights_beat_fixed (blocking) → serving_signal_weights, materialized
for real (calibration_job in a Dagster instance) on SQLite and PostgreSQL, with a real MLflow store
in the test's temporary folder; and the outcomes they read."""

import dagster as dg
import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.engine.signals.aggregate import SIGNALS
from viral_pipeline.engine.signals.learned_weights import learned_weights_or_error
from viral_pipeline.ml.signal_weights_tracking import EXPERIMENT, VERDICT_TAG
from viral_pipeline.ml.tracking import client
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.signal_weights import latest_learned_weights, load_signal_outcomes
from viral_pipeline_tests.calibration_rows import insert_outcome, insert_prediction
from viral_pipeline_tests.signal_outcomes import insert_signal_outcomes, signal_outcomes

WEIGHTS_ASSETS = [dg.AssetKey("signal_weights_fit"), dg.AssetKey("serving_signal_weights")]


@pytest.fixture
def db(monkeypatch, any_db_url):
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    get_settings.cache_clear()
    return ready_engine(any_db_url)


def _run(instance=None, selection=WEIGHTS_ASSETS):
    job = load_defs().resolve_job_def("calibration_job")
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=selection,
    )


def _meta(result, node):
    (materialization,) = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in materialization.metadata.items()}


def _check(result):
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "learned_weights_beat_fixed"
    return check


def test_outcomes_carry_each_signals_score_and_a_missing_signal_counts_as_unavailable(db):
    scores, labels = signal_outcomes(3, seed=0)
    ids = insert_signal_outcomes(db, scores, labels)
    insert_outcome(db, insert_prediction(db, 0.3), True)  # a result without signals: skipped
    loaded = load_signal_outcomes(db, "7d")
    assert [o.request_id for o in loaded] == ids
    assert [o.is_viral for o in loaded] == labels.tolist()
    first = loaded[0]
    assert set(first.scores) == set(SIGNALS) and first.scores["gemini"] is None
    assert first.scores["rules"] == pytest.approx(scores[0, 0])
    assert load_signal_outcomes(db, "24h") == []


def test_below_the_minimum_nothing_is_fitted_and_the_fixed_weights_keep_serving(db):
    insert_signal_outcomes(db, *signal_outcomes(49, seed=0))
    result = _run()
    assert result.success
    meta = _meta(result, "signal_weights_fit")
    assert meta["fitted"] is False and meta["n"] == 49 and meta["min_outcomes"] == 50
    assert "49 outcomes of tier 7d" in meta["reason"] and "fixed weights serve" in meta["reason"]
    check = _check(result)
    assert check.passed and check.metadata["fitted"].value is False
    serving = _meta(result, "serving_signal_weights")
    assert serving["published"] is False and serving["serving_version"] == "none (fixed weights)"
    assert latest_learned_weights(db) is None


def test_weights_that_beat_the_fixed_ones_serve_with_their_coefficients_in_the_ui(db):
    insert_signal_outcomes(db, *signal_outcomes(400, seed=0, truth="ml"))
    result = _run()
    assert result.success
    check = _check(result)
    figures = {key: value.value for key, value in check.metadata.items()}
    assert check.passed and figures["log_loss_learned"] < figures["log_loss_fixed"]
    assert figures["brier_learned"] <= figures["brier_fixed"] and figures["log_loss_gain"] > 0
    meta = _meta(result, "signal_weights_fit")
    for name in SIGNALS:  # one entry per coefficient, the intercept, n and the losses
        assert isinstance(meta[f"score_{name}"], float) and isinstance(
            meta[f"unavailable_{name}"], float
        )
    assert meta["n"] == 400 and meta["score_ml"] > 1.0 and meta["score_gemini"] == 0.0
    assert {
        "intercept",
        "log_loss_learned",
        "log_loss_fixed",
        "brier_learned",
        "brier_fixed",
    } <= set(meta)
    stored = latest_learned_weights(db)
    weights = learned_weights_or_error(stored.params)
    assert (
        stored.version
        == meta["version"]
        == _meta(result, "serving_signal_weights")["serving_version"]
    )
    assert weights.score_coefficients["ml"] == pytest.approx(meta["score_ml"])
    assert (
        weights.log_loss == pytest.approx(figures["log_loss_learned"]) and weights.n_outcomes == 400
    )

    tracking = client(get_settings().mlflow_tracking_uri)
    run = tracking.get_run(meta["mlflow_run_id"])
    assert tracking.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.tags[VERDICT_TAG] == "passed"
    assert run.data.metrics["score_ml"] == pytest.approx(meta["score_ml"])
    pictures = {a.path for a in tracking.list_artifacts(run.info.run_id, "plots")}
    assert pictures == {"plots/reliability_fixed.png", "plots/reliability_learned.png"}


def test_weights_no_better_than_the_fixed_ones_never_serve_even_from_the_publisher_alone(
    db, tmp_path
):
    insert_signal_outcomes(db, *signal_outcomes(400, seed=0, truth="fixed"))
    (tmp_path / "instance").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "instance"))
    result = _run(instance)
    check = _check(result)
    assert not check.passed and "log loss not below" in check.description
    assert check.metadata["log_loss_better"].value is False
    assert check.metadata["log_loss_learned"].value >= check.metadata["log_loss_fixed"].value
    assert not result.success and not result.asset_materializations_for_node(
        "serving_signal_weights"
    )
    assert latest_learned_weights(db) is None
    run_id = _meta(result, "signal_weights_fit")["mlflow_run_id"]
    assert (
        client(get_settings().mlflow_tracking_uri).get_run(run_id).data.tags[VERDICT_TAG]
        == "failed"
    )

    alone = _run(instance, selection=[dg.AssetKey("serving_signal_weights")])
    assert alone.success
    meta = _meta(alone, "serving_signal_weights")
    assert meta["published"] is False and "failed learned_weights_beat_fixed" in meta["reason"]
    assert latest_learned_weights(db) is None
