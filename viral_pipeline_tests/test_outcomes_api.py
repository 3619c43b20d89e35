"""POST /api/outcomes, PATCH /api/predictions/{id}/video, GET /api/predictions/{id}/outcomes:
idempotency (one row, updated), 404, 422 naming the field with nothing stored, 409 with a reason."""

from datetime import date

import pytest
import sqlalchemy as sa

from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.predictions import create_request, get_request
from viral_pipeline_tests.api_callers import CALLER
from viral_pipeline_tests.prediction_builders import (
    PAYLOAD,
    scrape_simulated_day,
    succeeded_prediction,
)

VIDEO = "7300000000000000001"
URL = f"https://www.tiktok.com/@chef/video/{VIDEO}"


@pytest.fixture
def engine(any_db_url, monkeypatch):
    """The app's database on each backend; request it before api_client so the app uses it."""
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    get_settings.cache_clear()
    engine = ready_engine(any_db_url)
    scrape_simulated_day(engine, date(2026, 11, 20), n=300)
    return engine


def _outcome_rows(engine):
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT request_id, evaluation_tier, views, likes FROM outcomes")
        ).all()


def test_first_write_is_201_a_repeat_updates_the_same_row_with_200(engine, api_client):
    request_id = succeeded_prediction(engine)
    body = {
        "request_id": request_id,
        "evaluation_tier": "24h",
        "views": 1200,
        "likes": 80,
        "video_url": URL,
    }
    first = api_client.post("/api/outcomes", json=body)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert stored["video_id"] == VIDEO and stored["video_url"] == URL and stored["source"] == "api"
    # Times carry their zone (SQLite returns them without one): a client never has to guess.
    assert stored["observed_at"].endswith("Z") or stored["observed_at"].endswith("+00:00"), stored[
        "observed_at"
    ]
    assert stored["is_viral"] is (1200 > stored["viral_threshold_views"])
    assert stored["label_definition"].startswith(
        "views > q0.90 of plays of videos posted 2026-11-20 UTC (n="
    )

    threshold = stored["viral_threshold_views"]
    repeat = api_client.post(
        "/api/outcomes", json={**body, "views": int(threshold) + 1, "likes": None}
    )
    assert repeat.status_code == 200
    assert repeat.json()["views"] == int(threshold) + 1 and repeat.json()["is_viral"] is True
    assert repeat.json()["likes"] == 80  # a count left out keeps its stored value
    assert _outcome_rows(engine) == [(request_id, "24h", int(threshold) + 1, 80)]

    # Another tier is another row; the prediction now knows its video.
    assert (
        api_client.post("/api/outcomes", json={**body, "evaluation_tier": "7d"}).status_code == 201
    )
    assert len(_outcome_rows(engine)) == 2
    assert get_request(engine, request_id)["video_id"] == VIDEO
    listed = api_client.get(f"/api/predictions/{request_id}/outcomes").json()
    assert [o["evaluation_tier"] for o in listed] == ["24h", "7d"]


def test_unknown_request_is_404(engine, api_client):
    body = {
        "request_id": "00000000-0000-0000-0000-000000000000",
        "evaluation_tier": "7d",
        "views": 5,
        "video_id": VIDEO,
    }
    response = api_client.post("/api/outcomes", json=body)
    assert response.status_code == 404 and "no prediction request" in response.json()["detail"]
    assert api_client.get("/api/predictions/nope/outcomes").status_code == 404
    assert (
        api_client.patch("/api/predictions/nope/video", json={"video_id": VIDEO}).status_code == 404
    )
    assert _outcome_rows(engine) == []


