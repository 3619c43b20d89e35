"""Rate limits per caller and limit group, as an attacker meets them: a caller over its limit
gets 429 with Retry-After and stores nothing, another caller and other groups are unaffected, the
window frees, an anonymous flood is 401 and costs nobody a place, and the count is one for every
engine and process (real SQLite files and the real PostgreSQL server). The clock is the
`request_time` dependency, set by each test: nothing sleeps."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from viral_pipeline.api.limits import LimitGroup, request_time, window_of
from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.store.db import create_db_engine, migrate, ready_engine
from viral_pipeline.store.rate_limits import admit
from viral_pipeline.store.schema import (
    api_rate_windows,
    outcomes,
    prediction_requests,
    profile_requests,
)
from viral_pipeline_tests.api_callers import CALLER, OTHER, OTHER_TOKEN, bearer
from viral_pipeline_tests.prediction_builders import scrape_simulated_day, succeeded_prediction
from viral_pipeline_tests.test_predict import REQUEST
from viral_pipeline_tests.together import all_at_once

VIDEO = "7300000000000000001"
T0 = datetime(2026, 12, 3, 12, 0, 15, tzinfo=UTC)  # 45 s before its window ends


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(api_client) -> Clock:
    clock = Clock(T0)
    api_client.app.dependency_overrides[request_time] = clock
    return clock


def _limit(monkeypatch, group: LimitGroup, per_minute: int) -> None:
    monkeypatch.setenv(group.setting, str(per_minute))
    get_settings.cache_clear()


def _tables(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Everything the caller endpoints store, row by row."""
    with engine.connect() as connection:
        return {
            table.name: sorted(tuple(map(str, row)) for row in connection.execute(sa.select(table)))
            for table in (prediction_requests, profile_requests, outcomes)
        }


def _engine() -> sa.Engine:
    return ready_engine(get_settings().database_url)


def test_the_defaults_are_60_10_120_and_600_a_minute():
    settings = Settings()
    assert {group: group.per_minute(settings) for group in LimitGroup} == {
        LimitGroup.ANALYZE: 60,
        LimitGroup.PROFILE: 10,
        LimitGroup.WRITES: 120,
        LimitGroup.READS: 600,
    }


def test_the_default_profile_limit_refuses_the_eleventh_scrape_of_a_minute(
    api_client, clock, capsys
):
    """No setting changed: ten new handles queue ten paid scrapes, the eleventh is 429 with the
    seconds until the window frees, names its limit, stores nothing and logs one line."""
    for i in range(10):
        response = api_client.patch("/api/profile", json={"tiktok_handle": f"creator_{i}"})
        assert response.status_code == 202, response.text
    before = _tables(_engine())
    capsys.readouterr()

    refused = api_client.patch("/api/profile", json={"tiktok_handle": "creator_10"})

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "45"
    detail = refused.json()["detail"]
    assert "RATE_LIMIT_PROFILE_PER_MINUTE" in detail and "10 requests a minute" in detail
    assert _tables(_engine()) == before
    assert len(before["profile_requests"]) == 10
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (limited,) = [line for line in lines if line["event"] == "rate limited"]
    assert limited["caller"] == CALLER and limited["limit_group"] == "profile"
    assert limited["limit_per_minute"] == 10 and limited["retry_after_s"] == 45
    assert limited["level"] == "warning" and "http_request_id" in limited


@pytest.fixture
def prediction(api_client) -> str:
    """A succeeded prediction of CALLER on a database with a scraped day (outcomes get labels)."""
    engine = _engine()
    scrape_simulated_day(engine, date(2026, 11, 20), n=300)
    return succeeded_prediction(engine)


def _attack(group: LimitGroup, prediction: str, i: int) -> tuple[str, str, dict | None]:
    """The i-th call of a group, each one a call that stores something new when admitted."""
    if group is LimitGroup.ANALYZE:
        return "POST", "/api/analyze", REQUEST
    if group is LimitGroup.PROFILE:
        return "PATCH", "/api/profile", {"tiktok_handle": f"creator_{i}"}
    if group is LimitGroup.WRITES:
        tier = ("24h", "72h", "7d")[i]
        body = {"request_id": prediction, "evaluation_tier": tier, "views": 10, "video_id": VIDEO}
        return "POST", "/api/outcomes", body
    paths = [f"/api/predictions/{prediction}", f"/api/predictions/{prediction}/outcomes"]
    return "GET", paths[i % 2], None


@pytest.mark.parametrize("group", list(LimitGroup))
def test_over_its_limit_a_caller_gets_429_and_stores_nothing_while_others_go_on(
    api_client, clock, prediction, monkeypatch, group
):
    _limit(monkeypatch, group, 2)
    for i in range(2):
        method, path, body = _attack(group, prediction, i)
        assert api_client.request(method, path, json=body).status_code < 300
    before = _tables(_engine())

    method, path, body = _attack(group, prediction, 2)
    refused = api_client.request(method, path, json=body)

    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "45"
    assert group.setting in refused.json()["detail"]
    assert _tables(_engine()) == before
    # The other caller has its own count; this caller's other groups have theirs.
    if group is not LimitGroup.WRITES:  # OTHER cannot label CALLER's prediction (404, not 429)
        other = api_client.request(method, path, json=body, headers=bearer(OTHER_TOKEN))
        assert other.status_code != 429
    neighbour = LimitGroup.READS if group is not LimitGroup.READS else LimitGroup.ANALYZE
    method, path, body = _attack(neighbour, prediction, 0)
    assert api_client.request(method, path, json=body).status_code < 300


