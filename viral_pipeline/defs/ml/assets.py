"""training_set → ml_model (one MLflow run, a new registered version) → champion_model."""

import time

import dagster as dg

from viral_pipeline.defs.ingest.assets import creator_profiles, trending_sounds
from viral_pipeline.defs.predict.resources import ModelServing
from viral_pipeline.defs.resources import AppDatabase, MlflowTracking, ModelPolicy, Scraper
from viral_pipeline.observability import bound_context, elapsed_ms, get_logger

log = get_logger(__name__)


@dg.asset(
    deps=["scraped_videos", trending_sounds, creator_profiles],
    group_name="ml",
    kinds={"pandas"},
    description="Features known before posting + the top-decile label, split by time with no creator on both sides.",
)
def training_set(
    context: dg.AssetExecutionContext,
    app_db: AppDatabase,
    model_policy: ModelPolicy,
    scraper: Scraper,
):
    from viral_pipeline.ml.dataset import assemble_training_set
    from viral_pipeline.ml.fallback import load_fallback_frame
    from viral_pipeline.store.training import load_labelled_videos, videos_by_source

    started = time.perf_counter()
    with bound_context(run_id=context.run.run_id, asset="training_set"):
        engine = app_db.engine()
        # Only the configured source's videos: a model learns one world, and serves that one.
        labelled = load_labelled_videos(engine, scraper_source=scraper.source)
        dataset = assemble_training_set(
            labelled,
            fallback=load_fallback_frame(),
            min_rows=model_policy.training_min_rows,
            quantile=model_policy.viral_quantile,
            window_days=model_policy.label_window_days,
            scraper_source=scraper.source,
        )
        counts = dataset.class_counts()
        stored = videos_by_source(engine)
        log.info("training set built", trained_on=dataset.provenance.as_dict(), **counts)
    thresholds = list(dataset.thresholds.values())
    return dg.Output(
        dataset,
        metadata={
            "source": dataset.source,
            "trained_on": dataset.provenance.describe(),
            "scraper_source": dataset.provenance.source,
            "first_posted_day": dataset.provenance.first_posted_day,
            "last_posted_day": dataset.provenance.last_posted_day,
            "notes": "; ".join(dataset.notes)
            or f"built from the database's {scraper.source} videos",
            "labelled_rows_in_database": len(labelled),
            "stored_videos_by_source": dg.MetadataValue.json(stored),
            "rows": len(dataset.frame),
            "train_rows": len(dataset.split.train),
            "calibration_rows": len(dataset.split.calibration),
            "test_rows": len(dataset.split.test),
            "dropped_for_creator_overlap": dataset.split.dropped_for_creator_overlap,
            **counts,
            "positive_rate": round(counts["positives"] / max(len(dataset.frame), 1), 4),
            "imbalance_ratio": round(counts["negatives"] / max(counts["positives"], 1), 2),
            "label_windows": len(thresholds),
            "median_plays_threshold": float(sorted(thresholds)[len(thresholds) // 2])
            if thresholds
            else 0.0,
            "digest": dataset.digest,
            "duration_ms": elapsed_ms(started),
        },
    )


@dg.asset(
    group_name="ml",
    kinds={"scikitlearn", "mlflow"},
    description="A calibrated scikit-learn classifier, logged to MLflow and registered as a new version.",
)
def ml_model(context: dg.AssetExecutionContext, training_set, mlflow_tracking: MlflowTracking):
    from viral_pipeline.ml.training import train_and_log

    started = time.perf_counter()
    with bound_context(run_id=context.run.run_id, asset="ml_model"):
        outcome = train_and_log(
            training_set,
            tracking_uri=mlflow_tracking.tracking_uri,
            experiment=mlflow_tracking.experiment,
            artifact_root=mlflow_tracking.artifact_root,
            model_name=mlflow_tracking.model_name,
        )
        log.info(
            "model trained",
            model_version=outcome.model_version,
            mlflow_run_id=outcome.run_id,
            roc_auc=outcome.metrics["roc_auc"],
        )
    return dg.Output(
        outcome,
        metadata={
            "model_version": dg.MetadataValue.text(outcome.model_version),
            "mlflow_run_id": outcome.run_id,
            "mlflow_run": mlflow_tracking.run_link(outcome.experiment_id, outcome.run_id),
            "trained_on": outcome.trained_on.describe(),
            "trained_on_source": outcome.trained_on.source,
            "trained_on_dataset": outcome.trained_on.dataset,
            "decision_threshold": round(outcome.threshold, 4),
            "champion_at_training": outcome.champion_version or "none",
            "champion_comparison": outcome.champion_note,
            **{key: float(value) for key, value in outcome.metrics.items()},
            "duration_ms": elapsed_ms(started),
        },
    )


@dg.asset(
    deps=[ml_model],
    group_name="ml",
    kinds={"mlflow"},
    description="Moves the `champion` alias to the newest version, only if accuracy_gate passed for that version.",
)
def champion_model(
    context: dg.AssetExecutionContext,
    mlflow_tracking: MlflowTracking,
    app_db: AppDatabase,
    model_serving: ModelServing,
) -> dg.MaterializeResult:
    from viral_pipeline.engine.model.provenance import TAG_PREFIX, provenance_from
    from viral_pipeline.ml.published import publish, published_version
    from viral_pipeline.ml.tracking import GATE_REASONS_TAG, GATE_TAG, champion_version, promote

    mlflow_client = mlflow_tracking.client()
    name = mlflow_tracking.model_name
    versions = mlflow_client.search_model_versions(
        f"name = '{name}'", order_by=["version_number DESC"], max_results=1
    )
    champion = champion_version(mlflow_client, name)
    # The registry answers versions as int or str depending on the call: compare strings.
    current = str(champion.version) if champion else None
    newest = str(versions[0].version) if versions else None
    # Both registry answers carry their version's tags (verdict, threshold, provenance): no re-reads.
    newest_tags = versions[0].tags if versions else {}
    verdict = newest_tags.get(GATE_TAG)
    if newest is None:
        serving, reason = None, "no model version registered yet"
    elif current == newest:
        serving, reason = newest, f"version {newest} is already the champion"
    elif verdict == "passed":
        promote(mlflow_client, name, newest)
        serving, reason = newest, f"version {newest} passed accuracy_gate and was promoted"
    else:
        serving = current
        why = (
            "failed accuracy_gate"
            if verdict == "failed"
            else "has no accuracy_gate verdict (never gated)"
        )
        reason = f"version {newest} {why}; " + (
            f"version {serving} keeps serving" if serving else "no champion serves yet"
        )
    engine = app_db.engine()
    serving_tags = newest_tags if serving == newest else (champion.tags if champion else {})
    trained_on = provenance_from(serving_tags, prefix=TAG_PREFIX)
    if serving and published_version(engine, name) != serving:
        # Predict runs read the champion from the app database (see ml/published.py).
        import mlflow.sklearn

        model = mlflow.sklearn.load_model(f"models:/{name}@champion")
        publish(
            engine,
            name,
            serving,
            model,
            float(serving_tags.get("decision_threshold", 0.5)),
            trained_on,
        )
    if serving:
        decision = model_serving.serving_decision(serving, trained_on)
        serves_configured_source, source_note = (
            decision.allowed,
            decision.reason or "trained on the configured source",
        )
    else:
        serves_configured_source, source_note = False, "no champion serves yet"
    with bound_context(run_id=context.run.run_id, asset="champion_model"):
        log.info(
            "champion decided",
            serving=serving,
            newest=newest,
            reason=reason,
            trained_on=trained_on.as_dict() if trained_on else None,
            serves=serves_configured_source,
            source_note=source_note,
        )
    return dg.MaterializeResult(
        metadata={
            "serving_version": serving or "none",
            "serving_trained_on": trained_on.describe() if trained_on else "unknown",
            "serving_trained_on_source": trained_on.source if trained_on else "unknown",
            "configured_source": model_serving.scraper_source,
            "serves_configured_source": serves_configured_source,
            "source_note": source_note,
            "newest_version": newest or "none",
            "newest_gate_verdict": verdict or "none",
            "newest_gate_failed_checks": newest_tags.get(GATE_REASONS_TAG, "") or "none",
            "promoted": bool(newest and serving == newest and verdict == "passed"),
            "published_version": published_version(engine, name) or "none",
            "reason": reason,
        }
    )
