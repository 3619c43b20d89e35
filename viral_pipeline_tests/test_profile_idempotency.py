"""PATCH /api/profile is idempotent per caller and handle while a request is unfinished: repeats,
in any spelling of the handle and however many arrive at once, answer the caller's queued or
running request (`duplicate: true`) and queue no second paid scrape; once it succeeded or failed,
a new PATCH queues a new one; another caller's request is its own and never shown. Real SQLite
files and the real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from viral_pipeline.settings import get_settings
from viral_pipeline.store import db
from viral_pipeline.store.db import migrate, ready_engine
from viral_pipeline.store.profiles import (
    create_profile_request,
    get_profile_request,
    mark_profile_failed,
    mark_profile_running,
    mark_profile_succeeded,
)
from viral_pipeline.store.schema import profile_requests
from viral_pipeline_tests.api_callers import CALLER, OTHER, OTHER_TOKEN, bearer
from viral_pipeline_tests.test_store_migrations import downgrade


@pytest.fixture
def app_db(any_db_url, monkeypatch) -> sa.Engine:
    """The app's database on each backend; request it before api_client so the app uses it."""
    monkeypatch.setenv("DATABASE_URL", any_db_url)
    monkeypatch.setenv("RATE_LIMIT_PROFILE_PER_MINUTE", "1000")  # repeats, not the limit, here
    get_settings.cache_clear()
    return ready_engine(any_db_url)


