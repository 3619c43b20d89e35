"""Both LLM judges of a prediction at once: the request waits for the slower, not for both.

The fake servers speak the Gemini and DeepSeek wire formats on 127.0.0.1. To prove the calls
overlap without timing anything, each fake holds its answer until both requests have arrived (a
barrier with a bounded wait): judges called one after the other would fail the first call."""

import threading

import pytest

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.predict.judges import at_once
from viral_pipeline.llm.breaker import CircuitBreaker
from viral_pipeline.settings import get_settings
from viral_pipeline_tests.fakes.llm_servers import FakeDeepSeek, FakeGemini
from viral_pipeline_tests.test_predict import _engine, _predict_once, _stage_rows, _with_llms


def _judges_at(monkeypatch, gemini, deepseek, timeout_s: str):
    """The Definitions with both judges pointed at the fakes, each call given `timeout_s`."""
    _with_llms(monkeypatch, gemini, deepseek)
    monkeypatch.setenv("LLM_TIMEOUT_S", timeout_s)
    get_settings.cache_clear()
    return load_defs()


def test_both_judges_are_called_at_once(monkeypatch):
    both_in = threading.Barrier(2)
    with FakeGemini() as gemini_server, FakeDeepSeek() as deepseek_server:
        # Each answer waits for the other request (up to 10 s, within the judges' 20 s budget).
        gemini_server.together(both_in, wait_s=10, score=80)
        deepseek_server.together(both_in, wait_s=10, score=60)
        defs = _judges_at(monkeypatch, gemini_server, deepseek_server, "20")
        result, request_id = _predict_once(defs)
        assert len(gemini_server.requests) == len(deepseek_server.requests) == 1
    signals = result["signals"]
    assert signals["gemini"]["score"] == 80 and signals["deepseek"]["score"] == 60
    rows = {row.stage: row for row in _stage_rows(request_id)}
    for judge in ("gemini", "deepseek"):
        assert rows[judge].provider == judge and rows[judge].cost_cents > 0
        assert rows[judge].input_tokens > 0 and rows[judge].duration_ms > 0
    # Each judge keeps its own duration, and the request waited for the slower one only.
    stages = {stage["stage"]: stage["duration_ms"] for stage in result["stages"]}
    judged = (stages.pop("gemini"), stages.pop("deepseek"))
    assert result["duration_ms"] == pytest.approx(sum(stages.values()) + max(judged), abs=0.02)


def test_a_slow_judge_does_not_lose_the_others_verdict(monkeypatch):
    with FakeGemini() as gemini_server, FakeDeepSeek() as deepseek_server:
        gemini_server.delay(30)  # far past its 1 s budget
        deepseek_server.succeed(score=60)
        defs = _judges_at(monkeypatch, gemini_server, deepseek_server, "1")
        result, request_id = _predict_once(defs)
    gemini, deepseek = result["signals"]["gemini"], result["signals"]["deepseek"]
    assert gemini["available"] is False and "timed out" in gemini["reason"]
    assert deepseek["available"] is True and deepseek["score"] == 60
    assert deepseek["cost_cents"] > 0 and deepseek["weight"] > 0.15  # it carries gemini's share
    assert {"gemini", "deepseek"} <= {row.stage for row in _stage_rows(request_id)}
    # One breaker per provider: only the slow one counted a failure.
    failures = {
        provider: CircuitBreaker(_engine(), provider).state()["consecutive_failures"]
        for provider in ("gemini", "deepseek")
    }
    assert failures == {"gemini": 1, "deepseek": 0}


def test_a_call_still_running_after_the_wait_is_given_up_and_the_others_result_kept():
    release = threading.Event()
    try:
        results = at_once(
            {"quick": lambda: "verdict", "stuck": lambda: "late answer" * release.wait(30)},
            wait_s=0.2,
            late=lambda name: f"{name} given up",
        )
    finally:
        release.set()
    assert results == {"quick": "verdict", "stuck": "stuck given up"}


def test_an_error_of_one_call_is_raised_once_the_other_has_ended():
    answered = threading.Event()

    def fails():
        raise RuntimeError("a bug in one judge's stage")

    def answers():
        threading.Event().wait(0.3)  # still at work when the other call fails
        answered.set()
        return "verdict"

    with pytest.raises(RuntimeError, match="a bug"):
        at_once({"fails": fails, "answers": answers}, wait_s=10, late=lambda name: name)
    assert answered.is_set()
