"""FastAPI application: health, predictions, profiles, admin costs, webhooks; one JSON log line per
HTTP request, with its `http_request_id` (the prediction or profile id is logged as `request_id`)."""

from __future__ import annotations

import re
import time
import uuid

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from viral_pipeline.api.admin import router as admin_router
from viral_pipeline.api.deps import app_engine
from viral_pipeline.api.outcomes import router as outcomes_router
from viral_pipeline.api.predictions import router as predictions_router
from viral_pipeline.api.profile import router as profile_router
from viral_pipeline.api.webhooks import router as webhooks_router
from viral_pipeline.observability import (
    bound_context,
    configure_logging,
    get_logger,
    init_sentry,
    report_exception,
)
from viral_pipeline.settings import get_settings

log = get_logger("viral_pipeline.api")

# Bodies this size or larger are refused before they are read in full.
MAX_BODY_BYTES = 256 * 1024

# A caller's x-request-id is kept only in this shape; anything else is replaced, never echoed or logged.
_CALLER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def http_request_id(supplied: str | None) -> str:
    """The caller's x-request-id when it is a short plain token, else a fresh uuid."""
    if supplied is not None and _CALLER_ID.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)
    init_sentry(
        settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None,
        settings.sentry_environment,
    )
    app = FastAPI(
        title="viral_pipeline",
        version="0.1.0",
        description="Predicts which short videos will go viral; ingests Apify run notifications.",
    )

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        http_id = http_request_id(request.headers.get("x-request-id"))
        started = time.perf_counter()
        length = request.headers.get("content-length")
        with bound_context(http_request_id=http_id):
            if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
                response = JSONResponse(
                    {"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}, status_code=413
                )
            else:
                response = await call_next(request)
            response.headers["x-request-id"] = http_id
            # The path only, never the query string: webhook URLs may carry a token.
            log.info(
                "http request",
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        return response

    @app.get("/healthz", tags=["ops"], summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        # Not the DbEngine dependency: an unreachable database is this endpoint's answer (503), not an error.
        try:
            with app_engine(settings).connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as error:
            report_exception(error, where="healthz")
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    app.include_router(predictions_router)
    app.include_router(webhooks_router)
    app.include_router(outcomes_router)
    app.include_router(profile_router)
    app.include_router(admin_router)
    return app
