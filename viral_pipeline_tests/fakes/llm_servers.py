"""Fake Gemini and DeepSeek (OpenAI-compatible) APIs: real HTTP servers on 127.0.0.1, stdlib only.

Each server answers from a queue of behaviours, one per request, and falls back to a plain
success when the queue is empty. Requests are recorded (path, query, lower-cased headers, JSON
body), and the key is checked the way the real API expects it.

    with FakeGemini() as gemini:
        gemini.fail(500).succeed(score=80)
        judge = GeminiJudge(gemini.api_key, gemini.url, "gemini-2.5-flash", timeout_s=3)
        assert judge.judge(item).attempts == 2
        assert gemini.requests[0].headers["x-goog-api-key"] == gemini.api_key

Behaviours (each method queues one and returns the server, so calls chain):
`succeed(...)`, `fail(status, retry_after=..., message=...)`, `rate_limit(retry_after)`,
`delay(seconds)`, `malformed()`, `blank()`, `schema_violation(score=150)`, `drop()`,
`together(barrier)` (answer only once every party of a `threading.Barrier` shared with another
fake has a request in: proof that the calls overlap, whatever the machine's speed).
The pytest fixtures `fake_gemini` and `fake_deepseek` yield a started server.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import pytest

DEFAULT_VERDICT: dict[str, Any] = {
    "score": 72,
    "hook_strength": 81,
    "caption_quality": 64,
    "reasons": ["Strong question hook", "Trending sound", "Caption lacks a call to action"],
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any = None


@dataclass
class Behaviour:
    """What the server does with one request."""

    status: int = 200
    text: str | None = None  # the answer text of a 200 (None: DEFAULT_VERDICT as JSON)
    input_tokens: int = 120
    cached_tokens: int = 0
    output_tokens: int = 45
    thoughts_tokens: int = 0
    finish_reason: str | None = None
    with_usage: bool = True
    retry_after: str | None = None  # Retry-After header
    retry_delay: str | None = None  # Gemini's RetryInfo in the error body, e.g. "0.2s"
    message: str | None = None  # error message
    raw_body: bytes | None = None  # sent verbatim instead of a built body
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering
    trickle_s: float = 0.0  # send the body in pieces, this long apart
    pieces: int = 1
    barrier: threading.Barrier | None = None  # held until every party has a request in
    barrier_wait_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # merged into a 200's JSON payload


class FakeLLMServer:
    """The shared machinery; FakeGemini and FakeDeepSeek speak the wire formats."""

    DEFAULT_KEY = "fake-llm-key-0000"
    name = "fake-llm"

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key or self.DEFAULT_KEY
        self.requests: list[RecordedRequest] = []
        self._queue: list[Behaviour] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Self:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=self.name,
            daemon=True,
        )
        thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests held by delay()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, f"{type(self).__name__} is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- programming -----------------------------------------------------------------------
    def push(self, behaviour: Behaviour, count: int = 1) -> Self:
        with self._lock:
            self._queue.extend(Behaviour(**vars(behaviour)) for _ in range(count))
        return self

    def succeed(
        self,
        verdict: dict[str, Any] | None = None,
        *,
        text: str | None = None,
        input_tokens: int = 120,
        cached_tokens: int = 0,
        output_tokens: int = 45,
        thoughts_tokens: int = 0,
        finish_reason: str | None = None,
        with_usage: bool = True,
        count: int = 1,
        **verdict_fields: Any,
    ) -> Self:
        """A 200 whose answer is `text`, else the verdict (DEFAULT_VERDICT updated by `verdict_fields`)."""
        if text is None:
            text = json.dumps(
                {**(verdict if verdict is not None else DEFAULT_VERDICT), **verdict_fields}
            )
        behaviour = Behaviour(
            text=text,
            input_tokens=input_tokens,
            cached_tokens=cached_tokens,
            output_tokens=output_tokens,
            thoughts_tokens=thoughts_tokens,
            finish_reason=finish_reason,
            with_usage=with_usage,
        )
        return self.push(behaviour, count)

    def fail(
        self,
        status: int = 500,
        *,
        retry_after: float | str | None = None,
        retry_delay: str | None = None,
        message: str | None = None,
        raw_body: bytes | str | None = None,
        count: int = 1,
    ) -> Self:
        raw = raw_body.encode() if isinstance(raw_body, str) else raw_body
        behaviour = Behaviour(
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            retry_delay=retry_delay,
            message=message,
            raw_body=raw,
        )
        return self.push(behaviour, count)

    def rate_limit(self, retry_after: float | str | None = 0.2, *, count: int = 1) -> Self:
        return self.fail(429, retry_after=retry_after, count=count)

    def delay(self, seconds: float, *, count: int = 1) -> Self:
        """Hold the request `seconds` (longer than the client's timeout, usually), then succeed."""
        return self.push(Behaviour(text=json.dumps(DEFAULT_VERDICT), delay_s=seconds), count)

    def together(
        self, barrier: threading.Barrier, wait_s: float = 10.0, **verdict_fields: Any
    ) -> Self:
        """A success held until every party of `barrier` has a request in; when the others do
        not arrive within `wait_s`, a 400 saying so, which the judge does not retry."""
        text = json.dumps({**DEFAULT_VERDICT, **verdict_fields})
        return self.push(Behaviour(text=text, barrier=barrier, barrier_wait_s=wait_s))

    def malformed(
        self, text: str = '{"score": 55, "hook_strength": 60, "reasons": [', **kwargs: Any
    ) -> Self:
        return self.succeed(text=text, **kwargs)

    def blank(self, text: str = "", **kwargs: Any) -> Self:
        return self.succeed(text=text, **kwargs)

    def schema_violation(self, **fields: Any) -> Self:
        """A well-formed JSON answer breaking the schema (default: score 150)."""
        return self.succeed(**(fields or {"score": 150}))

    def drop(self, *, count: int = 1) -> Self:
        return self.push(Behaviour(drop=True), count)

    def trickle(self, seconds_between: float, pieces: int = 10) -> Self:
        """A success whose body dribbles out in `pieces`, each `seconds_between` apart."""
        return self.push(
            Behaviour(text=json.dumps(DEFAULT_VERDICT), trickle_s=seconds_between, pieces=pieces)
        )

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # -- internals -------------------------------------------------------------------------
    def _next(self) -> Behaviour:
        with self._lock:
            return (
                self._queue.pop(0) if self._queue else Behaviour(text=json.dumps(DEFAULT_VERDICT))
            )

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # Wire format (subclasses): route and auth checks return (status, payload) to refuse.
    def _route(self, path: str) -> str | None:
        raise NotImplementedError

    def _refuse(self, request: RecordedRequest) -> tuple[int, dict[str, Any]] | None:
        raise NotImplementedError

    def _success(self, behaviour: Behaviour, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def _error(
        self, status: int, message: str, behaviour: Behaviour | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError


class FakeGemini(FakeLLMServer):
    """`POST /v1beta/models/{model}:generateContent` with the key in `x-goog-api-key`."""

    DEFAULT_KEY = "AIzaFAKE-gemini-test-key-7d41c"
    name = "fake-gemini"
    _STATUS = {
        400: "INVALID_ARGUMENT",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
    }

    def _route(self, path: str) -> str | None:
        prefix, suffix = "/v1beta/models/", ":generateContent"
        if (
            path.startswith(prefix)
            and path.endswith(suffix)
            and len(path) > len(prefix) + len(suffix)
        ):
            return path[len(prefix) : -len(suffix)]
        return None

    def _refuse(self, request: RecordedRequest) -> tuple[int, dict[str, Any]] | None:
        if "key" in request.query:
            return 400, self._error(
                400, "This fake refuses ?key=: send the key in the x-goog-api-key header."
            )
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return 403, self._error(
                403, "Method doesn't allow unregistered callers. Please use an API key."
            )
        if key != self.api_key:
            return 400, self._error(400, "API key not valid. Please pass a valid API key.")
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("contents"):
            return 400, self._error(
                400, "* GenerateContentRequest.contents: contents is not specified"
            )
        return None

    def _success(self, behaviour: Behaviour, model: str) -> dict[str, Any]:
        parts = [{"text": behaviour.text}] if behaviour.text is not None else []
        payload: dict[str, Any] = {
            "candidates": [
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": behaviour.finish_reason or "STOP",
                    "index": 0,
                }
            ],
            "modelVersion": model,
            "responseId": uuid.uuid4().hex[:22],
        }
        if behaviour.with_usage:
            usage: dict[str, Any] = {
                "promptTokenCount": behaviour.input_tokens,
                "candidatesTokenCount": behaviour.output_tokens,
                "totalTokenCount": behaviour.input_tokens
                + behaviour.output_tokens
                + behaviour.thoughts_tokens,
            }
            if behaviour.cached_tokens:
                usage["cachedContentTokenCount"] = behaviour.cached_tokens
            if behaviour.thoughts_tokens:
                usage["thoughtsTokenCount"] = behaviour.thoughts_tokens
            payload["usageMetadata"] = usage
        return {**payload, **behaviour.extra}

    def _error(
        self, status: int, message: str, behaviour: Behaviour | None = None
    ) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": self._STATUS.get(status, "INTERNAL"),
        }
        if behaviour is not None and behaviour.retry_delay is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": behaviour.retry_delay,
                }
            ]
        return {"error": error}


