"""POST /api/analyze with an `Idempotency-Key`: a repeat with the same key and request answers the
first 202 again (`Idempotent-Replayed: true`) and queues nothing, spending no rate limit; the same
key with another request is a 422 that stores nothing; keys belong to their caller; POSTs with one
key at once make one row; malformed keys are refused; a database at the previous revision
migrates with its rows. Real SQLite files and the real PostgreSQL server, through the real app."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from viral_pipeline.api.limits import request_time
from viral_pipeline.settings import get_settings
from viral_pipeline.store import db
from viral_pipeline.store.db import migrate, ready_engine
from viral_pipeline.store.schema import prediction_requests
from viral_pipeline_tests.api_callers import CALLER, OTHER, OTHER_TOKEN, bearer
from viral_pipeline_tests.test_predict import REQUEST
from viral_pipeline_tests.test_store_migrations import downgrade
from viral_pipeline_tests.together import all_at_once

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"
REPLAYED = "Idempotent-Replayed"


@pytest.fixture
def app_db(any_db_url, monkeypatch) -> sa.Engine:
    """The app's database on each backend; request it before api_client so the app uses it."""
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    get_settings.cache_clear()
    return ready_engine(any_db_url)


def _keyed(key: str, token: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key, **(bearer(token) if token else {})}


def _rows(engine: sa.Engine) -> list[tuple]:
    t = prediction_requests
    with engine.connect() as connection:
        query = sa.select(t.c.request_id, t.c.caller, t.c.idempotency_key).order_by(t.c.id)
        return [tuple(row) for row in connection.execute(query)]


def test_a_repeated_post_answers_the_first_202_and_queues_nothing(app_db, api_client):
    first = api_client.post("/api/analyze", json=REQUEST, headers=_keyed(KEY))
    # The same request spelled otherwise (keys in another order) is the same validated request.
    respelled = json.dumps(dict(reversed(list(REQUEST.items()))))
    replays = [
        api_client.post("/api/analyze", json=REQUEST, headers=_keyed(KEY)),
        api_client.post(
            "/api/analyze",
            content=respelled,
            headers={**_keyed(KEY), "content-type": "application/json"},
        ),
    ]

    assert first.status_code == 202 and REPLAYED not in first.headers
    for replay in replays:
        assert (replay.status_code, replay.json()) == (202, first.json())
        assert replay.headers[REPLAYED] == "true"
    assert _rows(app_db) == [(first.json()["request_id"], CALLER, KEY)]
    with app_db.connect() as connection:
        payload, fingerprint = connection.execute(
            sa.select(prediction_requests.c.payload, prediction_requests.c.payload_sha256)
        ).one()
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert fingerprint == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_same_key_with_another_request_is_a_422_that_stores_nothing(app_db, api_client):
    first = api_client.post("/api/analyze", json=REQUEST, headers=_keyed(KEY)).json()

    other = api_client.post(
        "/api/analyze", json={**REQUEST, "caption": "another video"}, headers=_keyed(KEY)
    )

    assert other.status_code == 422, other.text
    (error,) = other.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert "already used with another request" in error["msg"]
    assert first["request_id"] not in other.text
    assert _rows(app_db) == [(first["request_id"], CALLER, KEY)]


