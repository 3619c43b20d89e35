"""Resources: the seams where real services plug in (database, scraper source).

Each value comes from the environment through `dg.EnvVar` when the variable is set (so the UI
shows the variable's name, never a secret), and from the settings' safe default otherwise.
"""

import os
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.engine.model.gate import GateThresholds
from viral_pipeline.settings import Settings
from viral_pipeline.store.db import ready_engine


class AppDatabase(dg.ConfigurableResource):
    """The application database (SQLite file or PostgreSQL), migrated on first use per process."""

    url: str

    def engine(self) -> sa.Engine:
        return ready_engine(self.url)


# A profile scrape needs only authorMeta, which every video of the profile carries: a few videos
# suffice, and the actor bills per result.
PROFILE_RESULTS_PER_PAGE = 3


class ScraperSource(dg.ConfigurableResource):
    """Where videos come from: the built-in simulated source, or the Apify actor."""

    source: str = "simulated"
    simulated_videos_per_day: int = 2000
    apify_api_url: str = "https://api.apify.com"
    apify_token: str | None = None
    apify_actor_id: str = "clockworks~tiktok-scraper"
    hashtags: list[str] = ["fyp", "viral", "trending"]
    results_per_hashtag: int = 100
    timeout_s: float = 30.0
    max_wait_s: float = 900.0

    def apify_client(self):  # type: ignore[no-untyped-def]
        from viral_pipeline.sources.apify import ApifyClient

        return ApifyClient(
            api_url=self.apify_api_url,
            token=self.apify_token,
            actor_id=self.apify_actor_id,
            timeout_s=self.timeout_s,
        )

    def fetch_day(self, day: date) -> Iterator[Any]:
        """Items for one day's scrape, from whichever source is configured."""
        if self.source == "simulated":
            from viral_pipeline.engine.world.simulated import generate_day

            yield from generate_day(day, self.simulated_videos_per_day).items
            return
        from viral_pipeline.sources.apify import build_actor_input

        with self.apify_client() as client:
            _run, items = client.run_and_iter_items(
                build_actor_input(self.hashtags, self.results_per_hashtag),
                max_wait_s=self.max_wait_s,
            )
            yield from items

    def fetch_video_stats(self, videos: list[Any], now: datetime) -> dict[str, Any]:
        """Current stats of predicted videos (`engine.calibration.outcomes.VideoToCollect`), by video id.

        A video the source cannot find is absent from the answer. Simulated: deterministic per
        video id, from the prediction's own request. Apify: one actor run over the videos' URLs
        (each HTTP call has `timeout_s`, the run `max_wait_s`).
        """
        if not videos:
            return {}
        if self.source == "simulated":
            from viral_pipeline.engine.world.simulated_outcomes import simulated_stats

            found = (simulated_stats(v.video_id, v.payload, v.posted_at, now) for v in videos)
            return {stats.video_id: stats for stats in found if stats is not None}
        from viral_pipeline.engine.calibration.outcomes import stats_from_items, video_url_for
        from viral_pipeline.sources.apify import build_post_urls_input

        urls = list(dict.fromkeys(v.video_url or video_url_for(v.video_id) for v in videos))
        with self.apify_client() as client:
            _run, items = client.run_and_iter_items(
                build_post_urls_input(urls), max_wait_s=self.max_wait_s
            )
            return stats_from_items(items, now=now)

    def fetch_profile(self, handle: str):  # type: ignore[no-untyped-def]
        """One creator's profile (CreatorProfile); ProfileNotFound when the handle names nobody."""
        from viral_pipeline.engine.inputs.profiles import profile_from_items, simulated_profile
        from viral_pipeline.sources.apify import build_profile_input

        if self.source == "simulated":
            return simulated_profile(handle)
        with self.apify_client() as client:
            _run, items = client.run_and_iter_items(
                build_profile_input(handle, PROFILE_RESULTS_PER_PAGE), max_wait_s=self.max_wait_s
            )
            return profile_from_items(handle, items)

    def fetch_dataset(self, dataset_id: str) -> Iterator[Any]:
        """Items of an Apify dataset that a finished run (announced by webhook) produced."""
        with self.apify_client() as client:
            yield from client.iter_dataset_items(dataset_id)


class MlflowTracking(dg.ConfigurableResource):
    """The MLflow tracking store and model registry (local SQLite, or a tracking server)."""

    tracking_uri: str
    experiment: str = "viral_classifier"
    artifact_root: str | None = None
    model_name: str = "viral_classifier"
    ui_url: str | None = None  # the MLflow UI's address, for clickable run links

    def client(self):  # type: ignore[no-untyped-def]
        from viral_pipeline.ml.tracking import client

        return client(self.tracking_uri)

    def run_link(self, experiment_id: str, run_id: str) -> dg.MetadataValue:
        """A URL to the run in the MLflow UI when its address is known; else where to find it."""
        fragment = f"#/experiments/{experiment_id}/runs/{run_id}"
        if self.ui_url:
            return dg.MetadataValue.url(f"{self.ui_url.rstrip('/')}/{fragment}")
        return dg.MetadataValue.text(
            f"{self.tracking_uri} {fragment} (set MLFLOW_UI_URL for a link)"
        )


