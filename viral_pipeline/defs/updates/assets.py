"""update_model (one MLflow run, a new registered version) → update_champion (published)."""

import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from viral_pipeline.defs.resources import AppDatabase, MlflowTracking, ModelPolicy, Scraper
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger

log = get_logger(__name__)


class UpdateTrainingConfig(dg.Config):
    days: int = 21
    """Posting days of simulated trajectories."""
    videos_per_day: int = 800
    last_day: str | None = None
    """ISO date of the newest posting day; default: 8 days ago (its 7-day views exist)."""
    max_iter: int = 150
    """Boosting rounds of the gradient-boosted trees."""


@dg.asset(
    group_name="updates",
    kinds={"scikitlearn", "mlflow"},
    description=(
        "P(viral at 7 d) from a video's early views (24 h, 72 h), their growth and its pre-posting "
        "features, trained on view trajectories, Platt-calibrated on held-out days, logged to MLflow "
        "and registered as a new version of <MODEL_NAME>_early_views."
    ),
)
def update_model(
    context: dg.AssetExecutionContext,
    config: UpdateTrainingConfig,
    mlflow_tracking: MlflowTracking,
    model_policy: ModelPolicy,
    scraper: Scraper,
):
    from dataclasses import replace

    from viral_pipeline.engine.model.early_views import update_model_name
    from viral_pipeline.ml.early_view_training import (
        UPDATE_PARAMS,
        simulated_trajectories,
        train_and_log_update,
    )

    started = time.perf_counter()
    if scraper.source != "simulated":
        # video_snapshots accumulates the source's trajectories; reading views at each tier's age
        # from them is not built yet, and a model of the simulated world must not serve this source.
        raise dg.Failure(
            description=f"no trajectories of the {scraper.source!r} source to train on yet: "
            "only the simulated world's view curves train the update model"
        )
    last_day = (
        date.fromisoformat(config.last_day)
        if config.last_day
        else (datetime.now(UTC) - timedelta(days=8)).date()
    )
    with bound_context(run_id=context.run.run_id, asset="update_model"):
        training = simulated_trajectories(
            last_day,
            config.days,
            config.videos_per_day,
            quantile=model_policy.viral_quantile,
            window_days=model_policy.label_window_days,
        )
        outcome = train_and_log_update(
            training,
            tracking_uri=mlflow_tracking.tracking_uri,
            artifact_root=mlflow_tracking.artifact_root,
            model_name=update_model_name(mlflow_tracking.model_name),
            params=replace(UPDATE_PARAMS, max_iter=config.max_iter),
        )
        log.info(
            "update model trained",
            model_version=outcome.model_version,
            mlflow_run_id=outcome.run_id,
            roc_auc={tier: m["roc_auc"] for tier, m in outcome.metrics_by_tier.items()},
        )
    per_tier = {
        f"{key}_{tier}": float(metrics[key])
        for tier, metrics in outcome.metrics_by_tier.items()
        for key in (
            "roc_auc",
            "roc_auc_ci_low",
            "pr_auc",
            "brier",
            "no_skill_brier",
            "ece",
            "ece_noise_floor",
            "base_rate",
            "n",
        )
    }
    return dg.Output(
        outcome,
        metadata={
            "model_version": dg.MetadataValue.text(outcome.model_version),
            "mlflow_run_id": outcome.run_id,
            "mlflow_run": mlflow_tracking.run_link(outcome.experiment_id, outcome.run_id),
            "trained_on": outcome.trained_on.describe(),
            "champion_comparison": outcome.champion_note,
            **per_tier,
            "duration_ms": elapsed_ms(started),
        },
    )


@dg.asset(
    deps=[update_model],
    group_name="updates",
    kinds={"mlflow"},
    description="Moves the update model's `champion` alias to the newest version only if update_gate "
    "passed for it, and publishes it (compiled to numpy arrays) for the outcome collection and the API.",
)
def update_champion(
    context: dg.AssetExecutionContext, mlflow_tracking: MlflowTracking, app_db: AppDatabase
) -> dg.MaterializeResult:
    from viral_pipeline.engine.model.early_views import update_model_name
    from viral_pipeline.engine.model.provenance import TAG_PREFIX, provenance_from
    from viral_pipeline.ml.published import publish, published_version
    from viral_pipeline.ml.tracking import GATE_TAG, champion_version, promote

    client = mlflow_tracking.client()
    name = update_model_name(mlflow_tracking.model_name)
    newest = client.search_model_versions(
        f"name = '{name}'", order_by=["version_number DESC"], max_results=1
    )
    champion = champion_version(client, name)
    serving = str(champion.version) if champion else None
    tags = champion.tags if champion else {}
    verdict = newest[0].tags.get(GATE_TAG) if newest else None
    if not newest:
        reason = "no update model version registered yet"
    elif str(newest[0].version) == serving:
        reason = f"version {serving} already serves"
    elif verdict == "passed":
        promote(client, name, str(newest[0].version))
        serving, tags = str(newest[0].version), newest[0].tags
        reason = f"version {serving} passed update_gate and was promoted"
    else:
        reason = (
            f"version {newest[0].version} did not pass update_gate ({verdict or 'never gated'}); "
            + (f"version {serving} keeps serving" if serving else "no update model serves yet")
        )
    engine = app_db.engine()
    if serving and published_version(engine, name) != serving:
        import mlflow.sklearn

        model = mlflow.sklearn.load_model(f"models:/{name}@champion")
        publish(engine, name, serving, model, 0.5, provenance_from(tags, prefix=TAG_PREFIX))
    with bound_context(run_id=context.run.run_id, asset="update_champion"):
        log.info("update model decided", serving=serving, reason=reason)
    return dg.MaterializeResult(
        metadata={
            "serving_version": serving or "none",
            "newest_gate_verdict": verdict or "none",
            "published_version": published_version(engine, name) or "none",
            "reason": reason,
        }
    )
