"""The Apify webhook end to end: secret, re-read of the run from a real fake Apify server,
the recorded event, the sensor's RunRequest, and the ingest run it launches (once)."""

from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from viral_pipeline.definitions import defs as load_defs
from viral_pipeline.defs.ingest.sensors import apify_webhook_runs
from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline.store.schema import apify_webhook_events, scraped_videos
from viral_pipeline_tests.factories import make_item

SECRET = "s3cret-webhook-value"


@pytest.fixture(autouse=True)
def _webhook_secret(monkeypatch):
    monkeypatch.setenv("APIFY_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()


def _payload(run_id, event_type="ACTOR.RUN.SUCCEEDED"):
    return {
        "userId": "u1",
        "createdAt": "2026-11-29T01:00:00.000Z",
        "eventType": event_type,
        "eventData": {"actorId": "GdWCkxBtKWOsKjdch", "actorRunId": run_id},
        "resource": {"id": run_id, "status": "SUCCEEDED"},
    }


def _events():
    with ready_engine(get_settings().database_url).connect() as connection:
        return connection.execute(sa.select(apify_webhook_events)).fetchall()


@pytest.mark.parametrize(
    "auth", [{}, {"headers": {"X-Webhook-Secret": "wrong"}}, {"params": {"token": "nope"}}]
)
def test_missing_or_wrong_secret_is_401_and_records_nothing(fake_apify, api_client, auth):
    run_id = fake_apify.add_run("SUCCEEDED", dataset_items=[])
    response = api_client.post("/api/webhooks/apify", json=_payload(run_id), **auth)
    assert response.status_code == 401
    assert "secret" in response.json()["detail"]
    assert fake_apify.requests_to("/v2/actor-runs/") == []
    assert _events() == []


def test_without_a_configured_secret_the_webhook_is_disabled(monkeypatch, fake_apify):
    monkeypatch.delenv("APIFY_WEBHOOK_SECRET")
    get_settings.cache_clear()
    from fastapi.testclient import TestClient

    from viral_pipeline.api import create_app

    response = TestClient(create_app()).post(
        "/api/webhooks/apify", json=_payload("r1"), params={"token": ""}
    )
    assert response.status_code == 503
    assert "APIFY_WEBHOOK_SECRET" in response.json()["detail"]


def test_malformed_payload_is_422_naming_the_field(fake_apify, api_client):
    response = api_client.post(
        "/api/webhooks/apify",
        json={"eventType": "ACTOR.RUN.SUCCEEDED"},
        headers={"X-Webhook-Secret": SECRET},
    )
    assert response.status_code == 422
    assert "eventData" in response.text


def test_status_is_re_read_from_the_api_not_taken_from_the_payload(fake_apify, api_client):
    run_id = fake_apify.add_run("FAILED")
    response = api_client.post(
        "/api/webhooks/apify", json=_payload(run_id), params={"token": SECRET}
    )
    assert response.status_code == 200
    assert response.json() == {
        "apify_run_id": run_id,
        "run_status": "FAILED",
        "duplicate": False,
        "will_ingest": False,
    }
    assert len(fake_apify.requests_to(f"/v2/actor-runs/{run_id}")) == 1


def test_unreachable_apify_api_is_502_and_records_nothing(monkeypatch, api_client):
    monkeypatch.setenv("APIFY_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("APIFY_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    response = api_client.post(
        "/api/webhooks/apify", json=_payload("runx"), headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 502
    assert "runx" in response.json()["detail"]
    assert _events() == []


def test_repeated_delivery_ingests_the_dataset_exactly_once(fake_apify, api_client):
    dataset = [
        make_item(f"75000000000000000{i:02d}", posted=datetime(2026, 11, 28, 10, tzinfo=UTC))
        for i in range(12)
    ]
    dataset.append(
        {
            "url": "https://www.tiktok.com/@gone",
            "input": "gone",
            "error": "This profile/hashtag does not exist.",
        }
    )
    run_id = fake_apify.add_run("SUCCEEDED", dataset_items=dataset)

    first = api_client.post(
        "/api/webhooks/apify", json=_payload(run_id), headers={"X-Webhook-Secret": SECRET}
    )
    second = api_client.post(
        "/api/webhooks/apify", json=_payload(run_id), headers={"X-Webhook-Secret": SECRET}
    )
    assert first.json()["will_ingest"] is True and first.json()["duplicate"] is False
    assert second.json()["duplicate"] is True and second.json()["will_ingest"] is False
    (event,) = _events()
    assert event.deliveries == 2 and event.run_status == "SUCCEEDED"

    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(
        instance=instance, resources={"app_db": defs.resources["app_db"]}
    )
    result = apify_webhook_runs(context)
    assert [r.run_key for r in result.run_requests] == [run_id]
    request = result.run_requests[0]
    assert (
        request.run_config["ops"]["scraped_videos"]["config"]["apify_dataset_id"]
        == event.dataset_id
    )

    # The next tick starts from the cursor: nothing new, nothing requested.
    again = apify_webhook_runs(
        dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"app_db": defs.resources["app_db"]}
        )
    )
    assert again.run_requests == []

    run = defs.resolve_job_def("scrape_job").execute_in_process(
        run_config=request.run_config,
        partition_key=request.partition_key,
        instance=instance,
        tags=request.tags,
    )
    assert run.success
    materialization = run.asset_materializations_for_node("scraped_videos")[0]
    assert materialization.metadata["rows_stored"].value == 12
    assert materialization.metadata["rows_rejected"].value == 1
    assert materialization.metadata["source"].value == "apify"
    with ready_engine(get_settings().database_url).connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(scraped_videos)).scalar()
            == 12
        )


