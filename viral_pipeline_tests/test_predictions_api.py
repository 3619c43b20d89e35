"""POST /api/analyze and GET /api/predictions/{id}: validation, storage, 404, long poll, and the
whole path through a real Dagster instance (sensor tick → predict run → result)."""

import json
import threading
import time

import dagster as dg
import sqlalchemy as sa

from viral_pipeline.api.guards import MAX_BODY_BYTES
from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.predict.sensors import prediction_requests
from viral_pipeline.engine.prediction import PredictionResult
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request
from viral_pipeline.store.schema import prediction_requests as prediction_requests_table
from viral_pipeline_tests.api_callers import CALLER
from viral_pipeline_tests.test_predict import REQUEST


def _stored_requests():
    with ready_engine(get_settings().database_url).connect() as connection:
        return connection.execute(sa.text("SELECT COUNT(*) FROM prediction_requests")).scalar()


def test_analyze_queues_the_request_and_answers_202(api_client):
    response = api_client.post("/api/analyze", json=REQUEST)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["status_url"].endswith(
        f"/api/predictions/{body['request_id']}"
    )
    status = api_client.get(f"/api/predictions/{body['request_id']}").json()
    assert status == {
        "request_id": body["request_id"],
        "status": "queued",
        "result": None,
        "error": None,
        "updates": [],  # no outcome of its video yet, so no update after early views
    }


def test_invalid_fields_are_422_naming_the_field_and_store_nothing(api_client):
    cases = [
        ({**REQUEST, "caption": ""}, "caption"),
        ({**REQUEST, "caption": "x" * 2201}, "caption"),
        ({**REQUEST, "duration_s": 0}, "duration_s"),
        ({**REQUEST, "duration_s": 601}, "duration_s"),
        ({**REQUEST, "hashtags": [f"t{i}" for i in range(31)]}, "hashtags"),
        ({**REQUEST, "posted_at": "yesterday-ish"}, "posted_at"),
        ({k: v for k, v in REQUEST.items() if k != "caption"}, "caption"),
        ({**REQUEST, "duration_s": "24"}, "duration_s"),
        ({**REQUEST, "duration_s": 24.0}, "duration_s"),
        ({**REQUEST, "duration_s": True}, "duration_s"),
        ({**REQUEST, "creator": {"handle": "chef", "verified": 0}}, "verified"),
        ({**REQUEST, "creator": {"handle": "chef", "followers": "1200"}}, "followers"),
        ({**REQUEST, "creator": {"handle": "chef", "followers": 1200.0}}, "followers"),
        ({**REQUEST, "creator": {"handle": "chef", "followers": True}}, "followers"),
        ({**REQUEST, "sound": {"name": "x", "original": 1}}, "original"),
        ({**REQUEST, "sound": {"name": "x", "original": "true"}}, "original"),
        ({**REQUEST, "creator": {"handle": "chef?x=1"}}, "handle"),
    ]
    for body, field in cases:
        response = api_client.post("/api/analyze", json=body)
        assert response.status_code == 422, field
        assert any(
            field in [str(part) for part in error["loc"]] for error in response.json()["detail"]
        ), field
    assert _stored_requests() == 0


def test_oversize_body_is_413_and_stores_nothing(api_client):
    body = b'{"caption": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    response = api_client.post(
        "/api/analyze", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert _stored_requests() == 0


