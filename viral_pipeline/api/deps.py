"""Dependencies the API handlers share: the application database, migrated, from the current
settings; and the admin bearer token that guards the admin endpoints."""

from __future__ import annotations

import hmac
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
