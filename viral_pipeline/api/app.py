"""FastAPI application: health, predictions, profiles, admin costs, webhooks; one JSON log line per
HTTP request, with its `http_request_id` (the prediction or profile id is logged as `request_id`);
the body cap and strict JSON in front of every handler (api/guards.py)."""

from __future__ import annotations

import logging
from typing import Literal

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from viral_pipeline.api.admin import router as admin_router
from viral_pipeline.api.deps import app_engine
from viral_pipeline.api.guards import BodyGuard, RequestLog, validation_error
from viral_pipeline.api.outcomes import router as outcomes_router
from viral_pipeline.api.predictions import router as predictions_router
from viral_pipeline.api.profile import router as profile_router
from viral_pipeline.api.webhooks import router as webhooks_router
from viral_pipeline.observability import configure_logging, init_sentry, report_exception
from viral_pipeline.settings import get_settings


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "unreachable"]


def quiet_uvicorn_access_log() -> None:
    """Uvicorn's access line is plain text with the full query string, where the webhook's
    `token` may be; the app writes its own JSON line per request (RequestLog: the path only).
    Done when the app is built, so it holds however the server is started (`python -m
    viral_pipeline.api`, plain `uvicorn viral_pipeline.api:app`, with or without `--workers`):
    uvicorn configures its loggers before it imports the app. Its other lines join the app's
    JSON handler."""
    access = logging.getLogger("uvicorn.access")
    access.handlers, access.propagate, access.disabled = [], False, True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)
    quiet_uvicorn_access_log()
    init_sentry(
        settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None,
        settings.sentry_environment,
    )
    app = FastAPI(
        title="viral_pipeline",
        version="0.1.0",
        description="Predicts which short videos will go viral; ingests Apify run notifications.",
    )

    # Added innermost first: RequestLog wraps BodyGuard, so a refused body gets its log line too.
    app.add_middleware(BodyGuard)
    app.add_middleware(RequestLog)
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.get(
        "/healthz",
        tags=["ops"],
        summary="Liveness and database reachability",
        response_model=Health,
        responses={503: {"model": Health, "description": "the database is unreachable"}},
    )
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
