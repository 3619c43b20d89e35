"""What every HTTP request passes before a handler sees it, and the one log line it leaves.

- `RequestLog` (outermost): the `http_request_id` bound to every log line of the request, echoed
  as `x-request-id`, and one `http request` line per request, whatever the answer (a 500 too).
- `BodyGuard`: a body larger than `MAX_BODY_BYTES` is refused with 413, from `Content-Length`
  when the caller sends one, else as soon as the bytes received pass the cap (a chunked upload is
  never read in full). A JSON body must be strict JSON: `NaN`, `Infinity`, numbers beyond a
  double, a lone surrogate or a NUL in a string answer 422 naming the JSON path, so a handler,
  the database and the error answers only ever see values they can store and serialise.
- `validation_error`: the 422 for a body that fails its model, without echoing what the caller
  sent beyond a short scalar (a large or unserialisable input never comes back).
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from viral_pipeline.observability import bound_context, get_logger

log = get_logger("viral_pipeline.api")

# Bodies larger than this are refused (413) before they are read in full.
MAX_BODY_BYTES = 256 * 1024

# A caller's x-request-id is kept only in this shape; anything else is replaced, never echoed or logged.
_CALLER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# No endpoint takes documents deeper than this; deeper ones are refused before they are walked.
MAX_JSON_DEPTH = 32

# Characters no stored text may hold: a lone surrogate is not Unicode (it cannot be encoded as
# UTF-8, so neither stored nor answered), and PostgreSQL refuses NUL in text and JSON columns.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# How much of a caller's value a 422 may quote back.
MAX_ECHO_CHARS = 64


def http_request_id(supplied: str | None) -> str:
    """The caller's x-request-id when it is a short plain token, else a fresh uuid."""
    if supplied is not None and _CALLER_ID.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex


class RequestLog:
    """Binds `http_request_id`, sets the `x-request-id` header and writes the request's log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        http_id = http_request_id(Headers(scope=scope).get("x-request-id"))
        started = time.perf_counter()
        # An exception before the answer starts becomes Starlette's 500, outside this middleware.
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])  # optional in ASGI
                MutableHeaders(scope=message)["x-request-id"] = http_id
            await send(message)

        with bound_context(http_request_id=http_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                # The path only, never the query string: webhook URLs may carry a token.
                log.info(
                    "http request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )


class BodyGuard:
    """Reads the body, counting bytes, up to `MAX_BODY_BYTES` (413 beyond), checks that a JSON body
    is strict JSON (422 otherwise), then hands the body to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the caller left: nobody to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > MAX_BODY_BYTES:
                await _too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type")):
            problem = strict_json_problem(body)
            if problem is not None:
                log.warning("request body refused", reason=problem["msg"], loc=problem["loc"])
                await JSONResponse({"detail": [problem]}, status_code=422)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    # Connection: close, so the server stops reading the rest of the body instead of draining it
    # to keep the connection alive.
    response = JSONResponse(
        {"detail": f"request body larger than {MAX_BODY_BYTES} bytes"},
        status_code=413,
        headers={"connection": "close"},
    )
    log.warning("request body refused", reason="too large", limit_bytes=MAX_BODY_BYTES)
    await response(scope, receive, send)


def _is_json(content_type: str | None) -> bool:
    # The bodies FastAPI parses as JSON: no content type, application/json or application/*+json.
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class _Refused:
    """Stands where the parser met a number JSON does not allow, with the reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float | _Refused:
    value = float(text)
    if not math.isfinite(value):
        return _Refused("number out of range (beyond a double)")
    return value


def _int(text: str) -> int | _Refused:
    try:
        return int(text)
    except ValueError:  # beyond Python's digit limit for int()
        return _Refused("integer has too many digits")


def _invalid(loc: list[str | int], message: str) -> dict[str, Any]:
    # The shape of FastAPI's own validation errors, so clients parse one format.
    # Keys are the caller's text: cut and escaped like any value quoted back.
    safe_loc = [part if isinstance(part, int) else _safe_text(part) for part in loc]
    return {"type": "json_invalid", "loc": ["body", *safe_loc], "msg": message}


def strict_json_problem(body: bytes) -> dict[str, Any] | None:
    """None when `body` is strict JSON holding only storable text, else the first problem as a
    validation error (its `loc` is the JSON path of the offending value or key)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return _invalid([], f"the body is not UTF-8 text (invalid byte at offset {error.start})")
    try:
        document = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as error:
        return _invalid([error.pos], f"JSON decode error: {error.msg}")
    except RecursionError:
        return _invalid([], f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    # Iterative, in document order: the path of the first value or key that cannot be kept.
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            return _invalid(
                path[:MAX_JSON_DEPTH], f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            )
        if isinstance(value, _Refused):
            return _invalid(path, value.reason)
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return _invalid(path, _unstorable_reason(value))
        elif isinstance(value, dict):
            for key in value:
                if _UNSTORABLE.search(key):
                    return _invalid([*path, key], "key: " + _unstorable_reason(key))
            stack.extend((item, [*path, key]) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((item, [*path, index]) for index, item in reversed(list(enumerate(value))))
    return None


def _unstorable_reason(text: str) -> str:
    if "\x00" in text:
        return "a string cannot hold a NUL character (\\u0000)"
    return "a string cannot hold a lone surrogate (\\ud800-\\udfff): not valid Unicode"


def _safe_text(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`text` cut to `limit` characters, with NUL and lone surrogates escaped: safe to answer."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", cut)


def _safe_scalar(value: Any) -> tuple[bool, Any]:
    """(True, value) for a value a 422 may quote: None, a bool, a short number or string."""
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, int):
        return (True, value) if abs(value) < 10**18 else (False, None)
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, None)
    if isinstance(value, str):
        return True, _safe_text(value)
    return False, None


def _safe_error(error: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [p if isinstance(p, int) else _safe_text(str(p)) for p in error.get("loc", ())],
        "msg": _safe_text(str(error.get("msg", "")), limit=500),
    }
    quotable, value = _safe_scalar(error.get("input"))
    if quotable:
        safe["input"] = value
    context = error.get("ctx")
    if isinstance(context, dict):
        safe["ctx"] = {
            str(key): item if _safe_scalar(item) == (True, item) else _safe_text(str(item))
            for key, item in context.items()
        }
    return safe


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each field and its reason; what the caller sent is quoted only when short."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": [_safe_error(error) for error in errors]}, status_code=422)
