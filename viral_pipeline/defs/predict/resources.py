"""Resources of the predict job: the LLM judges (keys via EnvVar), the champion model, the
signal weights, and how many requests the prediction_requests sensor launches per tick."""

from __future__ import annotations

from typing import Self

import dagster as dg

from viral_pipeline.defs.resources import setting
from viral_pipeline.engine.signals.aggregate import SIGNALS, SignalName
from viral_pipeline.settings import Settings

_champion_caches: dict[str, object] = {}


class LlmJudges(dg.ConfigurableResource):
    """Gemini and DeepSeek judges, each behind a circuit breaker kept in the app database."""

    gemini_api_key: str | None
    gemini_base_url: str
    gemini_model: str
    deepseek_api_key: str | None
    deepseek_base_url: str
    deepseek_model: str
    timeout_s: float
    breaker_failure_threshold: int
    breaker_open_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            gemini_api_key=setting(settings, "gemini_api_key"),
            gemini_base_url=setting(settings, "gemini_base_url"),
            gemini_model=setting(settings, "gemini_model"),
            deepseek_api_key=setting(settings, "deepseek_api_key"),
            deepseek_base_url=setting(settings, "deepseek_base_url"),
            deepseek_model=setting(settings, "deepseek_model"),
            timeout_s=settings.llm_timeout_s,
            breaker_failure_threshold=settings.breaker_failure_threshold,
            breaker_open_seconds=settings.breaker_open_seconds,
        )

    def configured(self, provider: SignalName) -> bool:
        return bool(self.gemini_api_key if provider == SignalName.GEMINI else self.deepseek_api_key)

    def judge(self, provider: SignalName):
        if provider == SignalName.GEMINI:
            from viral_pipeline.llm.gemini import GeminiJudge

            return GeminiJudge(
                self.gemini_api_key, self.gemini_base_url, self.gemini_model, self.timeout_s
            )
        from viral_pipeline.llm.deepseek import DeepSeekJudge

        return DeepSeekJudge(
            self.deepseek_api_key, self.deepseek_base_url, self.deepseek_model, self.timeout_s
        )

    def breaker(self, engine, provider: str):
        from viral_pipeline.llm.breaker import CircuitBreaker

        return CircuitBreaker(
            engine,
            provider,
            failure_threshold=self.breaker_failure_threshold,
            open_seconds=self.breaker_open_seconds,
        )


class ModelServing(dg.ConfigurableResource):
    """The published champion (see viral_pipeline.ml.published), loaded once per version per process,
    and whether a champion trained on another scraper source may serve the configured one."""

    model_name: str
    scraper_source: str  # a ScraperSource value
    allow_other_source: bool
    # The training label's rule, which the creator history's viral rate follows.
    viral_quantile: float
    label_window_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            model_name=setting(settings, "model_name"),
            scraper_source=setting(settings, "scraper_source"),
            allow_other_source=settings.serve_model_from_other_source,
            viral_quantile=settings.viral_quantile,
            label_window_days=settings.label_window_days,
        )

    def creator_history(self, engine, handle: str | None, posted_at) -> dict[str, float]:
        """The creator history features of a request (engine/model/creator_history.py); without
        a handle the creator is unknown and they are left out (NaN, as in feature_vector)."""
        if handle is None:
            return {}
        from viral_pipeline.engine.model.creator_history import history_of
        from viral_pipeline.store.creator_history import prior_videos

        window_days = self.label_window_days
        prior = prior_videos(engine, handle, posted_at, window_days=window_days)
        return history_of(prior, posted_at, quantile=self.viral_quantile, window_days=window_days)

    def content_uses(self, engine, hashtags, posted_at) -> dict[str, float]:
        """The hashtag use counts of a request (engine/model/content.py): videos with each of its
        topic hashtags in the look-back before its posting time."""
        from viral_pipeline.engine.model.content import topic_tags, use_figures
        from viral_pipeline.store.content_uses import recent_tag_uses

        tags = topic_tags(hashtags)
        return use_figures(recent_tag_uses(engine, tags, posted_at), tags)

    def serving_decision(self, version: str, trained_on):
        """May the version trained on `trained_on` (a Provenance or None) serve the configured source?"""
        from viral_pipeline.engine.model.provenance import serving_decision

        return serving_decision(version, trained_on, self.scraper_source, self.allow_other_source)

    def champion(self, engine):
        from viral_pipeline.ml.published import PublishedChampion

        cache = _champion_caches.get(self.model_name)
        if cache is None:
            cache = _champion_caches[self.model_name] = PublishedChampion(self.model_name)
        return cache.get(engine)  # type: ignore[attr-defined]


class SignalWeights(dg.ConfigurableResource):
    """Weights of the five signals (WEIGHT_* settings); normalised over the available ones."""

    rules: float
    trends: float
    ml: float
    gemini: float
    deepseek: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(**settings.signal_weights)

    def as_dict(self) -> dict[str, float]:
        return {name.value: getattr(self, name) for name in SIGNALS}


class PredictionSensorLimits(dg.ConfigurableResource):
    """How many predict runs the prediction_requests sensor requests per tick."""

    max_runs_per_tick: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(max_runs_per_tick=settings.predict_max_runs_per_tick)
