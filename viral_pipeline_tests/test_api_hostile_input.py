"""Hostile JSON bodies on every endpoint that takes one: values JSON does not allow (NaN,
Infinity, numbers beyond a double), text that cannot be stored (lone surrogates, NUL), and
large values in an invalid body. Each answers 422 naming the JSON path, echoes nothing large,
stores nothing, and leaves its `http request` log line."""

import json

import pytest
import sqlalchemy as sa

from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline_tests.api_callers import API_TOKENS, TOKEN, bearer
from viral_pipeline_tests.test_predict import REQUEST

WEBHOOK_SECRET = "hostile-input-secret"

# (method, path) of every endpoint with a JSON body.
ENDPOINTS = [
    ("POST", "/api/analyze"),
    ("POST", "/api/outcomes"),
    ("PATCH", "/api/predictions/00000000-0000-0000-0000-000000000000/video"),
    ("PATCH", "/api/profile"),
    ("POST", f"/api/webhooks/apify?token={WEBHOOK_SECRET}"),
]

# Raw bodies (as the caller's bytes) and the JSON path the 422 must name.
BAD_BODIES = [
    ('{"caption": "x", "duration_s": NaN}', ["body", "duration_s"]),
    ('{"caption": "x", "duration_s": Infinity}', ["body", "duration_s"]),
    ('{"caption": "x", "duration_s": -Infinity}', ["body", "duration_s"]),
    ('{"caption": "x", "creator": {"followers": 1e400}}', ["body", "creator", "followers"]),
    ('{"caption": "\\ud800", "duration_s": 24}', ["body", "caption"]),
    ('{"hashtags": ["ok", "\\udfff"], "caption": "x"}', ["body", "hashtags", 1]),
    ('{"caption": "a\\u0000b", "duration_s": 24}', ["body", "caption"]),
    ('{"\\ud800": 1}', ["body", "\\ud800"]),
]


@pytest.fixture(autouse=True)
def _webhook_secret(monkeypatch):
    monkeypatch.setenv("APIFY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    get_settings.cache_clear()


def _log_lines(text):
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return [line for line in lines if isinstance(line, dict)]


def _stored_rows():
    tables = ["prediction_requests", "outcomes", "profile_requests", "apify_webhook_events"]
    with ready_engine(get_settings().database_url).connect() as connection:
        return {
            table: connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar()
            for table in tables
        }


@pytest.mark.parametrize("method,path", ENDPOINTS)
@pytest.mark.parametrize("body,loc", BAD_BODIES)
def test_non_json_numbers_and_unstorable_text_are_422_naming_the_path(
    api_client, capsys, method, path, body, loc
):
    before = _stored_rows()
    capsys.readouterr()
    response = api_client.request(
        method,
        path,
        content=body.encode("utf-8", "surrogatepass"),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and error["msg"]
    assert _stored_rows() == before
    (line,) = [
        line for line in _log_lines(capsys.readouterr().err) if line.get("event") == "http request"
    ]
    assert (line["status"], line["path"], line["method"]) == (422, path.split("?")[0], method)
    assert line["http_request_id"] == response.headers["x-request-id"]


def test_reasons_say_what_is_wrong(api_client):
    reasons = {}
    for body, _ in BAD_BODIES[:5] + BAD_BODIES[6:7]:
        response = api_client.post(
            "/api/analyze",
            content=body.encode("utf-8", "surrogatepass"),
            headers={"content-type": "application/json"},
        )
        reasons[body] = response.json()["detail"][0]["msg"]
    assert list(reasons.values()) == [
        "NaN is not a JSON number",
        "Infinity is not a JSON number",
        "-Infinity is not a JSON number",
        "number out of range (beyond a double)",
        "a string cannot hold a lone surrogate (\\ud800-\\udfff): not valid Unicode",
        "a string cannot hold a NUL character (\\u0000)",
    ]


def test_a_body_without_content_type_is_checked_too(api_client):
    response = api_client.post("/api/analyze", content=b'{"caption": "x", "duration_s": NaN}')
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "duration_s"]


def test_malformed_json_and_non_utf8_are_422(api_client):
    malformed = api_client.post(
        "/api/analyze", content=b'{"caption": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["msg"].startswith("JSON decode error")
    latin1 = api_client.post(
        "/api/analyze",
        content=b'{"caption": "caf\xe9"}',
        headers={"content-type": "application/json"},
    )
    assert latin1.status_code == 422 and "UTF-8" in latin1.json()["detail"][0]["msg"]


def test_deep_nesting_is_422_not_a_crash(api_client):
    body = b'{"caption": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = api_client.post(
        "/api/analyze", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and "nested deeper" in response.json()["detail"][0]["msg"]


def test_a_large_invalid_value_is_not_echoed(api_client):
    """A 200 KB value of the wrong type: the 422 names the field, and quotes at most an excerpt."""
    huge = "y" * 200_000
    for body in [
        {**REQUEST, "caption": [huge]},
        {**REQUEST, "duration_s": huge},
        {**REQUEST, "caption": huge},
        {**REQUEST, "unexpected": {"nested": huge}},
    ]:
        response = api_client.post("/api/analyze", json=body)
        assert response.status_code == 422
        assert len(response.content) < 2000, response.content[:300]
        assert huge not in response.text
    # A short scalar is still quoted, so a caller sees what was refused.
    response = api_client.post("/api/analyze", json={**REQUEST, "duration_s": 0})
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "duration_s"] and error["input"] == 0


def test_an_unexpected_error_is_a_500_that_still_writes_its_log_line(capsys, monkeypatch):
    """A handler that fails (here: the database dependency raising) answers 500, and the request
    still leaves its `http request` line with that status."""
    from fastapi.testclient import TestClient

    from viral_pipeline.api import create_app
    from viral_pipeline.api.deps import app_engine

    def broken_engine():
        raise RuntimeError("database exploded")

    monkeypatch.setenv("API_TOKENS", API_TOKENS)
    get_settings.cache_clear()
    app = create_app()
    app.dependency_overrides[app_engine] = broken_engine
    capsys.readouterr()
    with TestClient(app, raise_server_exceptions=False, headers=bearer(TOKEN)) as client:
        response = client.post("/api/analyze", json=REQUEST)
    assert response.status_code == 500
    requests = [
        line for line in _log_lines(capsys.readouterr().err) if line.get("event") == "http request"
    ]
    assert [(line["path"], line["status"]) for line in requests] == [("/api/analyze", 500)]


def test_a_long_key_in_the_path_is_cut_not_echoed(api_client, capsys):
    key = "k" * 100_000
    body = '{"caption": "x", "creator": {"' + key + '": NaN}}'
    capsys.readouterr()
    response = api_client.post(
        "/api/analyze", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "creator", "k" * 64 + "…"]
    assert key not in capsys.readouterr().err
