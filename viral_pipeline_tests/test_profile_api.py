"""PATCH /api/profile and GET /api/profile/{id}: validation (422, nothing stored), storage, 404,
and the 500 ms answer, measured against the real ASGI app on a real SQLite file."""

import sqlalchemy as sa

from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import profile_requests


def _stored():
    with ready_engine(get_settings().database_url).connect() as connection:
        return connection.execute(sa.select(profile_requests)).fetchall()


def test_patch_profile_queues_the_handle_and_answers_202(api_client):
    response = api_client.patch(
        "/api/profile",
        json={"tiktok_handle": "@Alex.Daily", "display_name": " Alex ", "niche": "Food"},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["handle"] == "Alex.Daily"
    assert body["status_url"].endswith(f"/api/profile/{body['request_id']}")
    (row,) = _stored()
    assert (
        row.request_id == body["request_id"]
        and row.handle == "Alex.Daily"
        and row.status == "queued"
    )
    assert row.payload == {"tiktok_handle": "Alex.Daily", "display_name": "Alex", "niche": "food"}
    status = api_client.get(f"/api/profile/{body['request_id']}").json()
    assert (
        status["status"] == "queued" and status["error"] is None and status["finished_at"] is None
    )


def test_invalid_profile_fields_are_422_naming_the_field_and_store_nothing(api_client):
    cases = [
        ({}, "tiktok_handle"),
        ({"tiktok_handle": ""}, "tiktok_handle"),
        ({"tiktok_handle": "@"}, "tiktok_handle"),
        ({"tiktok_handle": "has space"}, "tiktok_handle"),
        ({"tiktok_handle": "emoji🔥"}, "tiktok_handle"),
        ({"tiktok_handle": "x" * 65}, "tiktok_handle"),
        ({"tiktok_handle": 12}, "tiktok_handle"),
        ({"tiktok_handle": "ok", "niche": "astrology"}, "niche"),
        ({"tiktok_handle": "ok", "display_name": "x" * 101}, "display_name"),
        ({"tiktok_handle": "ok", "followers": 10}, "followers"),  # extra fields are refused
    ]
    for body, field in cases:
        response = api_client.patch("/api/profile", json=body)
        assert response.status_code == 422, body
        assert any(
            field in [str(part) for part in error["loc"]] for error in response.json()["detail"]
        ), body
    assert _stored() == []


def test_a_64_character_handle_and_a_blank_niche_are_accepted(api_client):
    response = api_client.patch("/api/profile", json={"tiktok_handle": "a_" * 32, "niche": " "})
    assert response.status_code == 202
    assert _stored()[0].payload["niche"] is None


def test_unknown_profile_request_is_404(api_client):
    response = api_client.get("/api/profile/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and "no profile request" in response.json()["detail"]


def test_each_handle_queues_its_own_request(api_client, monkeypatch):
    """15 calls through the ASGI app onto the SQLite file (the first one migrates the schema): each
    answers 202 at once and queues one row; the scrape itself is the sensor's job. How fast they
    answer is measured by bench/latency.py, not asserted here. (15 a minute is above the default
    rate limit, which test_rate_limits.py holds to.)"""
    monkeypatch.setenv("RATE_LIMIT_PROFILE_PER_MINUTE", "15")
    get_settings.cache_clear()
    for i in range(15):
        response = api_client.patch("/api/profile", json={"tiktok_handle": f"creator_{i}"})
        assert response.status_code == 202
    assert len(_stored()) == 15
    assert get_settings().database_url.startswith("sqlite:///")


def test_the_status_carries_utc_times(api_client):
    request_id = api_client.patch("/api/profile", json={"tiktok_handle": "chef"}).json()[
        "request_id"
    ]
    status = api_client.get(f"/api/profile/{request_id}").json()
    assert status["created_at"].endswith(("Z", "+00:00"))