class FakeDeepSeek(FakeLLMServer):
    """`POST /chat/completions` (or `/v1/chat/completions`) with `Authorization: Bearer <key>`.

    `flavor="openai"` makes it a generic OpenAI-compatible server: usage carries only
    prompt_tokens / completion_tokens (and prompt_tokens_details.cached_tokens).
    """

    DEFAULT_KEY = "sk-fake-deepseek-test-key-93be0"
    name = "fake-deepseek"

    def __init__(self, api_key: str | None = None, flavor: str = "deepseek") -> None:
        super().__init__(api_key)
        self.flavor = flavor

    def _route(self, path: str) -> str | None:
        return "chat" if path in ("/chat/completions", "/v1/chat/completions") else None

    def _refuse(self, request: RecordedRequest) -> tuple[int, dict[str, Any]] | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, self._error(401, "Authentication Fails (no such user)")
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("model") or not isinstance(body.get("messages"), list):
            return 400, self._error(400, "Failed to deserialize the JSON body into the target type")
        if (body.get("response_format") or {}).get("type") == "json_object":
            prompt = " ".join(
                str(m.get("content", "")) for m in body["messages"] if isinstance(m, dict)
            )
            if "json" not in prompt.lower():
                message = (
                    "Prompt must contain the word 'json' in some form to use 'response_format'"
                )
                return 400, self._error(400, message)
        return None

    def _success(self, behaviour: Behaviour, model: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": behaviour.text},
                    "logprobs": None,
                    "finish_reason": behaviour.finish_reason or "stop",
                }
            ],
        }
        if behaviour.with_usage:
            usage: dict[str, Any] = {
                "prompt_tokens": behaviour.input_tokens,
                "completion_tokens": behaviour.output_tokens,
                "total_tokens": behaviour.input_tokens + behaviour.output_tokens,
            }
            if self.flavor == "deepseek":
                usage["prompt_tokens_details"] = {"cached_tokens": behaviour.cached_tokens}
                usage["prompt_cache_hit_tokens"] = behaviour.cached_tokens
                usage["prompt_cache_miss_tokens"] = behaviour.input_tokens - behaviour.cached_tokens
                payload["system_fingerprint"] = "fp_fake"
            elif behaviour.cached_tokens:
                usage["prompt_tokens_details"] = {"cached_tokens": behaviour.cached_tokens}
            payload["usage"] = usage
        return {**payload, **behaviour.extra}

    def _error(
        self, status: int, message: str, behaviour: Behaviour | None = None
    ) -> dict[str, Any]:
        kinds = {
            400: "invalid_request_error",
            401: "authentication_error",
            429: "rate_limit_reached",
        }
        return {
            "error": {
                "message": message,
                "type": kinds.get(status, "server_error"),
                "param": None,
                "code": None,
            }
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes its socket mid-answer; that is expected here.
        pass


def _make_handler(fake: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = (
            True  # headers and body go out at once (no 40 ms delayed-ACK stall)
        )

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = RecordedRequest(
                method=method,
                path=split.path,
                query={k: v[-1] for k, v in parse_qs(split.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            fake._record(request)

            route = fake._route(split.path)
            if route is None or method != "POST":
                return self._json(404, fake._error(404, f"No route for {method} {split.path}"))
            refused = fake._refuse(request)
            if refused is not None:
                return self._json(*refused)

            behaviour = fake._next()
            if behaviour.delay_s and fake._stopping.wait(behaviour.delay_s):
                return self._drop()
            if behaviour.drop:
                return self._drop()
            if behaviour.barrier is not None:
                try:
                    behaviour.barrier.wait(behaviour.barrier_wait_s)
                except threading.BrokenBarrierError:
                    message = (
                        f"the other calls did not arrive within {behaviour.barrier_wait_s:g} s"
                    )
                    return self._json(400, fake._error(400, message))
            headers = (
                {} if behaviour.retry_after is None else {"Retry-After": behaviour.retry_after}
            )
            if behaviour.raw_body is not None:
                return self._send(
                    behaviour.status, behaviour.raw_body, {"Content-Type": "text/plain", **headers}
                )
            if behaviour.status != 200:
                message = behaviour.message or f"injected HTTP {behaviour.status}"
                return self._json(
                    behaviour.status, fake._error(behaviour.status, message, behaviour), headers
                )
            model = route if route != "chat" else str((body or {}).get("model", ""))
            return self._json(200, fake._success(behaviour, model), headers, behaviour)

        def _drop(self) -> None:
            self.close_connection = True

        def _json(
            self,
            status: int,
            payload: Any,
            headers: dict[str, str] | None = None,
            behaviour: Behaviour | None = None,
        ) -> None:
            data = json.dumps(payload).encode()
            self._send(
                status,
                data,
                {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
                behaviour,
            )

        def _send(
            self,
            status: int,
            data: bytes,
            headers: dict[str, str],
            behaviour: Behaviour | None = None,
        ) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if behaviour is None or behaviour.trickle_s <= 0 or behaviour.pieces <= 1:
                self.wfile.write(data)
                return
            size = -(-len(data) // behaviour.pieces)
            for start in range(0, len(data), size):
                self.wfile.write(data[start : start + size])
                self.wfile.flush()
                if fake._stopping.wait(behaviour.trickle_s):
                    return

    return Handler


# ---- pytest fixtures -------------------------------------------------------------------


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture
def fake_deepseek() -> Iterator[FakeDeepSeek]:
    with FakeDeepSeek() as server:
        yield server
