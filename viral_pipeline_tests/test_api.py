"""The HTTP API shell: health, body limit, request ids, OpenAPI, and the real server's JSON logs."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from viral_pipeline.api.guards import MAX_BODY_BYTES
from viral_pipeline.settings import get_settings
from viral_pipeline_tests.test_predict import REQUEST

REPO = Path(__file__).resolve().parent.parent


def test_healthz_reports_the_database(api_client):
    response = api_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert len(response.headers["x-request-id"]) == 32


def test_healthz_is_503_when_the_database_is_unreachable(monkeypatch, tmp_path):
    # A directory where the SQLite file should be: the database cannot be opened.
    (tmp_path / "blocked.db").mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/blocked.db")
    get_settings.cache_clear()
    from fastapi.testclient import TestClient

    from viral_pipeline.api import create_app

    response = TestClient(create_app()).get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "unreachable"


def test_oversize_body_is_413_before_it_is_read(api_client):
    response = api_client.post(
        "/api/webhooks/apify",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["detail"]


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def test_caller_request_id_is_echoed(api_client, capsys):
    caller_id = "abc-123." + "x" * 56  # 64 characters: the longest accepted
    response = api_client.get("/healthz", headers={"x-request-id": caller_id})
    assert response.headers["x-request-id"] == caller_id
    requests = [
        line for line in _json_lines(capsys.readouterr().err) if line.get("event") == "http request"
    ]
    assert [line["http_request_id"] for line in requests] == [caller_id]


def test_unsafe_caller_request_id_is_replaced_not_echoed(api_client, capsys):
    for unsafe in [b"x" * 65, b"abc\x01def", b"abc\tdef", b"a b", b"id;rm", b"caf\xe9", b""]:
        response = api_client.get("/healthz", headers={"x-request-id": unsafe})
        replaced = response.headers["x-request-id"]
        assert replaced.encode() != unsafe and len(replaced) == 32 and replaced.isalnum()
        err = capsys.readouterr().err
        if unsafe:
            assert unsafe.decode("latin-1") not in err
        requests = [line for line in _json_lines(err) if line.get("event") == "http request"]
        assert [line["http_request_id"] for line in requests] == [replaced]


def test_handlers_take_the_database_from_the_one_dependency(api_client, tmp_path):
    """Overriding `app_engine` moves every handler to another database: none opens its own."""
    from viral_pipeline.api.deps import app_engine
    from viral_pipeline.store.db import ready_engine

    other = ready_engine(f"sqlite:///{tmp_path}/other.db")
    api_client.app.dependency_overrides[app_engine] = lambda: other
    try:
        request_id = api_client.post("/api/analyze", json=REQUEST).json()["request_id"]
        assert api_client.get(f"/api/predictions/{request_id}").json()["status"] == "queued"
        handle = api_client.patch("/api/profile", json={"tiktok_handle": "some.creator"}).json()
        assert api_client.get(f"/api/profile/{handle['request_id']}").status_code == 200
    finally:
        api_client.app.dependency_overrides.clear()
    # The configured database never saw them.
    assert api_client.get(f"/api/predictions/{request_id}").status_code == 404
    assert api_client.get(f"/api/profile/{handle['request_id']}").status_code == 404


def test_openapi_describes_every_endpoint(api_client):
    document = api_client.get("/openapi.json").json()
    assert {"/healthz", "/api/webhooks/apify"} <= set(document["paths"])
    assert "ApifyWebhookPayload" in document["components"]["schemas"]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The supported way (`python -m viral_pipeline.api`), and plain uvicorn as a user may start it:
# one process, or a parent supervising worker processes.
SERVER_COMMANDS = {
    "python -m viral_pipeline.api": ["-m", "viral_pipeline.api"],
    "uvicorn viral_pipeline.api:app": ["-m", "uvicorn", "viral_pipeline.api:app"],
    "uvicorn --workers 2": ["-m", "uvicorn", "viral_pipeline.api:app", "--workers", "2"],
}


@pytest.mark.parametrize("command", SERVER_COMMANDS)
def test_real_server_logs_json_lines_without_query_strings(tmp_path, command):
    """The API under a real uvicorn: the request lines are JSON, and neither the webhook secret
    nor a guess sent in the query string reaches stdout or stderr, however it is started."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/api.db",
        "APIFY_WEBHOOK_SECRET": "hush-the-real-secret",
    }
    process = subprocess.Popen(
        [sys.executable, *SERVER_COMMANDS[command], "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "API did not start within 60 s"
                time.sleep(0.2)
        rejected = httpx.post(
            f"http://127.0.0.1:{port}/api/webhooks/apify?token=wrong-hush", json={}, timeout=5
        )
        assert rejected.status_code == 401
        accepted_secret = httpx.get(
            f"http://127.0.0.1:{port}/healthz?token=hush-the-real-secret", timeout=5
        )
        assert accepted_secret.status_code == 200
    finally:
        # Ctrl-C, as a user stops it: uvicorn shuts down cleanly and the interpreter exits normally.
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    output = stdout + stderr
    assert "hush" not in output and "token=" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.strip().startswith("{")]
    requests = [line for line in lines if line.get("event") == "http request"]
    assert {(r["path"], r["status"]) for r in requests} >= {
        ("/healthz", 200),
        ("/api/webhooks/apify", 401),
    }
    assert all("http_request_id" in r and "duration_ms" in r for r in requests)
    if command == "python -m viral_pipeline.api":
        # The supported way logs nothing but JSON, uvicorn's own lines included.
        assert len(lines) == len([line for line in output.splitlines() if line.strip()])
        assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
