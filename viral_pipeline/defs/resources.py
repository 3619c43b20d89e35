"""Resources shared by several domains: the database, the scraper, MLflow and the model policy.

Every resource is built from the settings (`from_settings`), which state each default once: the
resources' fields have none. A text setting the environment holds reaches Dagster as `dg.EnvVar`
(see `setting`), so the UI shows the variable's name, never a secret. Each `from_settings` lists,
field by field, which setting the resource reads: that list is the resource's declaration, so the
lists of different resources look alike and stay apart.
"""

import os
from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from typing import Any, Self

import dagster as dg
import sqlalchemy as sa
from pydantic import SecretStr

from viral_pipeline.engine.model.gate import GateThresholds
from viral_pipeline.settings import ScraperSource, Settings
from viral_pipeline.store.db import ready_engine


def setting(settings: Settings, field: str) -> Any:
    """A setting's value for a resource field: `dg.EnvVar` of its variable when the environment
    holds exactly that value, else the value itself (a secret unwrapped, an enum as its value).

    Dagster resolves an EnvVar when a run starts and shows only the variable's name, so a key or
    a database URL with its password never reaches the UI. A value the settings changed while
    reading it (a trailing slash dropped, a number parsed) stays a value, so the resource sees
    what the settings validated.
    """
    value = getattr(settings, field)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    elif isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        # The settings read variable names in any case (`database_url` as well as `DATABASE_URL`).
        for name, raw in os.environ.items():
            if name.upper() == field.upper() and raw == value:
                return dg.EnvVar(name)
    return value


class AppDatabase(dg.ConfigurableResource):
    """The application database (SQLite file or PostgreSQL), migrated on first use per process."""

    url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(url=setting(settings, "database_url"))

    def engine(self) -> sa.Engine:
        return ready_engine(self.url)


# A profile scrape needs only authorMeta, which every video of the profile carries: a few videos
# suffice, and the actor bills per result.
PROFILE_RESULTS_PER_PAGE = 3


class Scraper(dg.ConfigurableResource):
    """Where videos come from: the source SCRAPER_SOURCE names, the simulated one or the Apify actor."""

    source: str  # a ScraperSource value
    simulated_videos_per_day: int
    apify_api_url: str
    apify_token: str | None
    apify_actor_id: str
    hashtags: list[str]
    results_per_hashtag: int
    timeout_s: float
    max_wait_s: float

    @property
    def simulated(self) -> bool:
        """True for the simulated source. Any value but the two sources is refused: an unresolved
        EnvVar (a resource used outside a run) must not fall through to paid Apify runs."""
        try:
            return ScraperSource(self.source) is ScraperSource.simulated
        except ValueError:
            raise ValueError(
                f"scraper source {self.source!r} is neither of "
                f"{', '.join(kind.value for kind in ScraperSource)}"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            source=setting(settings, "scraper_source"),
            simulated_videos_per_day=settings.simulated_videos_per_day,
            apify_api_url=setting(settings, "apify_api_url"),
            apify_token=setting(settings, "apify_token"),
            apify_actor_id=setting(settings, "apify_actor_id"),
            hashtags=settings.hashtags,
            results_per_hashtag=settings.apify_results_per_hashtag,
            timeout_s=settings.apify_timeout_s,
            max_wait_s=settings.apify_max_wait_s,
        )

    def apify_client(self):
        from viral_pipeline.sources.apify import ApifyClient

        return ApifyClient(
            api_url=self.apify_api_url,
            token=self.apify_token,
            actor_id=self.apify_actor_id,
            timeout_s=self.timeout_s,
        )

    def fetch_day(self, day: date) -> Iterator[Any]:
        """Items for one day's scrape, from whichever source is configured."""
        if self.simulated:
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
        if self.simulated:
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

    def fetch_profile(self, handle: str):
        """One creator's profile (CreatorProfile); ProfileNotFound when the handle names nobody."""
        from viral_pipeline.engine.inputs.profiles import profile_from_items, simulated_profile
        from viral_pipeline.sources.apify import build_profile_input

        if self.simulated:
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
    experiment: str
    artifact_root: str | None
    model_name: str
    ui_url: str | None  # the MLflow UI's address, for clickable run links

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            tracking_uri=setting(settings, "mlflow_tracking_uri"),
            experiment=setting(settings, "mlflow_experiment"),
            artifact_root=settings.artifact_root,
            model_name=setting(settings, "model_name"),
            ui_url=settings.mlflow_ui,
        )

    def client(self):
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
    """How the label is defined, when the bundled set stands in, how many trajectories the update
    model of a real source needs, and what the gate demands (the gate's defaults and their
    reasons: engine/model/gate.py)."""

    viral_quantile: float
    label_window_days: int
    training_min_rows: int
    update_training_min_videos: int
    gate_min_roc_auc: float
    gate_min_roc_auc_ci_low: float
    gate_min_pr_auc_lift: float
    gate_max_ece: float
    gate_min_accuracy: float
    gate_min_balanced_accuracy: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Every field is the setting of the same name."""
        return cls(**{name: setting(settings, name) for name in cls.model_fields})

    def gate_thresholds(self) -> GateThresholds:
        """The gate's thresholds: each `gate_<name>` field sets GateThresholds' `<name>`."""
        return GateThresholds(
            **{
                name.removeprefix("gate_"): getattr(self, name)
                for name in type(self).model_fields
                if name.startswith("gate_")
            }
        )
