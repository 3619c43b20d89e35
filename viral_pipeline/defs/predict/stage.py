"""Timing and costing of every op of `predict`: output metadata and one "stage complete" line.

Also two things that keep a run cheap. A run's every Dagster event is a write to its event log
(about 10 ms each on SQLite here), so:
- each `Staged` value carries its upstream stages (`lineage`), and the late ops take one input
  instead of all of them (each input costs two events);
- a failing op marks its request failed and reports to Sentry from `StageTimer` itself, rather
  than from a job-level failure hook, which logs a "hook skipped" event for every op that succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import dagster as dg

from viral_pipeline.engine.prediction import StageRecord
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
    upstream: tuple[Staged, ...] = ()

    def lineage(self) -> dict[str, Staged]:
        """This stage and every stage it was computed from, by stage name."""
        stages: dict[str, Staged] = {}
        for item in self.upstream:
            stages.update(item.lineage())
        stages[self.stage] = self
        return stages

    def record(self) -> StageRecord:
        return StageRecord(
            stage=self.stage,
            provider=self.provider,
            duration_ms=self.duration_ms,
            cost_cents=self.cost_cents,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )


def elapsed_ms(stages: Sequence[Staged], side_by_side: Collection[str]) -> float:
    """How long a request waited for `stages`: those named in `side_by_side` ran at once and
    count as the slowest of them, the others one after the other."""
    beside = [s.duration_ms for s in stages if s.stage in side_by_side]
    after = [s.duration_ms for s in stages if s.stage not in side_by_side]
    return round(sum(after) + max(beside, default=0.0), 2)


def fail_request(engine: Any, request_id: str, stage: str, error: BaseException) -> None:
    """Mark the request failed (a run retry flips it back; a success is never overwritten) and
    report the error to Sentry."""
    from viral_pipeline.observability import report_exception
    from viral_pipeline.store.predictions import mark_failed

    try:
        mark_failed(engine, request_id, f"{stage}: {error}")
    finally:
        report_exception(error, request_id=request_id, stage=stage)


class StageTimer:
    """`with StageTimer("rules", request_id, app_db, upstream) as t: ...; return t.output(value)`.

    An exception inside the block marks the request failed (see `fail_request`) and propagates,
    so Dagster fails the run and its run retries apply."""

    def __init__(
        self, stage: str, request_id: str, app_db: Any = None, upstream: tuple[Staged, ...] = ()
    ) -> None:
        self.stage, self.request_id = stage, request_id
        self._app_db, self._upstream = app_db, upstream
        self._started = time.perf_counter()
        self._context = bound_context(request_id=request_id, stage=stage)

    def __enter__(self) -> StageTimer:
        self._context.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and self._app_db is not None:
                fail_request(self._app_db.engine(), self.request_id, self.stage, exc)
        finally:
            self._context.__exit__(exc_type, exc, tb)

    def output(
        self,
        value: Any,
        *,
        cost_cents: float = 0.0,
        provider: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        carry: dict[str, Any] | None = None,
        output_name: str = "result",
        **metadata: Any,
    ) -> dg.Output:
        """The op's output (`output_name` of an op with several). `metadata` is logged and shown
        in the UI; `carry` holds values only later ops read (a trend snapshot, the suggestions),
        too large or too structured for a log line, and is neither."""
        duration_ms = round((time.perf_counter() - self._started) * 1000, 2)
        cost_cents = round(float(cost_cents), 6)
        # Request, stage, duration and cost on one line: a stage's cost is never logged apart from it.
        log.info(
            "stage complete",
            request_id=self.request_id,
            stage=self.stage,
            duration_ms=duration_ms,
            cost_cents=cost_cents,
            **metadata,
        )
        staged = Staged(
            self.stage,
            self.request_id,
            value,
            duration_ms,
            cost_cents,
            provider,
            input_tokens,
            output_tokens,
            {**metadata, **(carry or {})},
            self._upstream,
        )
        return dg.Output(
            staged,
            output_name=output_name,
            metadata={
                "duration_ms": duration_ms,
                "cost_cents": cost_cents,
                **{k: v for k, v in metadata.items() if isinstance(v, (int, float, str, bool))},
            },
        )
