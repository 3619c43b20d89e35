"""Dependencies the API handlers share: the application database, migrated, from the current
settings; the caller's bearer token (API_TOKENS) that every product endpoint requires; and the
admin bearer token that guards the admin endpoints."""

from __future__ import annotations

import hmac
from typing import Annotated

import sqlalchemy as sa
import structlog
from fastapi import Depends, HTTPException, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from viral_pipeline.engine.inputs.text import LINE_TEXT_PATTERN
from viral_pipeline.observability import get_logger
from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.store.db import ready_engine

log = get_logger("viral_pipeline.api.deps")


def app_engine(settings: Annotated[Settings, Depends(get_settings)]) -> sa.Engine:
    """The engine of DATABASE_URL, migrated to head on the first request of the process."""
    return ready_engine(settings.database_url)


# A handler parameter `engine: DbEngine` receives the engine above.
DbEngine = Annotated[sa.Engine, Depends(app_engine)]

# The OpenAPI document lists this scheme on every admin operation. It does not answer for itself
# (auto_error=False): a missing token gets the same 401 as a wrong one, and with no ADMIN_TOKEN
# configured the answer is 503 whatever was offered.
admin_bearer = HTTPBearer(
    scheme_name="AdminToken",
    description="`Authorization: Bearer <ADMIN_TOKEN>`. With ADMIN_TOKEN unset the admin "
    "endpoints are disabled (503).",
    auto_error=False,
)


def require_admin_token(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> None:
    """503 when no ADMIN_TOKEN is configured (the admin endpoints are off rather than open); 401
    unless the request carries it as a bearer token."""
    if settings.admin_token is None:
        raise HTTPException(503, "admin endpoints disabled: ADMIN_TOKEN is not configured")
    offered = credentials.credentials if credentials is not None else ""
    expected = settings.admin_token.get_secret_value()
    # Compared in constant time, and compared even when no bearer token came, so the answer time
    # says nothing about the token.
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        log.warning("admin request rejected", reason="missing or wrong bearer token")
        raise HTTPException(
            401,
            "missing or wrong admin token (Authorization: Bearer <ADMIN_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


# The OpenAPI document lists this scheme on every operation that needs a caller: all but
# /healthz, the docs, the Apify webhook (its own secret) and the admin endpoints (ADMIN_TOKEN).
caller_bearer = HTTPBearer(
    scheme_name="CallerToken",
    description="`Authorization: Bearer <token>`, a caller's token from API_TOKENS "
    "(`name=token,...`). With API_TOKENS unset these endpoints are disabled (503).",
    auto_error=False,
)


async def require_caller(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(caller_bearer)],
) -> str:
    """The calling product's name (from API_TOKENS). 503 when no caller is configured: the
    endpoints that spend money or write labels are off rather than open. 401 without a known
    token. Async, so the name it binds reaches every log line of the request, the `http request`
    line included (a sync dependency would bind it in a worker thread's copy of the context)."""
    if settings.api_tokens is None:
        raise HTTPException(503, "caller endpoints disabled: API_TOKENS is not configured")
    offered = credentials.credentials if credentials is not None else ""
    caller = settings.api_tokens.caller_for(offered)
    if caller is None:
        log.warning("caller rejected", reason="missing or wrong bearer token")
        raise HTTPException(
            401,
            "missing or wrong caller token (Authorization: Bearer <token from API_TOKENS>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    structlog.contextvars.bind_contextvars(caller=caller)
    return caller


# A handler parameter `caller: Caller` receives the caller's name; a router declaring
# `dependencies=[Depends(require_caller)]` guards all its routes (FastAPI runs it once a request).
Caller = Annotated[str, Depends(require_caller)]


# A request id in a URL path: it reaches the database and the 404's text, so printable only.
RequestId = Annotated[
    str,
    Path(
        max_length=64,
        pattern=LINE_TEXT_PATTERN,
        description="the request_id the queueing answer gave",
    ),
]
