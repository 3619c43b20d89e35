"""List prices of the LLM judges, and the cost of one call in US cents.

Prices are data with a date and a source: when a provider changes its list price, add the new
figures here (and change `effective`), never edit the arithmetic. Calls log their raw token
counts, so a past call's cost can always be recomputed from the table in force at the time.

Token conventions (the same for every provider):

- `input_tokens` is the whole prompt, cached part included (Gemini's `promptTokenCount`,
  DeepSeek's `prompt_tokens` = cache hits + cache misses);
- `cached_tokens` is the part of the prompt served from the provider's cache, billed at the
  cached rate (Gemini's `cachedContentTokenCount`, DeepSeek's `prompt_cache_hit_tokens`);
- `output_tokens` is everything generated, reasoning included (Gemini's `candidatesTokenCount`
  + `thoughtsTokenCount`, DeepSeek's `completion_tokens`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date

from viral_pipeline.observability import get_logger

log = get_logger(__name__)

TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per million tokens
CENTS_PER_USD = 100


@dataclass(frozen=True)
class Price:
    """USD per million tokens, in force from `effective`, as published on `source`."""

    input_per_mtok_usd: float
    cached_input_per_mtok_usd: float
    output_per_mtok_usd: float
    effective: date
    source: str


_GEMINI_SOURCE = (
    "Gemini Developer API pricing (ai.google.dev/gemini-api/docs/pricing): paid tier, Standard, "
    "text input, prompts <= 200k tokens; cached = context caching rate; thinking billed as output"
)
_DEEPSEEK_SOURCE = (
    "DeepSeek API docs, Models & Pricing (api-docs.deepseek.com/quick_start/pricing): "
    "DeepSeek-V3.2 price list after the 2025-09-29 price cut; cached = input cache hit"
)

PRICES: dict[tuple[str, str], Price] = {
    # Gemini 2.5 family, stable (GA) models.
    ("gemini", "gemini-2.5-flash"): Price(0.30, 0.03, 2.50, date(2025, 6, 17), _GEMINI_SOURCE),
    ("gemini", "gemini-2.5-flash-lite"): Price(0.10, 0.01, 0.40, date(2025, 7, 22), _GEMINI_SOURCE),
    ("gemini", "gemini-2.5-pro"): Price(1.25, 0.125, 10.00, date(2025, 6, 17), _GEMINI_SOURCE),
    # deepseek-chat and deepseek-reasoner are the non-thinking and thinking modes of one model.
    ("deepseek", "deepseek-chat"): Price(0.28, 0.028, 0.42, date(2025, 9, 29), _DEEPSEEK_SOURCE),
    ("deepseek", "deepseek-reasoner"): Price(
        0.28, 0.028, 0.42, date(2025, 9, 29), _DEEPSEEK_SOURCE
    ),
}

# An unknown model (a preview, a newer release, a local OpenAI-compatible server) is costed high
# rather than at zero, so a budget watching cost_cents errs on the safe side.
DEFAULT_PRICE = Price(
    2.50,
    2.50,
    15.00,
    date(2025, 6, 17),
    "conservative default for unknown models: Gemini 2.5 Pro long-prompt (> 200k) list rates, "
    "no cache discount (the highest rates of any model in this table)",
)

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def normalize_model(model: str) -> str:
    """`models/gemini-2.5-flash` (Gemini's resource name) and `Gemini-2.5-Flash` are the same model."""
    return model.strip().lower().removeprefix("models/")


def price_for(provider: str, model: str) -> Price:
    """The table's row, or DEFAULT_PRICE for an unknown model (with a warning, once per model)."""
    key = (provider.strip().lower(), normalize_model(model))
    price = PRICES.get(key)
    if price is not None:
        return price
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    if first:
        log.warning(
            "llm model has no price; using the conservative default",
            provider=key[0],
            model=key[1],
            input_per_mtok_usd=DEFAULT_PRICE.input_per_mtok_usd,
            output_per_mtok_usd=DEFAULT_PRICE.output_per_mtok_usd,
        )
    return DEFAULT_PRICE


def cost_cents(
    provider: str, model: str, input_tokens: int, cached_tokens: int, output_tokens: int
) -> float:
    """Cost of one call in US cents (unrounded). Never raises: bad counts are clamped to 0."""
    price = price_for(provider, model)
    prompt = max(0, int(input_tokens or 0))
    cached = min(prompt, max(0, int(cached_tokens or 0)))
    output = max(0, int(output_tokens or 0))
    usd = (
        (prompt - cached) * price.input_per_mtok_usd
        + cached * price.cached_input_per_mtok_usd
        + output * price.output_per_mtok_usd
    ) / TOKENS_PER_PRICE_UNIT
    return usd * CENTS_PER_USD