def test_the_next_window_frees_the_caller(api_client, clock, monkeypatch):
    _limit(monkeypatch, LimitGroup.ANALYZE, 3)
    assert [api_client.post("/api/analyze", json=REQUEST).status_code for _ in range(4)] == [
        202,
        202,
        202,
        429,
    ]
    clock.now = T0 + timedelta(seconds=44, microseconds=500_000)  # half a second left
    last = api_client.post("/api/analyze", json=REQUEST)
    assert last.status_code == 429 and last.headers["retry-after"] == "1"

    clock.now = window_of(T0) + timedelta(minutes=1)
    assert api_client.post("/api/analyze", json=REQUEST).status_code == 202
    with _engine().connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(prediction_requests)).scalar()
            == 4
        )
        windows = connection.execute(sa.select(api_rate_windows)).all()
    # The first request of the new window removed the caller's old one.
    assert [(w.caller, w.limit_group, w.admitted) for w in windows] == [(CALLER, "analyze", 1)]


def test_an_anonymous_flood_is_401_and_takes_no_callers_place(api_client, clock, monkeypatch):
    _limit(monkeypatch, LimitGroup.ANALYZE, 1)
    for headers in ({"Authorization": ""}, bearer("not-a-configured-token")):
        for _ in range(3):
            assert api_client.post("/api/analyze", json=REQUEST, headers=headers).status_code == 401
    assert api_client.post("/api/analyze", json=REQUEST).status_code == 202
    assert api_client.post("/api/analyze", json=REQUEST).status_code == 429
    with _engine().connect() as connection:
        callers = connection.execute(sa.select(api_rate_windows.c.caller)).scalars().all()
    assert callers == [CALLER]


def test_every_limited_operation_documents_429_and_retry_after(api_client):
    document = api_client.get("/openapi.json").json()
    caller_operations = [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"CallerToken": []}]
    ]
    assert len(caller_operations) == 7
    for path, method, operation in caller_operations:
        answer = operation["responses"].get("429")
        assert answer is not None, (method, path)
        assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer"
    for path in ("/healthz", "/api/webhooks/apify", "/api/admin/costs"):
        for operation in document["paths"][path].values():
            assert "429" not in operation["responses"]


# ---- The count is one for every engine, process and thread --------------------------------------


def _admitted(engine: sa.Engine, caller: str = CALLER) -> int | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(api_rate_windows.c.admitted).where(api_rate_windows.c.caller == caller)
        ).scalar()


def test_two_engines_share_one_count(any_db_url):
    """Two engines with their own pools, as two API workers have: the limit holds across them."""
    first, second = create_db_engine(any_db_url), create_db_engine(any_db_url)
    try:
        migrate(first)
        window = window_of(T0)
        answers = [admit((first, second)[i % 2], CALLER, "analyze", window, 5) for i in range(8)]
        assert answers == [1, 2, 3, 4, 5, None, None, None]
        assert admit(second, OTHER, "analyze", window, 5) == 1
        assert _admitted(first) == 5
    finally:
        first.dispose()
        second.dispose()


ADMIT_IN_A_PROCESS = """
import sys
from datetime import datetime
from viral_pipeline.store.db import create_db_engine
from viral_pipeline.store.rate_limits import admit
engine = create_db_engine(sys.argv[1])
window = datetime.fromisoformat(sys.argv[2])
print([admit(engine, "backend", "analyze", window, 5) for _ in range(3)])
"""


def test_another_process_counts_in_the_same_window(any_db_url):
    engine = ready_engine(any_db_url)
    window = window_of(T0)
    assert [admit(engine, CALLER, "analyze", window, 5) for _ in range(3)] == [1, 2, 3]

    child = subprocess.run(
        [sys.executable, "-c", ADMIT_IN_A_PROCESS, any_db_url, window.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert child.stdout.strip() == "[4, 5, None]"
    assert admit(engine, CALLER, "analyze", window, 5) is None


def test_threads_hammering_one_count_never_admit_more_than_the_limit(any_db_url):
    """8 threads at once, 25 tries each, against a limit of 50: exactly 50 are admitted, each
    place once, and the stored count says 50."""
    engine = ready_engine(any_db_url)
    window = window_of(T0)
    answers = [
        answer
        for mine in all_at_once(
            8, lambda: [admit(engine, CALLER, "analyze", window, 50) for _ in range(25)]
        )
        for answer in mine
    ]
    assert len(answers) == 200
    admitted = sorted(answer for answer in answers if answer is not None)
    assert admitted == list(range(1, 51))
    assert _admitted(engine) == 50