def test_unknown_prediction_is_404(api_client):
    response = api_client.get("/api/predictions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and "no prediction request" in response.json()["detail"]


def test_wait_is_bounded(api_client):
    request_id = api_client.post("/api/analyze", json=REQUEST).json()["request_id"]
    assert api_client.get(f"/api/predictions/{request_id}", params={"wait": 31}).status_code == 422
    started = time.monotonic()
    assert (
        api_client.get(f"/api/predictions/{request_id}", params={"wait": 0.6}).json()["status"]
        == "queued"
    )
    assert 0.5 <= time.monotonic() - started < 5


def _log_lines(text):
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return [line for line in lines if isinstance(line, dict)]


def test_analyze_log_line_carries_the_http_and_the_prediction_ids(api_client, capsys):
    capsys.readouterr()
    response = api_client.post("/api/analyze", json=REQUEST)
    stored = _stored_request_ids()
    lines = _log_lines(capsys.readouterr().err)
    (queued,) = [line for line in lines if line.get("event") == "prediction queued"]
    assert [queued["request_id"]] == [response.json()["request_id"]] == stored
    assert queued["http_request_id"] == response.headers["x-request-id"]
    (http,) = [line for line in lines if line.get("event") == "http request"]
    assert http["http_request_id"] == queued["http_request_id"] and http["path"] == "/api/analyze"


def _stored_request_ids():
    with ready_engine(get_settings().database_url).connect() as connection:
        return list(
            connection.execute(sa.text("SELECT request_id FROM prediction_requests")).scalars()
        )


def test_posted_request_comes_back_succeeded_through_a_real_dagster_instance(
    api_client, tmp_path, capsys
):
    """POST → sensor tick → predict run (in a real instance) → GET ?wait= returns the result."""
    capsys.readouterr()
    request_id = api_client.post("/api/analyze", json=REQUEST).json()["request_id"]
    defs = load_defs()

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        resources = {key: defs.resources[key] for key in ("app_db", "prediction_limits")}
        tick = prediction_requests.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        (run_request,) = tick.run_requests
        assert run_request.run_key == request_id

        def launch():
            time.sleep(0.3)  # the caller is already long-polling
            defs.resolve_job_def("predict").execute_in_process(
                run_config=run_request.run_config, instance=instance, tags=run_request.tags
            )

        worker = threading.Thread(target=launch)
        worker.start()
        response = api_client.get(f"/api/predictions/{request_id}", params={"wait": 30})
        worker.join()
        body = response.json()
        assert body["status"] == "succeeded", body
        result = body["result"]
        assert set(result["signals"]) == {"rules", "trends", "ml", "gemini", "deepseek"}
        assert result["duration_ms"] > 0 and result["cost_cents"] == 0.0  # no LLM configured: free
        (run,) = instance.get_runs()
        assert run.tags["request_id"] == request_id and run.is_success
    # One id follows the prediction from the API's line through every stage line of its run.
    lines = _log_lines(capsys.readouterr().err)
    (queued,) = [line for line in lines if line.get("event") == "prediction queued"]
    assert queued["request_id"] == request_id and queued["http_request_id"]
    stage_lines = [line for line in lines if line.get("stage") and line.get("request_id")]
    assert {line["stage"] for line in stage_lines} >= {"normalize", "persist"}
    assert {line["request_id"] for line in stage_lines} == {request_id}


# A result as the first release stored it: no probability source or note, no raw probability or
# Platt version, no provenance, the run id inside the document, and the raw score as its
# viral_probability.
EARLIEST_RESULT = {
    "viral_probability": 0.4125,
    "score": 41.25,
    "confidence": "MEDIUM",
    "is_calibrated": False,
    "ml_score": None,
    "model_version": "none",
    "signals": {
        name: {"score": 50.0, "weight": 0.25, "available": True, "reason": None, "cost_cents": 0.0}
        for name in ("rules", "trends", "gemini", "deepseek")
    }
    | {
        "ml": {
            "score": None,
            "weight": 0.0,
            "available": False,
            "reason": "no champion",
            "cost_cents": 0.0,
        }
    },
    "notes": ["ml unavailable (no champion): its 0.40 went to the others"],
    "stages": [
        {
            "stage": "normalize",
            "provider": None,
            "duration_ms": 1.5,
            "cost_cents": 0.0,
            "input_tokens": None,
            "output_tokens": None,
        }
    ],
    "cost_cents": 0.0,
    "duration_ms": 1.5,
    "dagster_run_id": "0f1e2d3c",
}


def _store_succeeded(result):
    engine = ready_engine(get_settings().database_url)
    request_id = create_request(engine, REQUEST, caller=CALLER)
    with engine.begin() as connection:
        connection.execute(
            sa.update(prediction_requests_table)
            .where(prediction_requests_table.c.request_id == request_id)
            .values(status="succeeded", result=result)
        )
    return request_id


def test_a_result_stored_by_the_first_release_is_still_served(api_client):
    request_id = _store_succeeded(EARLIEST_RESULT)
    response = api_client.get(f"/api/predictions/{request_id}")
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    kept = {key: value for key, value in EARLIEST_RESULT.items() if key != "dagster_run_id"}
    assert {key: result[key] for key in kept} == kept
    assert {key: result[key] for key in set(result) - set(kept)} == {
        "probability_source": None,
        "probability_note": None,
        "raw_probability": None,
        "platt_version": None,
        "model_trained_on": None,
        "model_source_mismatch": False,
        "suggestions": None,
        "weights_source": "fixed",  # the only weights the first release had
        "weights_version": None,
        "weights_note": None,
    }


def test_a_result_with_provenance_is_served_as_stored(api_client):
    trained_on = {
        "dataset": "database",
        "source": "apify",
        "first_posted_day": "2026-10-01",
        "last_posted_day": "2026-10-30",
        "rows": 9_000,
    }
    stored = {
        **EARLIEST_RESULT,
        "viral_probability": None,
        "probability_source": None,
        "probability_note": "no champion serves the configured source",
        "raw_probability": 0.4125,
        "platt_version": None,
        "model_trained_on": trained_on,
        "model_source_mismatch": True,
    }
    request_id = _store_succeeded(stored)
    result = api_client.get(f"/api/predictions/{request_id}").json()["result"]
    assert result["model_trained_on"] == trained_on and result["model_source_mismatch"] is True
    assert result["viral_probability"] is None and result["raw_probability"] == 0.4125


def test_the_openapi_document_declares_the_prediction_result(api_client):
    document = api_client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    answer = document["paths"]["/api/predictions/{request_id}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictionStatus"
    }
    result = schemas["PredictionStatus"]["properties"]["result"]
    assert {"$ref": "#/components/schemas/PredictionResult"} in result["anyOf"]
    assert set(schemas["PredictionResult"]["properties"]) == set(PredictionResult.model_fields)
    assert schemas["PredictionStatus"]["properties"]["status"] == {
        "$ref": "#/components/schemas/RequestStatus"
    }
    assert schemas["RequestStatus"]["enum"] == ["queued", "running", "succeeded", "failed"]
    assert schemas["SignalName"]["enum"] == ["rules", "trends", "ml", "gemini", "deepseek"]