def _rows(engine: sa.Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as connection:
        query = sa.select(
            profile_requests.c.request_id, profile_requests.c.status, profile_requests.c.caller
        ).order_by(profile_requests.c.id)
        return [tuple(row) for row in connection.execute(query)]


def test_a_hundred_patches_for_one_handle_queue_one_scrape(app_db, api_client):
    spellings = ["@Alex.Daily", "alex.daily", " @ALEX.DAILY ", "Alex.Daily"]
    answers = [
        api_client.patch("/api/profile", json={"tiktok_handle": spellings[i % 4]})
        for i in range(100)
    ]

    assert {answer.status_code for answer in answers} == {202}
    bodies = [answer.json() for answer in answers]
    (request_id,) = {body["request_id"] for body in bodies}
    assert [body["duplicate"] for body in bodies] == [False] + [True] * 99
    assert {(body["handle"], body["status"]) for body in bodies} == {("Alex.Daily", "queued")}
    assert _rows(app_db) == [(request_id, "queued", CALLER)]


def test_a_running_request_is_answered_too(app_db, api_client):
    first = api_client.patch("/api/profile", json={"tiktok_handle": "chef"}).json()
    assert mark_profile_running(app_db, first["request_id"], "run-1")

    again = api_client.patch("/api/profile", json={"tiktok_handle": "@Chef"}).json()

    assert again == {**first, "status": "running", "duplicate": True}
    assert len(_rows(app_db)) == 1


@pytest.mark.parametrize("finish", ["succeeded", "failed"])
def test_after_the_request_finishes_a_new_patch_queues_a_new_one(app_db, api_client, finish):
    first = api_client.patch("/api/profile", json={"tiktok_handle": "chef"}).json()
    mark_profile_running(app_db, first["request_id"], "run-1")
    if finish == "succeeded":
        assert mark_profile_succeeded(app_db, first["request_id"])
    else:
        assert mark_profile_failed(app_db, first["request_id"], "Apify down")

    second = api_client.patch("/api/profile", json={"tiktok_handle": "chef"}).json()
    third = api_client.patch("/api/profile", json={"tiktok_handle": "chef"}).json()

    assert second["request_id"] != first["request_id"] and second["duplicate"] is False
    assert third["request_id"] == second["request_id"] and third["duplicate"] is True
    assert _rows(app_db) == [
        (first["request_id"], finish, CALLER),
        (second["request_id"], "queued", CALLER),
    ]


def test_another_callers_request_for_the_handle_is_its_own_and_never_shown(app_db, api_client):
    mine = api_client.patch("/api/profile", json={"tiktok_handle": "chef"}).json()
    theirs = [
        api_client.patch(
            "/api/profile", json={"tiktok_handle": "chef"}, headers=bearer(OTHER_TOKEN)
        )
        for _ in range(3)
    ]

    assert {answer.json()["request_id"] for answer in theirs} != {mine["request_id"]}
    assert mine["request_id"] not in "".join(answer.text for answer in theirs)
    assert [answer.json()["duplicate"] for answer in theirs] == [False, True, True]
    rows = _rows(app_db)
    assert [(status, caller) for _, status, caller in rows] == [
        ("queued", CALLER),
        ("queued", OTHER),
    ]


def test_simultaneous_requests_for_one_handle_make_one_row(any_db_url):
    """12 threads, each with the handle in its own spelling, released at once: one row, and every
    thread is answered with it. Requests without a caller (the pipeline's own) are never merged."""
    engine = ready_engine(any_db_url)
    start = threading.Barrier(12)
    answers = []
    lock = threading.Lock()

    def patch(i: int) -> None:
        handle = ("Chef", "chef", "CHEF")[i % 3]
        start.wait()
        queued = create_profile_request(engine, handle, {"tiktok_handle": handle}, CALLER)
        with lock:
            answers.append(queued)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(answers) == 12
    (request_id,) = {answer.request_id for answer in answers}
    assert sorted(answer.duplicate for answer in answers) == [False] + [True] * 11
    assert _rows(engine) == [(request_id, "queued", CALLER)]
    without_caller = {
        create_profile_request(engine, "chef", {"tiktok_handle": "chef"}).request_id
        for _ in range(2)
    }
    assert len(without_caller) == 2


def test_a_retried_run_of_a_failed_request_yields_to_the_newer_one(any_db_url):
    """After a scrape failed, the caller queued the handle again; the old run's retry then finds
    it superseded: it does not start, and the newer request stays the only unfinished one."""
    engine = ready_engine(any_db_url)
    old = create_profile_request(engine, "chef", {"tiktok_handle": "chef"}, CALLER).request_id
    mark_profile_running(engine, old, "run-1")
    mark_profile_failed(engine, old, "Apify down")
    new = create_profile_request(engine, "chef", {"tiktok_handle": "chef"}, CALLER).request_id

    assert mark_profile_running(engine, old, "run-1-retry") is False

    assert get_profile_request(engine, old)["status"] == "failed"
    assert get_profile_request(engine, new)["status"] == "queued"
    assert mark_profile_running(engine, new, "run-2")


def test_duplicates_queued_before_the_migration_keep_running_and_the_oldest_is_answered(
    any_db_url, monkeypatch
):
    """A database at 0007 holding two unfinished requests of one caller for one handle (what the
    API allowed before) and a finished one migrates; a PATCH then answers the oldest."""
    engine = ready_engine(any_db_url)
    downgrade(engine, "0007")
    rows = [("a", "succeeded"), ("b", "queued"), ("c", "running"), ("d", "queued")]
    with engine.begin() as connection:
        for request_id, status in rows:
            connection.execute(
                sa.text(
                    "INSERT INTO profile_requests (request_id, handle, payload, status, "
                    "created_at, caller) VALUES (:id, 'Chef', '{}', :status, :at, :caller)"
                ),
                {
                    "id": request_id,
                    "status": status,
                    "at": "2026-12-01 00:00:00",
                    "caller": OTHER if request_id == "d" else CALLER,
                },
            )
    monkeypatch.setattr(db, "_migrated", set())
    migrate(engine)

    queued = create_profile_request(engine, "chef", {"tiktok_handle": "chef"}, CALLER)
    assert (queued.request_id, queued.duplicate) == ("b", True)
    with engine.connect() as connection:
        query = sa.select(profile_requests.c.request_id, profile_requests.c.handle_key)
        keys = {row.request_id: row.handle_key for row in connection.execute(query)}
    assert keys == {"a": "chef", "b": "chef", "c": None, "d": "chef"}
