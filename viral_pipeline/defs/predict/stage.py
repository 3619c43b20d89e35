"""Timing and costing of every op of `predict`: output metadata and one "stage complete" line."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from viral_pipeline.observability import bound_context, get_logger

log = get_logger("viral_pipeline.predict")


@dataclass(frozen=True)
class Staged:
    """An op's value with what producing it cost; persist stores the breakdown."""

    stage: str
    request_id: str
    value: Any
    duration_ms: float
    cost_cents: float = 0.0
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "provider": self.provider,
            "duration_ms": self.duration_ms,
            "cost_cents": self.cost_cents,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


class StageTimer:
    """`with StageTimer("rules", request_id) as t: ...; return t.output(value)`."""

    def __init__(self, stage: str, request_id: str) -> None:
        self.stage, self.request_id = stage, request_id
        self._started = time.perf_counter()
        self._context = bound_context(request_id=request_id, stage=stage)

    def __enter__(self) -> StageTimer:
        self._context.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._context.__exit__(*exc_info)

    def output(self, value: Any, *, cost_cents: float = 0.0, provider: str | None = None,
               input_tokens: int | None = None, output_tokens: int | None = None,
               **metadata: Any) -> dg.Output:
        duration_ms = round((time.perf_counter() - self._started) * 1000, 2)
        cost_cents = round(float(cost_cents), 6)
        # The one line the audited original got wrong: all four fields together.
        log.info("stage complete", request_id=self.request_id, stage=self.stage,
                 duration_ms=duration_ms, cost_cents=cost_cents, **metadata)
        staged = Staged(self.stage, self.request_id, value, duration_ms, cost_cents, provider, input_tokens,
                        output_tokens, metadata)
        return dg.Output(staged, metadata={"duration_ms": duration_ms, "cost_cents": cost_cents,
                                           **{k: v for k, v in metadata.items() if isinstance(v, (int, float, str, bool))}})
