"""The two LLM judges of a prediction, called at once: the request waits for the slower, not both.

The predict job runs on the in-process executor (a process per step would cost far more than a
judge call), which runs its ops one after the other. So both judges are one op, `judges`, which
calls them side by side on two threads, and gives each its own stage: its own `Staged` output,
duration, cost, "stage complete" line and `prediction_stages` row, under the judge's name.

What the two threads share is safe to share: each judge has its own httpx client; the breakers
use the app database's engine, whose pool hands each thread its own connection, and every
breaker change is one conditional UPDATE; each thread runs in a copy of the op's contextvars, so
its log lines and Sentry events carry the request, and `StageTimer` binds the judge's stage there.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import dagster as dg

from viral_pipeline.defs.predict.resources import LlmJudges
from viral_pipeline.defs.predict.stage import Staged, StageTimer
from viral_pipeline.defs.resources import AppDatabase
from viral_pipeline.engine.signals.aggregate import LLM_SIGNALS, Signal, SignalName

K = TypeVar("K")
T = TypeVar("T")

# A judge's call ends within its budget (LLM_TIMEOUT_S, its retry included); its breaker's reads
# and writes come on top. A judge still running this long after its budget is stuck in the
# database, and the prediction goes on without it rather than waiting for it.
BREAKER_GRACE_S = 5.0


def judge_both(
    normalized: Staged, judges: LlmJudges, app_db: AppDatabase
) -> tuple[dg.Output, dg.Output]:
    """Both judges' outputs, in LLM_SIGNALS order, each named after its judge."""
    request_id = normalized.request_id
    # Started now, so a judge given up on reports the time the request waited for it.
    given_up = {
        provider: StageTimer(provider, request_id, upstream=(normalized,))
        for provider in LLM_SIGNALS
    }
    wait_s = judges.timeout_s + BREAKER_GRACE_S
    outputs = at_once(
        {provider: _judge_call(provider, normalized, judges, app_db) for provider in LLM_SIGNALS},
        wait_s,
        lambda provider: _given_up(given_up[provider], provider, wait_s),
    )
    return outputs[SignalName.GEMINI], outputs[SignalName.DEEPSEEK]


def at_once(
    calls: Mapping[K, Callable[[], T]], wait_s: float, late: Callable[[K], T]
) -> dict[K, T]:
    """Every call's result, the calls run side by side; `late(name)` for a call not done within
    `wait_s`, which is left to finish on its own. An exception of a call is raised once every
    call has ended or been given up, so no call is cut short by another's error."""
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=len(calls), thread_name_prefix="llm-judge"
    )
    try:
        # Each call runs in its own copy of the caller's context: a Context runs in one thread at once.
        futures = {
            name: pool.submit(contextvars.copy_context().run, call) for name, call in calls.items()
        }
        concurrent.futures.wait(futures.values(), timeout=wait_s)
        return {
            name: future.result() if future.done() else late(name)
            for name, future in futures.items()
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _judge_call(
    provider: SignalName, normalized: Staged, judges: LlmJudges, app_db: AppDatabase
) -> Callable[[], dg.Output]:
    return lambda: judge_stage(provider, normalized, judges, app_db)


def _given_up(timer: StageTimer, provider: SignalName, wait_s: float) -> dg.Output:
    from viral_pipeline.observability import report_exception

    reason = f"no verdict within {wait_s:g} s"
    report_exception(TimeoutError(reason), request_id=timer.request_id, stage=provider)
    with timer:
        signal = Signal(provider, None, False, f"failed: {reason}")
        return timer.output(signal, provider=provider, outcome="failed", output_name=provider)


def judge_stage(
    provider: SignalName, normalized: Staged, judges: LlmJudges, app_db: AppDatabase
) -> dg.Output:
    """One judge's stage: its signal, or why it is unavailable, with what the call cost."""
    from viral_pipeline.llm.breaker import call_with_breaker
    from viral_pipeline.llm.judge import JudgeError, JudgeInput, JudgeUnavailable
    from viral_pipeline.observability import report_exception

    request = normalized.value
    request_id = normalized.request_id
    with StageTimer(provider, request_id, app_db, (normalized,)) as timer:
        if not judges.configured(provider):
            # Not an error: the product runs out of the box without keys.
            reason = f"{provider.upper()}_API_KEY not set"
            return _output(timer, Signal(provider, None, False, reason), outcome="unavailable")
        item = JudgeInput(
            caption=request.caption,
            hook=request.hook,
            hashtags=list(request.hashtags),
            duration_s=request.duration_s,
            sound_name=request.sound_name,
        )
        try:
            with judges.judge(provider) as judge:
                result = call_with_breaker(
                    judges.breaker(app_db.engine(), provider), lambda: judge.judge(item)
                )
        except JudgeUnavailable as error:  # the breaker is open
            signal = Signal(provider, None, False, error.reason)
            return _output(timer, signal, outcome="unavailable")
        except JudgeError as error:
            # The prediction goes on without this judge; the failure is reported, and what the
            # failed call cost (tokens of a malformed answer) is still counted.
            report_exception(error, request_id=request_id, stage=provider)
            return _output(
                timer,
                Signal(provider, None, False, f"failed: {error.reason}"),
                cost_cents=error.cost_cents,
                input_tokens=error.input_tokens,
                output_tokens=error.output_tokens,
                outcome="failed",
                attempts=error.attempts,
            )
        reasons = "; ".join(result.verdict.reasons)[:300]
        signal = Signal(
            provider, float(result.verdict.score), True, reasons, cost_cents=result.cost_cents
        )
        return _output(
            timer,
            signal,
            cost_cents=result.cost_cents,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            outcome="ok",
            attempts=result.attempts,
        )


def _output(timer: StageTimer, signal: Signal, **recorded: Any) -> dg.Output:
    """The judge's output of the `judges` op, named and attributed to its provider."""
    return timer.output(signal, provider=signal.name, output_name=signal.name, **recorded)