class ModelPolicy(dg.ConfigurableResource):
    """How the label is defined, when the bundled set stands in, and what the gate demands
    (defaults and reasons: settings.py and engine/model/gate.py)."""

    viral_quantile: float = 0.9
    label_window_days: int = 1
    training_min_rows: int = 500
    gate_min_roc_auc: float = GateThresholds.min_roc_auc
    gate_min_roc_auc_ci_low: float = GateThresholds.min_roc_auc_ci_low
    gate_min_pr_auc_lift: float = GateThresholds.min_pr_auc_lift
    gate_max_ece: float = GateThresholds.max_ece
    gate_min_accuracy: float = GateThresholds.min_accuracy
    gate_min_balanced_accuracy: float = GateThresholds.min_balanced_accuracy

    def gate_thresholds(self) -> GateThresholds:
        """The gate's thresholds: each `gate_<name>` field sets GateThresholds' `<name>`."""
        return GateThresholds(
            **{
                name.removeprefix("gate_"): getattr(self, name)
                for name in type(self).model_fields
                if name.startswith("gate_")
            }
        )


def _env_or(name: str, default: Any) -> Any:
    return dg.EnvVar(name) if os.environ.get(name) else default


def _secret(settings: Settings, field: str) -> str | None:
    value = getattr(settings, field)
    return value.get_secret_value() if value is not None else None


def build_resources(settings: Settings) -> dict[str, Any]:
    from viral_pipeline.defs.calibration.resources import CalibrationPolicy
    from viral_pipeline.defs.predict.resources import LlmJudges, ModelServing, SignalWeights
    from viral_pipeline.defs.predict.sensors import PredictionSensorLimits
    from viral_pipeline.defs.profiles.sensors import ProfileSensorLimits

    token = _secret(settings, "apify_token")
    tracking_uri = _env_or("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    return {
        "predict_io_manager": dg.mem_io_manager,
        "llm_judges": LlmJudges(
            gemini_api_key=_env_or("GEMINI_API_KEY", _secret(settings, "gemini_api_key")),
            gemini_base_url=settings.gemini_base_url,
            gemini_model=settings.gemini_model,
            deepseek_api_key=_env_or("DEEPSEEK_API_KEY", _secret(settings, "deepseek_api_key")),
            deepseek_base_url=settings.deepseek_base_url,
            deepseek_model=settings.deepseek_model,
            timeout_s=settings.llm_timeout_s,
            breaker_failure_threshold=settings.breaker_failure_threshold,
            breaker_open_seconds=settings.breaker_open_seconds,
        ),
        "model_serving": ModelServing(
            model_name=settings.model_name,
            scraper_source=settings.scraper_source.value,
            allow_other_source=settings.serve_model_from_other_source,
        ),
        "signal_weights": SignalWeights(**settings.signal_weights),
        "prediction_limits": PredictionSensorLimits(
            max_runs_per_tick=settings.predict_max_runs_per_tick
        ),
        "profile_limits": ProfileSensorLimits(max_runs_per_tick=settings.profile_max_runs_per_tick),
        "app_db": AppDatabase(url=_env_or("DATABASE_URL", settings.database_url)),
        "mlflow_tracking": MlflowTracking(
            tracking_uri=tracking_uri,
            experiment=settings.mlflow_experiment,
            artifact_root=settings.artifact_root,
            model_name=settings.model_name,
            ui_url=settings.mlflow_ui,
        ),
        # Every field of ModelPolicy is the setting of the same name.
        "model_policy": ModelPolicy(
            **{name: getattr(settings, name) for name in ModelPolicy.model_fields}
        ),
        "calibration_policy": CalibrationPolicy(
            tier=settings.calibration_tier.value,
            min_outcomes=settings.calibration_min_outcomes,
            audit_window_days=settings.calibration_audit_window_days,
        ),
        "scraper": ScraperSource(
            source=settings.scraper_source.value,
            simulated_videos_per_day=settings.simulated_videos_per_day,
            apify_api_url=settings.apify_api_url,
            apify_token=_env_or("APIFY_TOKEN", token),
            apify_actor_id=settings.apify_actor_id,
            hashtags=settings.hashtags,
            results_per_hashtag=settings.apify_results_per_hashtag,
            timeout_s=settings.apify_timeout_s,
            max_wait_s=settings.apify_max_wait_s,
        ),
    }
