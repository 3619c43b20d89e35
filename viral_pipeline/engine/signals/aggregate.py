"""Combine the five signals of a prediction into one score and a confidence.

Signals (`SIGNALS`): ``rules`` (heuristics), ``trends`` (trending sounds and hashtags), ``ml`` (the
champion model), ``gemini`` and ``deepseek`` (LLM judges). Each gives a score on 0..100, or says
it is unavailable and why (no API key, an open circuit breaker, no champion model, no
trending_sounds yet...).

Weights come from configuration (``WEIGHT_*``): non-negative, finite, and normalised to sum to 1
over the five signals (a signal missing from the mapping weighs 0). The score is the weighted
mean of the available signals' scores. An unavailable signal's weight is handed on, in this order:

1. **LLM to LLM first.** When exactly one LLM judge is unavailable, its weight goes to the other
   judge, so the model-free "reading" of the video keeps its configured share of the score.
2. **Proportionally.** Any other unavailable weight (ML, rules, trends, or both judges) is spread
   over the available signals in proportion to their own (already adjusted) weights. If every
   available signal weighs 0, it is spread equally over them.

Each unavailable signal adds a note such as ``"gemini unavailable (GEMINI_API_KEY not set): its
0.15 went to deepseek"``. When no signal is available, `aggregate` raises ValueError: there is
nothing to predict from.

Confidence, from the available signals' scores (spread = population standard deviation):

- ``LOW`` when both LLM judges are unavailable, or fewer than 3 signals are available, or the
  spread exceeds `LOW_SPREAD` (30 points);
- ``HIGH`` when all five signals are available and the spread is at most `HIGH_SPREAD` (15);
- ``MEDIUM`` otherwise.

The notes say which rule set the confidence when it is not HIGH.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from operator import mul
from typing import Literal


class SignalName(StrEnum):
    """The five signals: the predict job's stages, the WEIGHT_* settings and the keys of a
    result's `signals` are spelled from these."""

    RULES = "rules"
    TRENDS = "trends"
    ML = "ml"
    GEMINI = "gemini"
    DEEPSEEK = "deepseek"


SIGNALS: tuple[SignalName, ...] = tuple(SignalName)
LLM_SIGNALS: tuple[SignalName, SignalName] = (SignalName.GEMINI, SignalName.DEEPSEEK)
HIGH_SPREAD = 15.0
LOW_SPREAD = 30.0
MIN_SIGNALS = 3

