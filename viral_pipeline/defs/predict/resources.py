"""Resources of the predict job: the LLM judges (keys via EnvVar) and the champion model."""

from __future__ import annotations

import dagster as dg

from viral_pipeline.engine.signals.aggregate import SIGNALS, SignalName

_champion_caches: dict[str, object] = {}


class LlmJudges(dg.ConfigurableResource):
    """Gemini and DeepSeek judges, each behind a circuit breaker kept in the app database."""

    gemini_api_key: str | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    gemini_model: str = "gemini-2.5-flash"
    deepseek_api_key: str | None = None
    deepseek_base_url: str = "https://api.deepseek.com"
    deepseek_model: str = "deepseek-chat"
    timeout_s: float = 20.0
    breaker_failure_threshold: int = 3
    breaker_open_seconds: float = 60.0

    def configured(self, provider: SignalName) -> bool:
        return bool(self.gemini_api_key if provider == SignalName.GEMINI else self.deepseek_api_key)

    def judge(self, provider: SignalName):  # type: ignore[no-untyped-def]
        if provider == SignalName.GEMINI:
            from viral_pipeline.llm.gemini import GeminiJudge

            return GeminiJudge(
                self.gemini_api_key, self.gemini_base_url, self.gemini_model, self.timeout_s
            )
        from viral_pipeline.llm.deepseek import DeepSeekJudge

        return DeepSeekJudge(
            self.deepseek_api_key, self.deepseek_base_url, self.deepseek_model, self.timeout_s
        )

    def breaker(self, engine, provider: str):  # type: ignore[no-untyped-def]
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

    model_name: str = "viral_classifier"
    scraper_source: str = "simulated"
    allow_other_source: bool = False

    def serving_decision(self, version: str, trained_on):  # type: ignore[no-untyped-def]
        """May the version trained on `trained_on` (a Provenance or None) serve the configured source?"""
        from viral_pipeline.engine.model.provenance import serving_decision

        return serving_decision(version, trained_on, self.scraper_source, self.allow_other_source)

    def champion(self, engine):  # type: ignore[no-untyped-def]
        from viral_pipeline.ml.published import PublishedChampion

        cache = _champion_caches.get(self.model_name)
        if cache is None:
            cache = _champion_caches[self.model_name] = PublishedChampion(self.model_name)
        return cache.get(engine)  # type: ignore[attr-defined]


class SignalWeights(dg.ConfigurableResource):
    """Weights of the five signals (WEIGHT_* settings); normalised over the available ones."""

    rules: float = 0.15
    trends: float = 0.15
    ml: float = 0.40
    gemini: float = 0.15
    deepseek: float = 0.15

    def as_dict(self) -> dict[str, float]:
        return {name.value: getattr(self, name) for name in SIGNALS}
