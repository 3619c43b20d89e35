"""The API's callers (API_TOKENS): every product endpoint needs a caller's bearer token (401
without, 503 when none is configured, the CallerToken scheme in the OpenAPI document), and a
caller sees, binds and labels only its own requests (404 for another's, nothing stored changes).
Real HTTP through the app, a real database on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from viral_pipeline.settings import Settings, SettingsError, get_settings, load_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request, get_request
from viral_pipeline.store.profiles import create_profile_request
from viral_pipeline.store.schema import (
    outcomes,
    prediction_requests,
    prediction_stages,
    profile_requests,
)
from viral_pipeline_tests.api_callers import (
    API_TOKENS,
    CALLER,
    OTHER,
    OTHER_TOKEN,
    TOKEN,
    bearer,
)
from viral_pipeline_tests.prediction_builders import (
    PAYLOAD,
    scrape_simulated_day,
    succeeded_prediction,
)
from viral_pipeline_tests.test_predict import REQUEST

VIDEO = "7300000000000000001"
ADMIN_TOKEN = "admin-token-for-caller-costs"

# One valid call of each endpoint that needs a caller. The ids need not exist: the caller is
# checked before anything is looked up.
CALLS = [
    ("POST", "/api/analyze", REQUEST),
    ("GET", "/api/predictions/00000000-0000-0000-0000-000000000000", None),
    ("PATCH", "/api/predictions/00000000-0000-0000-0000-000000000000/video", {"video_id": VIDEO}),
    ("GET", "/api/predictions/00000000-0000-0000-0000-000000000000/outcomes", None),
    (
        "POST",
        "/api/outcomes",
        {"request_id": "x", "evaluation_tier": "24h", "views": 1, "video_id": VIDEO},
    ),
    ("PATCH", "/api/profile", {"tiktok_handle": "@some.creator"}),
    ("GET", "/api/profile/00000000-0000-0000-0000-000000000000", None),
]


def _client(monkeypatch: pytest.MonkeyPatch, api_tokens: str | None, **env: str) -> TestClient:
    from viral_pipeline.api import create_app

    if api_tokens is not None:
        monkeypatch.setenv("API_TOKENS", api_tokens)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return TestClient(create_app())


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            for table in (prediction_requests, profile_requests, outcomes)
        }


@pytest.mark.parametrize(
    "headers", [{}, bearer("not-a-configured-token"), {"Authorization": TOKEN}]
)
@pytest.mark.parametrize("method,path,body", CALLS)
def test_a_missing_or_wrong_token_is_401_and_stores_nothing(
    monkeypatch, capsys, headers, method, path, body
):
    engine = ready_engine(get_settings().database_url)
    capsys.readouterr()
    with _client(monkeypatch, API_TOKENS) as client:
        response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API_TOKENS" in response.json()["detail"]
    assert _counts(engine) == {"prediction_requests": 0, "profile_requests": 0, "outcomes": 0}
    logged = capsys.readouterr().err
    assert "caller rejected" in logged
    assert "not-a-configured-token" not in logged and TOKEN not in logged


@pytest.mark.parametrize("method,path,body", CALLS)
def test_without_configured_callers_the_endpoints_are_disabled_503(monkeypatch, method, path, body):
    engine = ready_engine(get_settings().database_url)
    with _client(monkeypatch, None) as client:
        response = client.request(method, path, json=body, headers=bearer(TOKEN))
    assert response.status_code == 503
    assert "API_TOKENS" in response.json()["detail"]
    assert _counts(engine) == {"prediction_requests": 0, "profile_requests": 0, "outcomes": 0}


def test_health_docs_and_the_webhook_need_no_caller_token(monkeypatch):
    with _client(monkeypatch, None) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
        # The webhook keeps its own secret: unset, it says so, not API_TOKENS.
        webhook = client.post("/api/webhooks/apify", json={})
        assert webhook.status_code == 503 and "API_TOKENS" not in webhook.text
        admin = client.get("/api/admin/costs")
        assert admin.status_code == 503 and "ADMIN_TOKEN" in admin.text


def test_the_openapi_document_lists_the_caller_scheme_on_every_caller_route(api_client):
    document = api_client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["CallerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    security = {
        (method.upper(), path): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    guarded = {key for key, value in security.items() if value == [{"CallerToken": []}]}
    expected = {
        (method, path.replace("00000000-0000-0000-0000-000000000000", "{request_id}"))
        for method, path, _ in CALLS
    }
    assert guarded == expected
    assert security[("GET", "/healthz")] is None
    assert security[("POST", "/api/webhooks/apify")] is None
    assert security[("GET", "/api/admin/costs")] == [{"AdminToken": []}]
    analyze = document["paths"]["/api/analyze"]["post"]["responses"]
    assert {"401", "503"} <= analyze.keys()


def test_a_request_records_its_caller_and_logs_the_name_never_the_token(api_client, capsys):
    capsys.readouterr()
    response = api_client.post("/api/analyze", json=REQUEST)
    assert response.status_code == 202
    request_id = response.json()["request_id"]
    engine = ready_engine(get_settings().database_url)
    assert get_request(engine, request_id)["caller"] == CALLER
    profile = api_client.patch("/api/profile", json={"tiktok_handle": "@some.creator"})
    assert profile.status_code == 202
    with engine.connect() as connection:
        assert connection.execute(sa.select(profile_requests.c.caller)).scalar() == CALLER

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    queued = [line for line in lines if line.get("event") == "prediction queued"]
    assert queued and queued[0]["caller"] == CALLER
    http = [line for line in lines if line.get("event") == "http request"]
    assert http and all(line["caller"] == CALLER for line in http)
    assert all(TOKEN not in json.dumps(line) for line in lines)


@pytest.fixture
def engine(any_db_url, monkeypatch):
    """The app's database on each backend, with a scraped day so outcomes can be labelled;
    request it before api_client so the app uses it."""
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    get_settings.cache_clear()
    engine = ready_engine(any_db_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=300)
    return engine


def _stored(engine: sa.Engine, request_id: str) -> tuple:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(prediction_requests).where(prediction_requests.c.request_id == request_id)
        ).one()
        labels = connection.execute(
            sa.select(outcomes).where(outcomes.c.request_id == request_id)
        ).all()
    return tuple(row), [tuple(label) for label in labels]


def test_another_callers_request_is_404_everywhere_and_stays_untouched(engine, api_client):
    """CALLER's prediction, seen by OTHER: not found on every path, and nothing stored changes;
    then CALLER itself is served (the refusals were about ownership, not the calls)."""
    request_id = succeeded_prediction(engine, caller=CALLER)
    before = _stored(engine, request_id)
    other = bearer(OTHER_TOKEN)
    outcome = {"request_id": request_id, "evaluation_tier": "24h", "views": 10, "video_id": VIDEO}

    refused = [
        api_client.get(f"/api/predictions/{request_id}", headers=other),
        api_client.patch(
            f"/api/predictions/{request_id}/video", json={"video_id": VIDEO}, headers=other
        ),
        api_client.post("/api/outcomes", json=outcome, headers=other),
        api_client.get(f"/api/predictions/{request_id}/outcomes", headers=other),
    ]
    assert [response.status_code for response in refused] == [404] * 4
    # The same answer as for an id that does not exist: an id tells another caller nothing.
    assert all(r.json()["detail"] == f"no prediction request {request_id}" for r in refused)
    assert _stored(engine, request_id) == before

    assert api_client.get(f"/api/predictions/{request_id}").status_code == 200
    assert api_client.post("/api/outcomes", json=outcome).status_code == 201
    assert api_client.get(f"/api/predictions/{request_id}/outcomes").json()[0]["views"] == 10


def test_requests_stored_before_callers_are_nobodys(engine, api_client):
    """A row with no caller (stored before callers were recorded) is read, bound and labelled by
    no caller through the API; the scheduled collection still evaluates it (store, no caller)."""
    request_id = succeeded_prediction(engine, caller=None)
    before = _stored(engine, request_id)
    for headers in (bearer(TOKEN), bearer(OTHER_TOKEN)):
        assert api_client.get(f"/api/predictions/{request_id}", headers=headers).status_code == 404
        bind = api_client.patch(
            f"/api/predictions/{request_id}/video", json={"video_id": VIDEO}, headers=headers
        )
        assert bind.status_code == 404
        post = api_client.post(
            "/api/outcomes",
            json={"request_id": request_id, "evaluation_tier": "7d", "views": 5, "video_id": VIDEO},
            headers=headers,
        )
        assert post.status_code == 404
    assert _stored(engine, request_id) == before


def test_another_callers_profile_request_is_404(api_client):
    engine = ready_engine(get_settings().database_url)
    mine = create_profile_request(
        engine, "somebody", {"tiktok_handle": "somebody"}, CALLER
    ).request_id
    theirs = create_profile_request(
        engine, "somebody", {"tiktok_handle": "somebody"}, OTHER
    ).request_id
    legacy = create_profile_request(engine, "somebody", {"tiktok_handle": "somebody"}).request_id
    assert api_client.get(f"/api/profile/{mine}").status_code == 200
    assert api_client.get(f"/api/profile/{theirs}").status_code == 404
    assert api_client.get(f"/api/profile/{legacy}").status_code == 404
    assert api_client.get(f"/api/profile/{theirs}", headers=bearer(OTHER_TOKEN)).status_code == 200


def test_costs_are_reported_by_caller(monkeypatch, any_db_url):
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    engine = ready_engine(any_db_url)
    mine = create_request(engine, PAYLOAD, caller=CALLER)
    theirs = create_request(engine, PAYLOAD, caller=OTHER)
    legacy = create_request(engine, PAYLOAD)
    at = datetime(2026, 11, 27, 12, tzinfo=UTC)
    stages = [
        (mine, "gemini", 0.25),
        (mine, "deepseek", 0.5),
        (theirs, "gemini", 1.0),
        (legacy, "gemini", 2.0),
    ]
    with engine.begin() as connection:
        connection.execute(
            sa.insert(prediction_stages),
            [
                {
                    "request_id": r,
                    "stage": s,
                    "provider": s,
                    "cost_cents": c,
                    "duration_ms": 10.0,
                    "recorded_at": at,
                }
                for r, s, c in stages
            ],
        )
    with _client(monkeypatch, API_TOKENS, ADMIN_TOKEN=ADMIN_TOKEN) as client:
        response = client.get(
            "/api/admin/costs",
            params={"start": "2026-11-27", "end": "2026-11-27"},
            headers=bearer(ADMIN_TOKEN),
        )
    assert response.status_code == 200, response.text
    by_caller = {
        row["caller"]: (row["cost_cents"], row["requests"], row["stage_records"])
        for row in response.json()["by_caller"]
    }
    assert by_caller == {CALLER: (0.75, 1, 2), OTHER: (1.0, 1, 1), None: (2.0, 1, 1)}
    assert [row["caller"] for row in response.json()["by_caller"]] == [CALLER, OTHER, None]


def test_api_tokens_keep_only_hashes_and_bad_values_are_named_without_the_token(monkeypatch):
    monkeypatch.setenv("API_TOKENS", f" {CALLER} = {TOKEN} , {OTHER}={OTHER_TOKEN}")
    tokens = load_settings().api_tokens
    assert tokens is not None and tokens.names == sorted([CALLER, OTHER])
    assert tokens.caller_for(TOKEN) == CALLER and tokens.caller_for(OTHER_TOKEN) == OTHER
    assert tokens.caller_for("") is None and tokens.caller_for(TOKEN + "x") is None
    held = repr(tokens) + repr(vars(tokens)) + repr(load_settings())
    assert TOKEN not in held and OTHER_TOKEN not in held

    secret = "s3cr3t-but-too-sh"
    for value, reason in [
        (f"{CALLER}", "name=token"),
        (f"{CALLER}=short", "at least 16"),
        (f"bad name={secret}x", "name=token"),
        (f"{CALLER}={secret}1,{CALLER}={secret}2", "named twice"),
        (f"{CALLER}={secret}1,{OTHER}={secret}1", "shares its token"),
    ]:
        monkeypatch.setenv("API_TOKENS", value)
        with pytest.raises(SettingsError, match="API_TOKENS") as caught:
            load_settings()
        assert reason in str(caught.value) and secret not in str(caught.value), value


def test_api_tokens_are_unset_by_default():
    assert Settings().api_tokens is None


def test_the_token_is_checked_before_the_fields(monkeypatch):
    """An anonymous caller learns nothing about the body rules: an invalid field is a 401 without
    a token, and the 422 naming the field only for a caller."""
    with _client(monkeypatch, API_TOKENS) as client:
        anonymous = client.post("/api/analyze", json={"caption": 5})
        known = client.post("/api/analyze", json={"caption": 5}, headers=bearer(TOKEN))
    assert anonymous.status_code == 401
    assert known.status_code == 422 and known.json()["detail"][0]["loc"] == ["body", "caption"]
