"""The body cap holds against a real uvicorn server on 127.0.0.1: a chunked upload (no
Content-Length) is refused with 413 once the cap is passed, and the server stops reading, so the
caller gets to send only a fraction of it; with Content-Length the refusal comes before any byte."""

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from viral_pipeline.api.guards import MAX_BODY_BYTES
from viral_pipeline.settings import get_settings
from viral_pipeline_tests.api_callers import API_TOKENS, TOKEN, bearer

CHUNK = b"x" * 65536
TOTAL_BYTES = 48 * 1024 * 1024  # far beyond the cap and beyond what socket buffers absorb


@pytest.fixture
def server_url(monkeypatch: pytest.MonkeyPatch):
    from viral_pipeline.api import create_app

    monkeypatch.setenv("API_TOKENS", API_TOKENS)
    get_settings.cache_clear()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class _Upload:
    """A chunked body of TOTAL_BYTES that counts what the client was allowed to send."""

    def __init__(self) -> None:
        self.yielded = 0

    def __iter__(self):
        while self.yielded < TOTAL_BYTES:
            self.yielded += len(CHUNK)
            yield CHUNK


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/api/analyze"),
        ("POST", "/api/outcomes"),
        ("PATCH", "/api/profile"),
        ("PUT", "/api/analyze"),  # no such route: the cap still comes first
        ("GET", "/healthz"),
    ],
)
def test_chunked_upload_is_413_and_the_server_stops_reading(server_url, method, path):
    upload = _Upload()
    response = httpx.request(
        method,
        server_url + path,
        content=iter(upload),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert "content-length" not in response.request.headers  # chunked, as the attacker sent it
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}
    assert response.headers["connection"] == "close"
    # Only the cap plus what the kernel's socket buffers took in was sent, not the whole upload.
    assert upload.yielded < TOTAL_BYTES // 4, upload.yielded


def test_a_body_at_the_cap_still_reaches_the_handler(server_url):
    """The cap refuses only what is larger: a chunked body of exactly MAX_BODY_BYTES is read and
    validated (422 for its oversized caption, not 413)."""
    prefix, suffix = b'{"duration_s": 24, "caption": "', b'"}'
    body = prefix + b"y" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY_BYTES
    chunks = [body[i : i + 10_000] for i in range(0, len(body), 10_000)]
    response = httpx.post(
        server_url + "/api/analyze",
        content=iter(chunks),
        headers={"content-type": "application/json", **bearer(TOKEN)},
        timeout=30,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "caption"]
    assert len(response.content) < 2000  # the 256 KiB caption is not echoed back


def test_declared_content_length_over_the_cap_is_413_before_the_body(server_url):
    with socket.create_connection(("127.0.0.1", int(server_url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(
            b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            assert data, "connection closed without an answer"
            answer += data
    assert answer.startswith(b"HTTP/1.1 413 ")
