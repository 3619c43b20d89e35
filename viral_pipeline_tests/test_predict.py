"""The prediction path: API → prediction_requests sensor → one `predict` run per request → result.

Runs execute for real in a Dagster instance; the LLM judges talk to real HTTP servers on
127.0.0.1 that speak the Gemini and DeepSeek wire formats."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.predict.sensors import prediction_requests
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request, get_request
from viral_pipeline.store.schema import prediction_stages

REQUEST = {
    "caption": "Wait for the end: the 10-minute pasta that broke my kitchen #food #recipe #fyp",
    "hashtags": ["easyrecipe", "cooking"],
    "sound": {"name": "golden dreams", "author": "someone", "original": False},
    "duration_s": 24,
    "posted_at": "2026-11-28T16:30:00Z",
    "creator": {"handle": "@chef", "followers": 25000, "verified": False},
    "hook": "I tried the viral pasta so you don't have to",
}
STAGES = {
    "normalize",
    "rules",
    "trends",
    "gemini",
    "deepseek",
    "ml",
    "aggregate",
    "calibrate",
    "persist",
}
# The predict job's ops; `judges` runs both LLM judges at once, one output and stage each.
OPS = ("normalize", "judges", "rules", "trends", "ml", "aggregate", "calibrate", "persist")


def _engine():
    return ready_engine(get_settings().database_url)


def _tick(instance, defs, cursor=None):
    resources = {key: defs.resources[key] for key in ("app_db", "prediction_limits")}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return prediction_requests.evaluate_tick(context)


def _run(defs, instance, run_request):
    return defs.resolve_job_def("predict").execute_in_process(
        run_config=run_request.run_config,
        instance=instance,
        tags=run_request.tags,
        raise_on_error=False,
    )


def _stage_rows(request_id):
    with _engine().connect() as connection:
        return connection.execute(
            sa.select(prediction_stages).where(prediction_stages.c.request_id == request_id)
        ).fetchall()


def test_sensor_yields_one_run_per_queued_request_and_keeps_a_cursor(monkeypatch):
    monkeypatch.setenv("PREDICT_MAX_RUNS_PER_TICK", "2")
    get_settings.cache_clear()
    defs = load_defs()
    ids = [create_request(_engine(), REQUEST) for _ in range(3)]
    instance = dg.DagsterInstance.ephemeral()
    first = _tick(instance, defs)
    assert [r.run_key for r in first.run_requests] == ids[:2]  # capped per tick
    second = _tick(instance, defs, first.cursor)
    assert [r.run_key for r in second.run_requests] == ids[2:]
    assert _tick(instance, defs, second.cursor).run_requests == []
    assert second.run_requests[0].tags["request_id"] == ids[2]


def test_a_request_without_keys_or_champion_still_succeeds_with_low_confidence():
    """Out of the box: no LLM key, no champion model. Rules and trends carry the prediction."""
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    (run_request,) = _tick(instance, defs).run_requests
    result = _run(defs, instance, run_request)
    assert result.success
    row = get_request(_engine(), request_id)
    assert row["status"] == "succeeded"
    prediction = row["result"]
    assert prediction["confidence"] == "LOW" and prediction["is_calibrated"] is False
    # Without a champion or outcome-fitted calibration there is no probability to give, and it says why.
    assert prediction["viral_probability"] is None and prediction["probability_source"] is None
    assert (
        "no Platt parameters" in prediction["probability_note"]
        and "champion" in prediction["probability_note"]
    )
    assert 0 <= prediction["score"] <= 100 and prediction["model_trained_on"] is None
    signals = prediction["signals"]
    assert (
        signals["gemini"]["available"] is False and "GEMINI_API_KEY" in signals["gemini"]["reason"]
    )
    assert signals["ml"]["available"] is False and "champion" in signals["ml"]["reason"]
    assert (
        signals["rules"]["available"] and signals["rules"]["weight"] > 0.15
    )  # took redistributed weight
    assert sum(s["weight"] for s in signals.values()) == pytest.approx(1.0)
    assert {row.stage for row in _stage_rows(request_id)} == STAGES
    assert {node.name for node in defs.resolve_job_def("predict").graph.node_defs} == set(OPS)
    # Every output carries duration_ms and cost_cents: one per op, and one per judge of `judges`.
    outputs = {
        (node, event.event_specific_data.step_output_handle.output_name): event
        for node in OPS
        for event in result.events_for_node(node)
        if event.event_type_value == "STEP_OUTPUT"
    }
    assert set(outputs) == {(op, "result") for op in OPS if op != "judges"} | {
        ("judges", "gemini"),
        ("judges", "deepseek"),
    }
    for output, event in outputs.items():
        metadata = event.event_specific_data.metadata
        assert {"duration_ms", "cost_cents"} <= set(metadata), output


def test_stage_complete_lines_carry_request_stage_duration_and_cost_together(capfd):
    from viral_pipeline.observability import configure_logging

    configure_logging("INFO", force=True)
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    (run_request,) = _tick(instance, defs).run_requests
    assert _run(defs, instance, run_request).success
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    complete = [line for line in lines if line.get("event") == "stage complete"]
    assert {line["stage"] for line in complete} == STAGES
    for line in complete:
        assert line["request_id"] == request_id
        assert isinstance(line["duration_ms"], float) and isinstance(line["cost_cents"], float)


def test_a_second_run_for_the_same_request_creates_no_second_prediction():
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    (run_request,) = _tick(instance, defs).run_requests
    assert _run(defs, instance, run_request).success
    first = get_request(_engine(), request_id)
    again = _run(defs, instance, run_request)  # e.g. a retry that raced a success
    assert not again.success
    after = get_request(_engine(), request_id)
    assert after["status"] == "succeeded" and after["result"] == first["result"]
    assert len(_stage_rows(request_id)) == len(STAGES)


def test_a_failing_run_marks_the_request_failed_and_reports_to_sentry(sentry_events):
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    # A row the API would never accept (stored behind its back): normalize fails on it.
    request_id = create_request(_engine(), {**REQUEST, "duration_s": 0})
    (run_request,) = _tick(instance, defs).run_requests
    result = _run(defs, instance, run_request)
    assert not result.success
    row = get_request(_engine(), request_id)
    assert (
        row["status"] == "failed" and "normalize" in row["error"] and "duration_s" in row["error"]
    )
    events = sentry_events.events()
    assert events and events[-1]["tags"]["request_id"] == request_id


def _with_llms(monkeypatch, gemini, deepseek):
    monkeypatch.setenv("GEMINI_API_KEY", gemini.api_key)
    monkeypatch.setenv("GEMINI_BASE_URL", gemini.url)
    monkeypatch.setenv("DEEPSEEK_API_KEY", deepseek.api_key)
    monkeypatch.setenv("DEEPSEEK_BASE_URL", deepseek.url)
    monkeypatch.setenv("LLM_TIMEOUT_S", "3")
    get_settings.cache_clear()
    return load_defs()


def _predict_once(defs):
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    (run_request,) = _tick(instance, defs).run_requests
    assert _run(defs, instance, run_request).success
    return get_request(_engine(), request_id)["result"], request_id


def test_both_llm_judges_answer_and_their_cost_is_recorded(monkeypatch):
    from viral_pipeline_tests.fakes.llm_servers import FakeDeepSeek, FakeGemini

    with FakeGemini() as gemini_server, FakeDeepSeek() as deepseek_server:
        gemini_server.succeed(score=80)
        deepseek_server.succeed(score=60)
        defs = _with_llms(monkeypatch, gemini_server, deepseek_server)
        result, request_id = _predict_once(defs)
    assert (
        result["signals"]["gemini"]["score"] == 80 and result["signals"]["deepseek"]["score"] == 60
    )
    assert (
        result["signals"]["gemini"]["cost_cents"] > 0
        and result["signals"]["deepseek"]["cost_cents"] > 0
    )
    assert result["cost_cents"] == pytest.approx(
        result["signals"]["gemini"]["cost_cents"] + result["signals"]["deepseek"]["cost_cents"]
    )
    rows = {row.stage: row for row in _stage_rows(request_id)}
    assert rows["gemini"].provider == "gemini" and rows["gemini"].input_tokens > 0
    assert result["confidence"] in ("MEDIUM", "HIGH")  # both judges available


def test_one_llm_down_the_other_carries_its_share(monkeypatch, sentry_events):
    from viral_pipeline_tests.fakes.llm_servers import FakeDeepSeek, FakeGemini

    with FakeGemini() as gemini_server, FakeDeepSeek() as deepseek_server:
        gemini_server.succeed(score=70)
        deepseek_server.fail(500)
        deepseek_server.fail(500)
        defs = _with_llms(monkeypatch, gemini_server, deepseek_server)
        result, _ = _predict_once(defs)
    deepseek = result["signals"]["deepseek"]
    assert deepseek["available"] is False and deepseek["reason"].startswith("failed")
    assert result["signals"]["gemini"]["weight"] > 0.15
    assert any("deepseek" in note for note in result["notes"])
    assert sentry_events.events(), "a failed judge is reported"


def test_with_a_champion_the_ml_signal_scores_the_request():
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    assert defs.resolve_job_def("retrain_ml_job").execute_in_process(instance=instance).success
    result, _ = _predict_once(defs)
    ml_signal = result["signals"]["ml"]
    assert ml_signal["available"] is True and 0 <= ml_signal["score"] <= 100
    assert result["ml_score"] == ml_signal["score"] and result["model_version"] == "1"
    assert (
        ml_signal["weight"] > 0.4
    )  # the two absent judges' weight was spread over it and the others


def test_a_queued_request_behind_the_cursor_is_requested_again_once_stale():
    """Ids below the cursor: a PostgreSQL row committed after a later id was read, or an app
    database recreated under a kept Dagster instance. Found once stale, under the same run key."""
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    request_id = create_request(_engine(), REQUEST)
    assert (
        _tick(instance, defs, cursor="100").run_requests == []
    )  # just stored: the cursor race is young
    with _engine().begin() as connection:
        connection.execute(
            sa.text("UPDATE prediction_requests SET created_at = :old WHERE request_id = :rid"),
            {"old": datetime.now(UTC) - timedelta(minutes=5), "rid": request_id},
        )
    tick = _tick(instance, defs, cursor="100")
    assert [r.run_key for r in tick.run_requests] == [request_id] and tick.cursor == "100"
    assert _run(defs, instance, tick.run_requests[0]).success
    # Running or done, it is no longer queued: never requested again.
    assert _tick(instance, defs, cursor="100").run_requests == []


def test_a_request_queued_with_a_handle_outside_todays_rule_still_runs():
    """Stored before creator.handle followed the profile handle rule: its run keeps the handle
    rather than failing the prediction."""
    payload = {**REQUEST, "creator": {"handle": "chef name", "followers": 25000}}
    request_id = create_request(_engine(), payload)
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    (run_request,) = _tick(instance, defs).run_requests
    assert _run(defs, instance, run_request).success
    assert get_request(_engine(), request_id)["status"] == "succeeded"
