"""The attack: control characters in every free-text field that reaches a URL, a log line or the
database, sent through the HTTP API. A NUL, an ANSI escape (which recolours or rewrites a
terminal showing the log), a right-to-left override (which makes a name or a URL display as
another) and, in single-line fields, a CR LF (which forges a log or header line) each get a 422
naming the field, and nothing is stored."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline_tests.api_fuzz import app_row_counts
from viral_pipeline_tests.test_predict import REQUEST

WEBHOOK_SECRET = "control-characters-secret"
NUL, RLO, ANSI_RED, CRLF = "\u0000", "\u202e", "\x1b[31m", "\r\n"
EVERYWHERE = [NUL, RLO, ANSI_RED]
SINGLE_LINE = [*EVERYWHERE, CRLF]

VIDEO_URL = "https://www.tiktok.com/@chef/video/7300000000000000001"
VIDEO_PATH = "/api/predictions/00000000-0000-0000-0000-000000000000/video"
WEBHOOK_PATH = "/api/webhooks/apify"

# A body each endpoint accepts, as far as validation goes: the outcome and the video name a
# request that does not exist (404 after validation), the webhook a run Apify knows.
VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/analyze"): REQUEST,
    ("PATCH", "/api/profile"): {"tiktok_handle": "chef", "display_name": "Chef", "niche": "food"},
    ("POST", "/api/outcomes"): {
        "request_id": "r1",
        "evaluation_tier": "24h",
        "views": 10,
        "video_url": VIDEO_URL,
    },
    ("PATCH", VIDEO_PATH): {"video_url": VIDEO_URL},
    ("POST", WEBHOOK_PATH): {
        "eventType": "ACTOR.RUN.SUCCEEDED",
        "eventData": {"actorRunId": "GdWCkxBtKWOsKjdch", "actorId": "clockworks"},
        "userId": "user1",
        "createdAt": "2026-11-28T16:30:00Z",
    },
}

# (method, path, the JSON path of the field, whether the field is single-line).
FIELDS: list[tuple[str, str, list[str | int], bool]] = [
    ("POST", "/api/analyze", ["caption"], False),
    ("POST", "/api/analyze", ["hook"], False),
    ("POST", "/api/analyze", ["sound", "name"], True),
    ("POST", "/api/analyze", ["sound", "author"], True),
    ("POST", "/api/analyze", ["hashtags", 0], True),
    ("POST", "/api/analyze", ["creator", "handle"], True),
    ("PATCH", "/api/profile", ["tiktok_handle"], True),
    ("PATCH", "/api/profile", ["display_name"], True),
    ("PATCH", "/api/profile", ["niche"], True),
    ("POST", "/api/outcomes", ["request_id"], True),
    ("POST", "/api/outcomes", ["video_url"], True),
    ("PATCH", VIDEO_PATH, ["video_url"], True),
    ("POST", WEBHOOK_PATH, ["userId"], True),
    ("POST", WEBHOOK_PATH, ["createdAt"], True),
    ("POST", WEBHOOK_PATH, ["eventData", "actorId"], True),
]


def _attacked(body: dict[str, Any], loc: list[str | int], attack: str) -> dict[str, Any]:
    attacked = copy.deepcopy(body)
    holder: Any = attacked
    for part in loc[:-1]:
        holder = holder[part]
    plain = holder[loc[-1]]
    # At the end of a URL (after a valid id), else inside the value (a NUL cutting a name short).
    holder[loc[-1]] = plain + attack if loc[-1] == "video_url" else plain[:2] + attack + plain[2:]
    return attacked


CASES = [
    pytest.param(method, path, loc, attack, id=f"{'.'.join(map(str, loc))}-{attack!r}")
    for method, path, loc, single_line in FIELDS
    for attack in (SINGLE_LINE if single_line else EVERYWHERE)
]


@pytest.fixture(autouse=True)
def _webhook_configured(monkeypatch, fake_apify):
    fake_apify.every_run_exists = True
    monkeypatch.setenv("APIFY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    get_settings.cache_clear()


def _rows() -> dict[str, int]:
    return app_row_counts(ready_engine(get_settings().database_url))


@pytest.mark.parametrize("method, path, loc, attack", CASES)
def test_a_control_character_is_422_naming_the_field_and_stores_nothing(
    api_client, method, path, loc, attack
):
    before = _rows()
    response = api_client.request(
        method,
        path,
        json=_attacked(VALID[method, path], loc, attack),
        headers={"X-Webhook-Secret": WEBHOOK_SECRET},
    )
    assert response.status_code == 422, response.text
    assert ["body", *loc] in [error["loc"] for error in response.json()["detail"]]
    assert _rows() == before


@pytest.mark.parametrize("method, path", list(VALID))
def test_the_same_bodies_without_the_attack_pass_validation(api_client, method, path):
    """The attacked bodies differ from these by the attack only."""
    response = api_client.request(
        method, path, json=VALID[method, path], headers={"X-Webhook-Secret": WEBHOOK_SECRET}
    )
    assert response.status_code in (200, 202, 404), response.text
    if response.status_code == 404:
        assert response.json()["detail"].startswith("no prediction request")


def test_line_breaks_and_tabs_stay_allowed_in_a_caption_and_a_hook(api_client):
    body = {**REQUEST, "caption": "line one\r\nline two\n\tindented #food", "hook": "wait\nfor it"}
    response = api_client.post("/api/analyze", json=body)
    assert response.status_code == 202, response.text


def test_the_rule_is_in_the_openapi_document(api_client):
    schemas = api_client.get("/openapi.json").json()["components"]["schemas"]
    from viral_pipeline.engine.inputs.text import LINE_TEXT_PATTERN

    name = schemas["SoundIn"]["properties"]["name"]["anyOf"][0]
    assert name["pattern"] == LINE_TEXT_PATTERN
    assert "\\u202A" in schemas["AnalyzeRequest"]["properties"]["caption"]["pattern"]


@pytest.mark.parametrize("attack", ["%1b%5b31m", "%0d%0a", "%e2%80%ae"])
@pytest.mark.parametrize(
    "path", ["/api/predictions/{}", "/api/predictions/{}/outcomes", "/api/profile/{}"]
)
def test_a_control_character_in_a_request_id_of_a_path_is_422(api_client, path, attack):
    response = api_client.get(path.format(f"ab{attack}cd"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "request_id"]
