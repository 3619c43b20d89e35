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

    def creator_histories(self, engine, handle: str | None, until):
        """The creator history features (engine/model/creator_history.py) at any posting time up
        to `until`, as a function of that time, from one query of the creator's videos before
        `until`: `PriorHistory.at` keeps, for each time, only the videos strictly before it and the
        labels of windows closed before its own opened, so each equals a query at that time.
        Without a handle the creator is unknown and they are left out (NaN, as in feature_vector)."""
        if handle is None:
            return lambda posted_at: {}
        from viral_pipeline.engine.model.creator_history import PriorHistory
        from viral_pipeline.store.creator_history import prior_videos

        window_days = self.label_window_days
        prior = prior_videos(engine, handle, until, window_days=window_days)
        return PriorHistory(prior, quantile=self.viral_quantile, window_days=window_days).at

    def tag_uses(self, engine, hashtags, posted_at) -> dict[str, int]:
        """Videos with each topic hashtag of `hashtags` in the look-back before `posted_at`
        (engine/model/content.py), in one query."""
        from viral_pipeline.engine.model.content import topic_tags
        from viral_pipeline.store.content_uses import recent_tag_uses

        return recent_tag_uses(engine, topic_tags(hashtags), posted_at)

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