def test_invalid_bodies_are_422_naming_the_field_and_store_nothing(engine, api_client):
    request_id = succeeded_prediction(engine, {**PAYLOAD})
    good = {"request_id": request_id, "evaluation_tier": "72h", "views": 10, "video_id": VIDEO}
    cases = [
        ({**good, "evaluation_tier": "1h"}, "evaluation_tier"),
        ({**good, "views": -1}, "views"),
        ({**good, "views": "many"}, "views"),
        ({k: v for k, v in good.items() if k != "views"}, "views"),
        ({**good, "likes": -3}, "likes"),
        ({**good, "shares": 1.5}, "shares"),
        ({**good, "views": "24"}, "views"),
        ({**good, "views": 24.0}, "views"),
        ({**good, "views": True}, "views"),
        ({**good, "likes": "3"}, "likes"),
        ({**good, "video_id": "73abc"}, "video_id"),
        ({**good, "video_url": "https://example.com/video/1"}, "video_url"),
        (
            {**good, "video_url": "https://www.tiktok.com/@chef/video/42"},
            "video_url",
        ),  # differs from video_id
        ({k: v for k, v in good.items() if k != "video_id"}, "video_id"),  # no video known anywhere
        ({k: v for k, v in good.items() if k != "request_id"}, "request_id"),
        ({**good, "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        response = api_client.post("/api/outcomes", json=body)
        assert response.status_code == 422, (field, response.text)
        assert any(
            field in [str(part) for part in error["loc"]] for error in response.json()["detail"]
        ), field
    assert _outcome_rows(engine) == []
    assert get_request(engine, request_id)["video_id"] is None


def test_unfinished_prediction_other_video_and_no_threshold_are_409(engine, api_client):
    queued = create_request(engine, dict(PAYLOAD), caller=CALLER)
    response = api_client.post(
        "/api/outcomes",
        json={"request_id": queued, "evaluation_tier": "24h", "views": 1, "video_id": VIDEO},
    )
    assert response.status_code == 409 and "is queued, not succeeded" in response.json()["detail"]

    bound = succeeded_prediction(engine)
    assert (
        api_client.post(
            "/api/outcomes",
            json={"request_id": bound, "evaluation_tier": "24h", "views": 1, "video_id": VIDEO},
        ).status_code
        == 201
    )
    other = api_client.post(
        "/api/outcomes",
        json={"request_id": bound, "evaluation_tier": "72h", "views": 1, "video_id": "99"},
    )
    assert other.status_code == 409 and f"already bound to video {VIDEO}" in other.json()["detail"]
    moved = api_client.patch(f"/api/predictions/{bound}/video", json={"video_id": "99"})
    assert moved.status_code == 409 and "already has 1 outcome(s)" in moved.json()["detail"]

    # Posted on a day with nothing scraped on or before it: no honest label, nothing stored.
    early = succeeded_prediction(engine, {**PAYLOAD, "posted_at": "2026-11-01T10:00:00Z"})
    response = api_client.post(
        "/api/outcomes",
        json={"request_id": early, "evaluation_tier": "7d", "views": 9, "video_id": VIDEO},
    )
    assert response.status_code == 409 and "no viral threshold" in response.json()["detail"]
    assert len(_outcome_rows(engine)) == 1


def test_announcing_the_video_binds_it_and_tells_when_tiers_are_due(engine, api_client):
    # may be announced before the prediction ends
    request_id = create_request(engine, dict(PAYLOAD), caller=CALLER)
    response = api_client.patch(f"/api/predictions/{request_id}/video", json={"video_url": URL})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["video_id"], body["video_url"], body["status"]) == (VIDEO, URL, "queued")
    assert body["tiers_due_at"] == {
        "24h": "2026-11-21T16:00:00Z",
        "72h": "2026-11-23T16:00:00Z",
        "7d": "2026-11-27T16:00:00Z",
    }
    # Re-announcing another video is fine while no outcome is stored; an empty body is 422.
    assert (
        api_client.patch(f"/api/predictions/{request_id}/video", json={"video_id": "42"}).json()[
            "video_id"
        ]
        == "42"
    )
    empty = api_client.patch(f"/api/predictions/{request_id}/video", json={})
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "video_id"]


def test_openapi_describes_the_outcome_endpoints(api_client):
    spec = api_client.get("/openapi.json").json()
    post = spec["paths"]["/api/outcomes"]["post"]
    assert post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/OutcomeOut"
    )
    assert {"200", "404", "409", "422"} <= set(post["responses"])
    assert "patch" in spec["paths"]["/api/predictions/{request_id}/video"]
    assert set(spec["components"]["schemas"]["OutcomeIn"]["properties"]) >= {
        "request_id",
        "evaluation_tier",
        "views",
        "likes",
        "comments",
        "shares",
        "video_id",
        "video_url",
    }
