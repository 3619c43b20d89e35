"""training_set → ml_model → accuracy_gate → champion_model, materialized for real with a real
MLflow store in a temporary folder; then the champion loads in a fresh process and predicts."""

import json
import subprocess
import sys

import dagster as dg
import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.ml.schedules import retrain_ml
from viral_pipeline.ml.loaded import NoChampionError
from viral_pipeline.ml.published import PublishedChampion, published_version
from viral_pipeline.ml.tracking import CHAMPION_ALIAS, champion_version, client, gate_verdict
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine


@pytest.fixture
def defs():
    return load_defs()


def _retrain(defs, instance, **kwargs):
    return defs.resolve_job_def("retrain_ml_job").execute_in_process(
        instance=instance, raise_on_error=False, **kwargs
    )


def _mlflow():
    settings = get_settings()
    return client(settings.mlflow_tracking_uri), settings.model_name


def test_full_retrain_on_the_bundled_set_passes_the_gate_and_promotes(defs):
    """The accuracy target confirmed by a real training run, in CI, not by reading code."""
    instance = dg.DagsterInstance.ephemeral()
    result = _retrain(defs, instance)
    assert result.success

    training = result.asset_materializations_for_node("training_set")[0].metadata
    assert training["source"].value == "bundled"  # an empty database has < 500 labelled rows
    assert training["scraper_source"].value == "simulated"  # the bundled set is simulated videos
    assert training["positives"].value > 0 and training["imbalance_ratio"].value > 3

    model_meta = result.asset_materializations_for_node("ml_model")[0].metadata
    assert (
        model_meta["roc_auc_ci_low"].value > 0.5
        and model_meta["brier"].value < model_meta["no_skill_brier"].value
    )
    assert (
        model_meta["trained_on_dataset"].value == "bundled"
        and model_meta["trained_on_source"].value == "simulated"
    )
    assert "bundled simulated set" in model_meta["trained_on"].value
    # No MLflow UI address configured: the run is named as text, never as a sqlite:// link.
    assert isinstance(model_meta["mlflow_run"], dg.TextMetadataValue)
    (gate,) = result.get_asset_check_evaluations()
    assert gate.passed, gate.metadata
    assert gate.metadata["accuracy"].value == model_meta["accuracy"].value
    assert (
        gate.metadata["accuracy_blocking"].value is False
        and gate.metadata["brier_blocking"].value is True
    )

    champion = result.asset_materializations_for_node("champion_model")[0].metadata
    assert champion["promoted"].value is True
    assert champion["serves_configured_source"].value is True
    assert champion["serving_trained_on_source"].value == "simulated"
    version = model_meta["model_version"].value
    assert champion["serving_version"].value == version

    mlflow_client, name = _mlflow()
    assert str(champion_version(mlflow_client, name).version) == version
    assert gate_verdict(mlflow_client, name, version) == "passed"
    # Published for the predict runs, which never import MLflow.
    assert champion["published_version"].value == version
    assert published_version(ready_engine(get_settings().database_url), name) == version
    run = mlflow_client.get_run(model_meta["mlflow_run_id"].value)
    assert (
        run.data.tags["trained_on_source"] == "simulated"
        and run.data.tags["trained_on_dataset"] == "bundled"
    )
    assert mlflow_client.get_model_version(name, version).tags["trained_on_rows"] == str(
        training["rows"].value
    )
    assert {
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "accuracy",
        "balanced_accuracy",
    } <= set(run.data.metrics)
    pictures = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "plots")}
    assert {
        "plots/confusion_matrix.png",
        "plots/roc_curve.png",
        "plots/precision_recall.png",
        "plots/reliability_diagram.png",
        "plots/feature_importances.png",
    } <= pictures
    assert run.inputs.dataset_inputs[0].dataset.digest == training["digest"].value

    # Loads back from the registry in a fresh process, as champion_model loads it to publish it
    # (the skops default would refuse it).
    settings = get_settings()
    script = (
        "import json, mlflow, mlflow.sklearn; "
        "from viral_pipeline.ml.fallback import load_fallback_frame; "
        "from viral_pipeline.engine.model.features import build_features; "
        f"mlflow.set_tracking_uri({settings.mlflow_tracking_uri!r}); "
        f"m = mlflow.sklearn.load_model('models:/{name}@champion'); "
        "p = m.predict_proba(build_features(load_fallback_frame().head(5)))[:, 1]; "
        "print(json.dumps({'p': p.tolist()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(loaded["p"]) == 5 and all(0 <= p <= 1 for p in loaded["p"])


def test_a_failing_gate_keeps_the_previous_champion(defs, monkeypatch):
    instance = dg.DagsterInstance.ephemeral()
    assert _retrain(defs, instance).success
    mlflow_client, name = _mlflow()
    first = str(champion_version(mlflow_client, name).version)

    monkeypatch.setenv("GATE_MIN_ROC_AUC", "0.999")  # no model reaches it
    monkeypatch.setenv("MLFLOW_UI_URL", "http://127.0.0.1:5000")
    get_settings.cache_clear()
    failed = _retrain(load_defs(), instance)
    assert not failed.success
    (gate,) = failed.get_asset_check_evaluations()
    assert not gate.passed and gate.metadata["roc_auc_passed"].value is False
    assert gate.metadata["failed_checks"].value == "roc_auc"
    assert not failed.asset_materializations_for_node("champion_model")  # blocked in the same run
    failed_meta = failed.asset_materializations_for_node("ml_model")[0].metadata
    newest = failed_meta["model_version"].value
    # With the MLflow UI's address set, the run is a clickable link in the Dagster UI.
    link = failed_meta["mlflow_run"]
    assert isinstance(link, dg.UrlMetadataValue) and link.url.startswith(
        "http://127.0.0.1:5000/#/experiments/"
    )
    assert link.url.endswith(f"/runs/{failed_meta['mlflow_run_id'].value}")
    assert gate_verdict(mlflow_client, name, newest) == "failed"
    assert str(champion_version(mlflow_client, name).version) == first

    # A run that selects only champion_model cannot promote the failed version either.
    alone = dg.materialize(
        [a for a in _assets(load_defs()) if a.key.to_user_string() == "champion_model"],
        instance=instance,
    )
    meta = alone.asset_materializations_for_node("champion_model")[0].metadata
    assert meta["promoted"].value is False and "failed accuracy_gate" in meta["reason"].value
    assert meta["newest_gate_failed_checks"].value == "roc_auc"
    assert str(champion_version(mlflow_client, name).version) == first


def _assets(defs):
    graph = defs.resolve_asset_graph()
    return [graph.get(key).assets_def for key in graph.get_all_asset_keys()]


def test_an_ungated_version_is_never_promoted(defs):
    """ml_model materialized without its check (e.g. selected alone): no verdict, no promotion."""
    instance = dg.DagsterInstance.ephemeral()
    assets = _assets(defs)
    trained = dg.materialize(
        assets, selection=["training_set", "ml_model"], instance=instance, raise_on_error=False
    )
    assert trained.asset_materializations_for_node("ml_model")
    mlflow_client, name = _mlflow()
    alone = dg.materialize(assets, selection=["champion_model"], instance=instance)
    meta = alone.asset_materializations_for_node("champion_model")[0].metadata
    assert meta["promoted"].value is False
    assert champion_version(mlflow_client, name) is None


def test_serving_before_any_champion_says_so_clearly():
    settings = get_settings()
    with pytest.raises(NoChampionError, match="published"):
        PublishedChampion(settings.model_name).get(ready_engine(settings.database_url))


def test_serving_caches_by_version_and_follows_the_alias(defs):
    instance = dg.DagsterInstance.ephemeral()
    assert _retrain(defs, instance).success
    settings = get_settings()
    engine = ready_engine(settings.database_url)
    published = PublishedChampion(settings.model_name)
    first = published.get(engine)
    assert published.get(engine) is first  # loaded once, not per call
    assert _retrain(defs, instance).success  # a second version passes and is promoted
    second = published.get(engine)
    assert second.version != first.version and published.cached_versions == [
        first.version,
        second.version,
    ]
    mlflow_client, name = _mlflow()
    assert str(mlflow_client.get_registered_model(name).aliases[CHAMPION_ALIAS]) == second.version
    tags = mlflow_client.get_model_version(name, second.version).tags
    assert second.threshold == float(tags["decision_threshold"])


def test_retrain_schedule_is_weekly_and_targets_the_job():
    from datetime import UTC, datetime

    tick = datetime(2026, 11, 30, 4, tzinfo=UTC)
    request = retrain_ml(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.run_key == tick.isoformat()
    assert retrain_ml.cron_schedule == "0 4 * * 1" and retrain_ml.job_name == "retrain_models_job"
    # Both models: the classifier's assets and the update model's, each with its blocking gate.
    job = load_defs().resolve_job_def("retrain_models_job")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {
        "training_set",
        "ml_model",
        "champion_model",
        "update_model",
        "update_champion",
    }
    assert {key.name for key in job.asset_layer.asset_graph.asset_check_keys} >= {
        "accuracy_gate",
        "update_gate",
    }


def test_the_weekly_run_promotes_the_classifier_when_the_update_model_fails(defs):
    """The scheduled run holds both models; an update model that cannot train fails the run and
    publishes nothing of its own, and the classifier that passed its gate is promoted anyway."""
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("retrain_models_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        # Two posting days: no split has a day on each side, so update_model fails.
        run_config={"ops": {"update_model": {"config": {"days": 2, "videos_per_day": 100}}}},
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "update_model"
    assert "the split needs 3" in str(failure.event_specific_data.error)
    champion = result.asset_materializations_for_node("champion_model")[0].metadata
    assert champion["promoted"].value is True
    assert result.asset_materializations_for_node("update_champion") == []