def test_sensor_skips_runs_that_did_not_succeed_but_moves_its_cursor(fake_apify, api_client):
    failed = fake_apify.add_run("FAILED")
    ok = fake_apify.add_run("SUCCEEDED", dataset_items=[])
    for run_id in (failed, ok):
        api_client.post(
            "/api/webhooks/apify", json=_payload(run_id), headers={"X-Webhook-Secret": SECRET}
        )
    defs = load_defs()
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources={"app_db": defs.resources["app_db"]}
    )
    result = apify_webhook_runs(context)
    assert [r.run_key for r in result.run_requests] == [ok]
    assert result.cursor == str(max(e.id for e in _events()))


HOSTILE_RUN_IDS = [
    "../../v2/users/me",
    "..",
    ".",
    "%2e%2e",
    "abc/def",
    "abc?limit=1",
    "abc#fragment",
    "abc def",
    "abc\n",
    "abc\x7f",
    "run-x",
    "ü" * 3,
    "x" * 65,
    "",
]


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
def test_a_run_id_that_is_not_an_apify_id_is_422_before_any_apify_call(
    fake_apify, api_client, run_id
):
    response = api_client.post(
        "/api/webhooks/apify", json=_payload(run_id), headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "eventData", "actorRunId"]
    assert fake_apify.requests == []  # no request at all, with or without the token
    assert _events() == []


@pytest.mark.parametrize(
    "field,value",
    [
        ("eventType", "ACTOR.RUN.SUCCEEDED\x00"),
        ("eventType", "ACTOR.RUN.SUCCEEDED\r\nX: y"),
        ("eventType", "ACTOR RUN"),
        ("userId", "u1\x1b[31m"),
        ("createdAt", "2026-11-29\t01:00"),
    ],
)
def test_control_characters_in_free_text_are_422(fake_apify, api_client, field, value):
    run_id = fake_apify.add_run("SUCCEEDED", dataset_items=[])
    payload = {**_payload(run_id), field: value}
    response = api_client.post(
        "/api/webhooks/apify", json=payload, headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert fake_apify.requests == []
    assert _events() == []


def test_a_nul_in_the_event_type_is_422_on_postgresql(monkeypatch, postgres_url, fake_apify):
    """PostgreSQL refuses NUL in text: the payload is refused before it gets there."""
    from fastapi.testclient import TestClient

    from viral_pipeline.api import create_app

    monkeypatch.setenv("DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    run_id = fake_apify.add_run("SUCCEEDED", dataset_items=[])
    with TestClient(create_app()) as client:
        response = client.post(
            "/api/webhooks/apify",
            json=_payload(run_id, event_type="ACTOR.RUN.SUCCEEDED\x00"),
            headers={"X-Webhook-Secret": SECRET},
        )
        assert response.status_code == 422
        accepted = client.post(
            "/api/webhooks/apify", json=_payload(run_id), headers={"X-Webhook-Secret": SECRET}
        )
    assert accepted.status_code == 200
    assert [r.path for r in fake_apify.requests] == [f"/v2/actor-runs/{run_id}"]


def test_a_valid_delivery_reaches_only_the_runs_path(fake_apify, api_client):
    run_id = fake_apify.add_run("SUCCEEDED", dataset_items=[])
    assert run_id.isalnum()  # the fake's ids have Apify's shape
    response = api_client.post(
        "/api/webhooks/apify", json=_payload(run_id), headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 200
    assert [(r.method, r.path) for r in fake_apify.requests] == [
        ("GET", f"/v2/actor-runs/{run_id}")
    ]


@pytest.mark.parametrize(
    "run",
    [
        {"id": "r1", "status": "SUCCEEDED", "defaultDatasetId": "../../v2/users/me"},
        {"id": "r1", "status": "SUCCEEDED", "defaultDatasetId": "ds?token=x"},
        {"id": "r1", "status": "SUCCEEDED", "defaultDatasetId": 7},
        {"id": "r1", "status": "SUCCEEDED\u0000", "defaultDatasetId": "ds1"},
        {"id": "r1", "status": ["SUCCEEDED"], "defaultDatasetId": "ds1"},
        {"id": "r1"},
    ],
)
def test_an_apify_answer_that_is_not_a_run_is_502_and_records_nothing(fake_apify, api_client, run):
    """The re-read run's dataset id is later put into an Apify URL and its status stored: an
    answer outside Apify's alphabet is refused like an unreachable API (Apify delivers again)."""
    import json

    fake_apify.fail_next("/v2/actor-runs/", status=200, body=json.dumps({"data": run}))
    response = api_client.post(
        "/api/webhooks/apify", json=_payload("r1"), headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 502
    assert "r1" in response.json()["detail"]
    assert _events() == []


def test_an_apify_url_setting_httpx_cannot_use_is_502_not_500(monkeypatch, api_client):
    # httpx refuses this URL with InvalidURL, which is outside its HTTPError family.
    monkeypatch.setenv("APIFY_API_URL", "http://[::1")
    get_settings.cache_clear()
    response = api_client.post(
        "/api/webhooks/apify", json=_payload("runx"), headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 502
    assert response.json()["detail"] == "could not re-read Apify run runx: InvalidURL"
    assert _events() == []


def test_a_database_that_cannot_store_the_event_is_503_so_apify_delivers_again(
    monkeypatch, fake_apify, api_client
):
    run_id = fake_apify.add_run("SUCCEEDED", dataset_items=[])
    with ready_engine(get_settings().database_url).begin() as connection:
        connection.execute(sa.text("DROP TABLE apify_webhook_events"))
    response = api_client.post(
        "/api/webhooks/apify", json=_payload(run_id), headers={"X-Webhook-Secret": SECRET}
    )
    assert response.status_code == 503
    assert "deliver it again" in response.json()["detail"]