def test_without_a_key_every_post_queues_its_own_request(app_db, api_client):
    answers = [api_client.post("/api/analyze", json=REQUEST) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [202, 202]
    assert not any(REPLAYED in answer.headers for answer in answers)
    assert [row[1:] for row in _rows(app_db)] == [(CALLER, None), (CALLER, None)]
    assert answers[0].json()["request_id"] != answers[1].json()["request_id"]


def test_another_callers_same_key_is_its_own(app_db, api_client):
    mine = api_client.post("/api/analyze", json=REQUEST, headers=_keyed(KEY)).json()
    theirs = [
        api_client.post(
            "/api/analyze",
            json={**REQUEST, "caption": "their video"},
            headers=_keyed(KEY, OTHER_TOKEN),
        )
        for _ in range(2)
    ]

    assert [answer.status_code for answer in theirs] == [202, 202]
    assert theirs[0].json() == theirs[1].json() and theirs[1].headers[REPLAYED] == "true"
    assert theirs[0].json()["request_id"] != mine["request_id"]
    assert mine["request_id"] not in "".join(answer.text for answer in theirs)
    assert [row[1:] for row in _rows(app_db)] == [(CALLER, KEY), (OTHER, KEY)]


def test_posts_with_one_key_at_once_make_one_request(app_db, api_client):
    """8 threads released together, each POSTing the same request under one key: one row, one
    first answer and 7 replays of it."""
    answers = all_at_once(
        8, lambda: api_client.post("/api/analyze", json=REQUEST, headers=_keyed(KEY))
    )

    assert [answer.status_code for answer in answers] == [202] * 8
    (request_id,) = {answer.json()["request_id"] for answer in answers}
    assert sorted(answer.headers.get(REPLAYED, "") for answer in answers) == [""] + ["true"] * 7
    assert _rows(app_db) == [(request_id, CALLER, KEY)]


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "tab\there", "del\x7f", "caf\xe9", "\x00"],
    ids=["empty", "256-chars", "tab", "del", "latin-1", "nul"],
)
def test_a_malformed_key_is_refused_and_nothing_is_stored(app_db, api_client, key):
    answer = api_client.post(
        "/api/analyze", json=REQUEST, headers={"Idempotency-Key": key.encode("latin-1")}
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert _rows(app_db) == []


def test_the_longest_key_of_any_printable_characters_is_taken(app_db, api_client):
    key = ("~ !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}" * 7)[:255]

    answers = [api_client.post("/api/analyze", json=REQUEST, headers=_keyed(key)) for _ in "ab"]

    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[1].headers[REPLAYED] == "true"
    assert _rows(app_db) == [(answers[0].json()["request_id"], CALLER, key)]


def test_a_replay_spends_no_rate_limit(app_db, api_client, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_ANALYZE_PER_MINUTE", "1")
    get_settings.cache_clear()
    api_client.app.dependency_overrides[request_time] = lambda: datetime(
        2026, 12, 3, 12, 0, 15, tzinfo=UTC
    )

    first = api_client.post("/api/analyze", json=REQUEST, headers=_keyed(KEY))
    replays = [api_client.post("/api/analyze", json=REQUEST, headers=_keyed(KEY)) for _ in "abc"]
    new = api_client.post("/api/analyze", json=REQUEST, headers=_keyed("another key"))

    assert first.status_code == 202
    assert [answer.status_code for answer in replays] == [202] * 3
    assert new.status_code == 429  # the first POST spent the one place of the minute
    assert len(_rows(app_db)) == 1


def test_the_openapi_document_declares_the_key_and_the_replay_header(api_client):
    operation = api_client.get("/openapi.json").json()["paths"]["/api/analyze"]["post"]

    (parameter,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert parameter["in"] == "header" and parameter["required"] is False
    schema = parameter["schema"]["anyOf"][0]
    assert (schema["minLength"], schema["maxLength"]) == (1, 255)
    assert REPLAYED in operation["responses"]["202"]["headers"]
    assert "Idempotency-Key" in operation["responses"]["422"]["description"]


def test_a_database_at_the_previous_revision_migrates_with_its_requests(any_db_url, monkeypatch):
    """Requests stored at 0011 (two of one caller, one of the pipeline's own) keep their rows and
    stay keyless; keyed requests then work beside them."""
    from viral_pipeline.store.predictions import create_keyed_request

    engine = ready_engine(any_db_url)
    downgrade(engine, "0011")
    with engine.begin() as connection:
        for request_id, caller in [("a", CALLER), ("b", CALLER), ("c", None)]:
            connection.execute(
                sa.text(
                    "INSERT INTO prediction_requests (request_id, payload, status, created_at, "
                    "caller) VALUES (:id, '{}', 'succeeded', '2026-12-01 00:00:00', :caller)"
                ),
                {"id": request_id, "caller": caller},
            )
    monkeypatch.setattr(db, "_migrated", set())
    migrate(engine)

    assert _rows(engine) == [("a", CALLER, None), ("b", CALLER, None), ("c", None, None)]
    first = create_keyed_request(engine, REQUEST, CALLER, KEY)
    again = create_keyed_request(engine, REQUEST, CALLER, KEY)
    assert (again.request_id, again.replayed) == (first.request_id, True)
    assert len(_rows(engine)) == 4