Confidence = Literal["HIGH", "MEDIUM", "LOW"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal's verdict. An available signal has a finite score in 0..100."""

    name: SignalName
    score: float | None
    available: bool
    reason: str | None = None  # why it is unavailable, or a short note on how the score came about
    cost_cents: float = 0.0

    def __post_init__(self) -> None:
        if self.available and (self.score is None or not 0.0 <= self.score <= 100.0):
            # NaN fails both comparisons, so it is refused here too.
            raise ValueError(
                f"signal {str(self.name)!r}: an available signal needs a score in 0..100, got {self.score!r}"
            )

    @classmethod
    def unavailable(cls, name: SignalName, reason: str, cost_cents: float = 0.0) -> Signal:
        return cls(name=name, score=None, available=False, reason=reason, cost_cents=cost_cents)


@dataclass(frozen=True, slots=True)
class Aggregate:
    score: float  # 0..100
    raw_probability: float  # score / 100, before calibration
    weights_used: dict[str, float]  # per signal of SIGNALS; sums to 1; 0 for the unavailable ones
    redistributed: bool  # True when an unavailable signal's weight went to others
    confidence: Confidence
    notes: list[str] = field(default_factory=list)


_KNOWN = frozenset(SIGNALS)
_NAMES = [str(name) for name in SIGNALS]  # as messages show them


def check_signal_names(names: Iterable[str]) -> None:
    """ValueError naming any name that is not one of SIGNALS."""
    unknown = sorted(set(names) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown signal(s): {unknown}; known: {_NAMES}")


def ml_score(probability: float, threshold: float) -> float:
    """The champion's probability as a 0..100 signal. The probability is on a 10%-base-rate
    scale; as a percentile-like score it is 100 × probability / (2 × threshold), capped, so the
    decision threshold maps to 50."""
    return min(100.0, 100.0 * probability / (2 * max(threshold, 1e-6)))


def normalise_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """The configured weights over SIGNALS, summing to 1. Raises ValueError on a bad mapping."""
    return dict(_normalised(tuple(weights.items())))


@lru_cache(maxsize=64)  # configuration rarely changes: the same few weight sets come back
def _normalised(items: tuple[tuple[str, float], ...]) -> dict[str, float]:
    """Shared between calls: read it, never change it."""
    weights = dict(items)
    if not weights.keys() <= _KNOWN:
        unknown = sorted(set(weights) - _KNOWN)
        raise ValueError(f"unknown signal(s) in the weights: {unknown}; known: {_NAMES}")
    raw = [float(weights.get(name, 0.0)) for name in SIGNALS]
    if not all(0.0 <= weight < math.inf for weight in raw):  # NaN fails this too
        bad = next(name for name, weight in zip(SIGNALS, raw) if not 0.0 <= weight < math.inf)
        raise ValueError(
            f"the weight of {str(bad)!r} must be a finite number >= 0, got {weights[bad]!r}"
        )
    total = sum(raw)
    if total <= 0.0:
        raise ValueError("the signal weights sum to 0: give at least one signal a positive weight")
    return {name: weight / total for name, weight in zip(SIGNALS, raw)}


def _spread(scores: list[float]) -> float:
    """Population standard deviation (statistics.pstdev is exact but about 20x slower)."""
    mean = sum(scores) / len(scores)
    deviations = [s - mean for s in scores]
    return math.sqrt(sum(map(mul, deviations, deviations)) / len(scores))


def _unavailable_note(name: str, signal: Signal | None, weight: float, went_to: str) -> str:
    reason = "no signal" if signal is None else signal.reason
    head = f"{name} unavailable ({reason})" if reason else f"{name} unavailable"
    if weight <= 0.0:
        return head
    return f"{head}: its {weight:.2f} went to {went_to}"


def confidence_of(n_available: int, llm_up: int, spread: float) -> tuple[Confidence, str | None]:
    """The confidence and, unless HIGH, a note saying why."""
    if not llm_up:
        return "LOW", "confidence LOW: both LLM judges are unavailable"
    if n_available < MIN_SIGNALS:
        return "LOW", f"confidence LOW: only {n_available} of {len(SIGNALS)} signals are available"
    if spread > LOW_SPREAD:
        return "LOW", f"confidence LOW: the signals disagree (spread {spread:.1f} > {LOW_SPREAD:g})"
    if n_available < len(SIGNALS):
        return "MEDIUM", f"confidence MEDIUM: {n_available} of {len(SIGNALS)} signals are available"
    if spread > HIGH_SPREAD:
        return (
            "MEDIUM",
            f"confidence MEDIUM: the signals spread {spread:.1f} points (> {HIGH_SPREAD:g})",
        )
    return "HIGH", None


def aggregate(signals: Mapping[str, Signal], weights: Mapping[str, float]) -> Aggregate:
    """The weighted score of the available signals, the weights used and a confidence.

    `signals` maps a name of SIGNALS to its Signal (a missing name counts as unavailable);
    `weights` maps names to configured weights (see the module docstring for the rules).
    """
    check_signal_names(signals.keys())
    base = _normalised(tuple(weights.items()))
    scores: dict[str, float] = {}
    for key, signal in signals.items():
        if signal.name != key:
            raise ValueError(f"the signal under {str(key)!r} is named {str(signal.name)!r}")
        if signal.available:
            scores[key] = float(signal.score)  # type: ignore[arg-type]
    if not scores:
        reasons = "; ".join(_unavailable_note(n, signals.get(n), 0.0, "") for n in SIGNALS)
        raise ValueError(f"no signal is available, so there is nothing to aggregate: {reasons}")

    notes: list[str] = []
    if len(scores) == len(SIGNALS):  # everything answered: the configured weights as they are
        used, redistributed = dict(base), False
    else:
        used, redistributed = redistribute(signals, base, scores, notes)
    score = sum([used[name] * value for name, value in scores.items()])
    score = min(100.0, max(0.0, score))  # rounding must not leave 0..100
    llm_up = (LLM_SIGNALS[0] in scores) + (LLM_SIGNALS[1] in scores)
    confidence, why = confidence_of(len(scores), llm_up, _spread(list(scores.values())))
    if why is not None:
        notes.append(why)
    return Aggregate(
        score=score,
        raw_probability=score / 100.0,
        weights_used=used,
        redistributed=redistributed,
        confidence=confidence,
        notes=notes,
    )


def redistribute(
    signals: Mapping[str, Signal],
    base: Mapping[str, float],
    scores: Mapping[str, float],
    notes: list[str],
) -> tuple[dict[str, float], bool]:
    """The weights with the unavailable signals' shares handed on (module docstring); notes added."""
    used: dict[str, float] = {name: (base[name] if name in scores else 0.0) for name in SIGNALS}
    down = [name for name in SIGNALS if name not in scores]
    llm_up = [name for name in LLM_SIGNALS if name in scores]
    if len(llm_up) == 1:  # 1. one judge down, the other up: the weight stays with the judges
        judge = llm_up[0]
        gone = LLM_SIGNALS[1] if judge == LLM_SIGNALS[0] else LLM_SIGNALS[0]
        used[judge] += base[gone]
        notes.append(_unavailable_note(gone, signals.get(gone), base[gone], judge))
        down.remove(gone)
    spare = sum(base[name] for name in down)
    if spare > 0.0:  # 2. the rest: spread over the available signals by their weights
        carrying = sum(used[name] for name in scores)
        for name in scores:
            used[name] += spare * (used[name] / carrying if carrying > 0.0 else 1.0 / len(scores))
    for name in down:
        notes.append(_unavailable_note(name, signals.get(name), base[name], "the others"))
    redistributed = any(base[name] > 0.0 for name in SIGNALS if name not in scores)
    return used, redistributed
