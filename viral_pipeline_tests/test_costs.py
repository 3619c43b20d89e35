"""GET /api/admin/costs: bearer-token auth (401, 503 when no token is set), range validation (422),
and sums equal to hand-computed sums of inserted stage rows, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from viral_pipeline.settings import get_settings
from viral_pipeline.store.costs import cost_summary
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import prediction_stages

TOKEN = "admin-token-7c1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# (request, stage, provider, cost_cents, duration_ms, recorded_at): two days in range, one out on each side.
ROWS = [
    ("r1", "gemini", "gemini", 0.12, 800.0, datetime(2026, 11, 27, 0, 0, 0, tzinfo=UTC)),
    ("r1", "deepseek", "deepseek", 0.05, 900.0, datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC)),
    ("r1", "rules", None, 0.0, 1.5, datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC)),
    ("r2", "gemini", "gemini", 0.30, 700.0, datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)),
    ("r2", "ml", None, 0.0, 12.0, datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC)),
    ("r3", "deepseek", "deepseek", 0.07, 650.0, datetime(2026, 11, 28, 12, 0, tzinfo=UTC)),
    ("r3", "rules", None, 0.0, 2.5, datetime(2026, 11, 28, 12, 0, tzinfo=UTC)),
    ("old", "gemini", "gemini", 9.0, 1.0, datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)),
    ("new", "gemini", "gemini", 9.0, 1.0, datetime(2026, 11, 29, 0, 0, 0, tzinfo=UTC)),
]


@pytest.fixture
def admin_api(monkeypatch, any_db_url):
    from viral_pipeline.api import create_app

    monkeypatch.setenv("DATABASE_URL", any_db_url)
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    engine = ready_engine(any_db_url)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(prediction_stages),
            [
                {
                    "request_id": r,
                    "stage": s,
                    "provider": p,
                    "cost_cents": c,
                    "duration_ms": d,
                    "recorded_at": t,
                }
                for r, s, p, c, d, t in ROWS
            ],
        )
    with TestClient(create_app()) as client:
        yield client


def _hand_sums(rows, key):
    sums = {}
    for row in rows:
        k = key(row)
        cost, requests, records = sums.get(k, (0.0, set(), 0))
        sums[k] = (cost + row[3], requests | {row[0]}, records + 1)
    return {
        k: (pytest.approx(cost), len(requests), records)
        for k, (cost, requests, records) in sums.items()
    }


def test_costs_sum_the_stage_rows_by_day_stage_and_provider(admin_api):
    response = admin_api.get(
        "/api/admin/costs", params={"start": "2026-11-27", "end": "2026-11-28"}, headers=AUTH
    )
    assert response.status_code == 200
    body = response.json()
    inside = ROWS[:7]
    assert body["totals"]["cost_cents"] == pytest.approx(0.12 + 0.05 + 0.30 + 0.07)
    assert body["totals"]["requests"] == 3 and body["totals"]["stage_records"] == 7
    assert body["totals"]["cost_per_request_cents"] == pytest.approx(0.54 / 3)
    by_day = {
        d["day"]: (d["cost_cents"], d["requests"], d["stage_records"]) for d in body["by_day"]
    }
    assert by_day == _hand_sums(inside, lambda row: row[5].date().isoformat())
    by_stage = {
        d["stage"]: (d["cost_cents"], d["requests"], d["stage_records"]) for d in body["by_stage"]
    }
    assert by_stage == _hand_sums(inside, lambda row: row[1])
    by_provider = {
        d["provider"]: (d["cost_cents"], d["requests"], d["stage_records"])
        for d in body["by_provider"]
    }
    assert by_provider == _hand_sums(inside, lambda row: row[2] or "internal")
    gemini = next(d for d in body["by_stage"] if d["stage"] == "gemini")
    assert gemini["duration_ms"] == pytest.approx(1500.0)


def test_a_day_without_records_is_listed_with_zeros(admin_api):
    body = admin_api.get(
        "/api/admin/costs", params={"start": "2026-11-20", "end": "2026-11-21"}, headers=AUTH
    ).json()
    assert body["totals"] == {
        "cost_cents": 0.0,
        "requests": 0,
        "stage_records": 0,
        "cost_per_request_cents": 0.0,
    }
    assert [d["day"] for d in body["by_day"]] == ["2026-11-20", "2026-11-21"]
    assert body["by_stage"] == [] and body["by_provider"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
    ],
)
def test_missing_or_wrong_token_is_401(monkeypatch, headers):
    from viral_pipeline.api import create_app

    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.get("/api/admin/costs", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text


def test_the_openapi_document_lists_the_admin_scheme_on_every_admin_route_only(api_client):
    document = api_client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["AdminToken"]["type"] == "http"
    assert document["components"]["securitySchemes"]["AdminToken"]["scheme"] == "bearer"
    guarded = {
        (path, method): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert guarded[("/api/admin/costs", "get")] == [{"AdminToken": []}]
    admin = {key for key in guarded if key[0].startswith("/api/admin/")}
    assert all(guarded[key] == [{"AdminToken": []}] for key in admin)
    # The other routes carry the callers' scheme or none (test_api_callers.py), never this one.
    assert all("AdminToken" not in str(guarded[key]) for key in guarded.keys() - admin)


def test_without_a_configured_token_the_endpoint_is_disabled(api_client):
    response = api_client.get("/api/admin/costs", headers=AUTH)
    assert response.status_code == 503 and "ADMIN_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-11-28", "end": "2026-11-27"},
        {"start": "2025-01-01", "end": "2026-11-27"},
        {"start": "yesterday"},
    ],
)
def test_a_bad_range_is_422_naming_the_field(monkeypatch, params):
    from viral_pipeline.api import create_app

    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.get("/api/admin/costs", params=params, headers=AUTH)
    assert response.status_code == 422
    fields = {str(error["loc"][-1]) for error in response.json()["detail"]}
    assert fields & {"start", "end"}


def test_the_default_range_is_the_last_seven_days(monkeypatch):
    from viral_pipeline.api import create_app

    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        body = client.get("/api/admin/costs", headers=AUTH).json()
    assert len(body["by_day"]) == 7 and body["end"] == datetime.now(UTC).date().isoformat()


def test_cost_summary_reads_the_utc_day_on_both_backends(app_engine):
    with app_engine.begin() as connection:
        connection.execute(
            sa.insert(prediction_stages),
            [
                {
                    "request_id": "late",
                    "stage": "gemini",
                    "provider": "gemini",
                    "cost_cents": 1.0,
                    "duration_ms": 1.0,
                    "recorded_at": datetime(2026, 11, 27, 23, 30, tzinfo=UTC),
                }
            ],
        )
    summary = cost_summary(app_engine, date(2026, 11, 27), date(2026, 11, 28))
    assert [d["cost_cents"] for d in summary.by_day] == [1.0, 0.0]
    assert summary.cost_per_request_cents == 1.0


def test_days_are_utc_days_whatever_the_postgresql_session_time_zone(postgres_url):
    from sqlalchemy.engine import make_url

    ready_engine(postgres_url)  # migrated
    url = make_url(postgres_url).set(drivername="postgresql+psycopg2")
    new_york = sa.create_engine(url, connect_args={"options": "-c timezone=America/New_York"})
    try:
        with new_york.begin() as connection:
            assert connection.execute(sa.text("SHOW timezone")).scalar() == "America/New_York"
            connection.execute(
                sa.insert(prediction_stages),
                [
                    {
                        "request_id": "late",
                        "stage": "gemini",
                        "provider": "gemini",
                        "cost_cents": 1.0,
                        "duration_ms": 1.0,
                        "recorded_at": datetime(2026, 11, 28, 2, 30, tzinfo=UTC),
                    }
                ],
            )
        summary = cost_summary(new_york, date(2026, 11, 27), date(2026, 11, 28))
    finally:
        new_york.dispose()
    # 02:30 UTC on the 28th is still the 27th in New York: the report must say the 28th.
    assert [d["cost_cents"] for d in summary.by_day] == [0.0, 1.0]


@pytest.mark.parametrize(
    "params,field",
    [
        ({"start": "9999-12-31", "end": "9999-12-31"}, "start"),
        ({"end": "9999-12-31"}, "end"),
        ({"end": "0001-01-01"}, "end"),
        ({"start": "0001-01-01", "end": "0001-01-07"}, "start"),
        ({"start": "1999-12-31", "end": "2000-01-02"}, "start"),
        ({"start": "2099-12-31", "end": "2100-01-01"}, "end"),
    ],
)
def test_days_outside_the_bounds_are_422_with_the_reason(monkeypatch, params, field):
    from viral_pipeline.api import create_app

    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.get("/api/admin/costs", params=params, headers=AUTH)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert error["msg"] == f"{field} must lie between 2000-01-01 and 2099-12-31"


def test_the_bounds_are_served_at_the_edges_and_documented(monkeypatch):
    from viral_pipeline.api import create_app

    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        first = client.get(
            "/api/admin/costs", params={"start": "2000-01-01", "end": "2000-01-02"}, headers=AUTH
        )
        last = client.get(
            "/api/admin/costs", params={"start": "2099-12-30", "end": "2099-12-31"}, headers=AUTH
        )
        document = client.get("/openapi.json").json()
    assert first.status_code == last.status_code == 200
    assert [day["day"] for day in last.json()["by_day"]] == ["2099-12-30", "2099-12-31"]
    parameters = document["paths"]["/api/admin/costs"]["get"]["parameters"]
    for parameter in parameters:
        assert "between 2000-01-01 and 2099-12-31" in parameter["description"], parameter["name"]
