"""update_model (one MLflow run, a new registered version) → update_champion (published)."""

import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from viral_pipeline.defs.resources import AppDatabase, MlflowTracking, ModelPolicy, Scraper
from viral_pipeline.engine.timeutil import parse_utc
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger

if TYPE_CHECKING:
    from viral_pipeline.ml.early_view_training import UpdateTrainingSet

log = get_logger(__name__)


class UpdateTrainingConfig(dg.Config):
    days: int = 21
    """Posting days of simulated trajectories."""
    videos_per_day: int = 800
    last_day: str | None = None
    """ISO date of the newest posting day; default: 8 days ago (its 7-day views exist)."""
    max_iter: int = 150
    """Boosting rounds of the gradient-boosted trees."""
    as_of: str | None = None
    """On a real source: ISO time the trajectories are read as of; default now."""


@dg.asset(
    group_name="updates",
    kinds={"scikitlearn", "mlflow"},
    description=(
        "P(viral at 7 d) from a video's early views (24 h, 72 h), their growth and its pre-posting "
        "features, trained on view trajectories (the simulated world's view curves on the simulated "
        "source, the sightings in video_snapshots on another), Platt-calibrated on held-out days, "
        "logged to MLflow and registered as a new version of <MODEL_NAME>_early_views."
    ),
)
def update_model(
    context: dg.AssetExecutionContext,
    config: UpdateTrainingConfig,
    mlflow_tracking: MlflowTracking,
    model_policy: ModelPolicy,
    scraper: Scraper,
    app_db: AppDatabase,
):
    from dataclasses import replace

    from viral_pipeline.engine.model.early_views import update_model_name
    from viral_pipeline.ml.early_view_training import UPDATE_PARAMS, train_and_log_update

    started = time.perf_counter()
    with bound_context(run_id=context.run.run_id, asset="update_model"):
        training, counts = _trajectories(config, model_policy, scraper, app_db)
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
            **counts,
            **per_tier,
            "duration_ms": elapsed_ms(started),
        },
    )


def _trajectories(
    config: UpdateTrainingConfig, policy: ModelPolicy, scraper: Scraper, app_db: AppDatabase
) -> "tuple[UpdateTrainingSet, dict[str, int]]":
    """The training set of the configured source, and the counts its metadata shows.

    The simulated source trains on its world's view curves: its scrapes report a video's final
    plays at every age, so its sightings are no trajectory. Any other source trains on its own
    videos' sightings (video_snapshots), never on the simulated world, and fails with the counts
    below UPDATE_TRAINING_MIN_VIDEOS."""
    from viral_pipeline.ml.early_view_snapshots import snapshot_trajectories
    from viral_pipeline.ml.early_view_training import simulated_trajectories

    if scraper.simulated:
        last_day = (
            date.fromisoformat(config.last_day)
            if config.last_day
            else (datetime.now(UTC) - timedelta(days=8)).date()
        )
        training = simulated_trajectories(
            last_day,
            config.days,
            config.videos_per_day,
            quantile=policy.viral_quantile,
            window_days=policy.label_window_days,
        )
        return training, {}
    found = snapshot_trajectories(
        app_db.engine(),
        scraper_source=scraper.source,
        quantile=policy.viral_quantile,
        window_days=policy.label_window_days,
        as_of=parse_utc(config.as_of) if config.as_of else datetime.now(UTC),
    )
    counts = {
        "videos_old_enough": found.videos_old_enough,
        "videos_with_7d": found.videos_with_7d,
        "videos_trained_on": found.videos_with_rows,
        "windows_without_threshold": found.windows_dropped,
        "posting_days": found.posting_days,
    }
    shortfall = found.shortfall(policy.update_training_min_videos)
    if shortfall is not None or found.training is None:
        log.warning("update model not trained", reason=shortfall, **counts)
        raise dg.Failure(
            description=f"too few trajectories of the {scraper.source!r} source: {shortfall}",
            metadata=counts,
        )
    return found.training, counts


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
