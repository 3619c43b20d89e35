"""LLM judges of a video's hook and caption (Gemini, DeepSeek), their prices, and a circuit
breaker per provider kept in the application database.

    judge = GeminiJudge(api_key, base_url, model, timeout_s=20)
    breaker = CircuitBreaker(engine, judge.provider)
    result = call_with_breaker(breaker, lambda: judge.judge(item))   # JudgeResult
    # JudgeUnavailable (no key, BreakerOpen): leave the signal out. JudgeFailed: the call failed.
"""

from viral_pipeline.llm.breaker import BreakerOpen, CircuitBreaker, Permit, call_with_breaker
from viral_pipeline.llm.deepseek import DeepSeekJudge
from viral_pipeline.llm.gemini import GeminiJudge
from viral_pipeline.llm.judge import (
    BaseJudge,
    JudgeError,
    JudgeFailed,
    JudgeInput,
    JudgeResult,
    JudgeUnavailable,
    JudgeVerdict,
    build_prompt,
    parse_verdict,
)
from viral_pipeline.llm.prices import PRICES, Price, cost_cents

__all__ = [
    "PRICES",
    "BaseJudge",
    "BreakerOpen",
    "CircuitBreaker",
    "DeepSeekJudge",
    "GeminiJudge",
    "JudgeError",
    "JudgeFailed",
    "JudgeInput",
    "JudgeResult",
    "JudgeUnavailable",
    "JudgeVerdict",
    "Permit",
    "Price",
    "build_prompt",
    "call_with_breaker",
    "cost_cents",
    "parse_verdict",
]
