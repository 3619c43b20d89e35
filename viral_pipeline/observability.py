"""Structured JSON logs (one object per line) and Sentry, shared by every entry point.

structlog renders JSON; the standard library's loggers (dagster, httpx, alembic, uvicorn)
go through the same formatter, so a run's output and the API's output read alike.
Context such as `run_id` or `request_id` is bound with `bind_context` (contextvars).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
]

_configured_level: str | None = None


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """A logging.Formatter that renders any stdlib record as one JSON line.

    Usable from dictConfig (`()`: viral_pipeline.observability.JsonFormatter), which is how
    dagster.yaml and uvicorn's log config point at it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=[*_SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
        )

    def format(self, record: logging.LogRecord) -> str:
        # A handler earlier in the chain may have replaced a structlog event dict by text
        # (Dagster's log capture does): render such a record as a plain stdlib one.
        if getattr(record, "_from_structlog", False) and not isinstance(record.msg, dict):
            record = logging.makeLogRecord({**record.__dict__, "_from_structlog": False})
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time (test captures and daemons swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str = "INFO", *, force: bool = False) -> None:
    """Route structlog and the standard library through one JSON formatter on stderr."""
    global _configured_level
    if _configured_level == level and not force:
        return
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler.set_name("viral_pipeline_json")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "viral_pipeline_json"]
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings (a library's deprecation, Celery's "running as root") become log records
    # under `py.warnings`, rendered like every other line instead of as free text on stderr.
    logging.captureWarnings(True)
    # httpx logs every request URL at INFO; URLs can carry tokens, so keep it at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Alembic narrates every plugin it loads at INFO, on every process start.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _configured_level = level


def elapsed_ms(started: float) -> float:
    """Milliseconds since a time.perf_counter() reading, rounded for metadata and logs."""
    import time

    return round((time.perf_counter() - started) * 1000, 1)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


@contextmanager
def bound_context(**values: Any) -> Iterator[None]:
    """Bind values (run_id, request_id, ...) to every log line inside the block."""
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def init_sentry(dsn: str | None, environment: str = "local", transport: Any = None) -> bool:
    """Initialise sentry-sdk when a DSN is configured; tests pass a custom transport."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        transport=transport,
        traces_sample_rate=0.0,
        # Log lines become breadcrumbs; events come only from report_exception, once per error
        # (otherwise its own error line, and Dagster's, would each be a second event).
        integrations=[LoggingIntegration(level=logging.INFO, event_level=None)],
    )
    return True


def report_exception(error: BaseException, **context: Any) -> None:
    """Log a caught exception as JSON and send it to Sentry (a no-op when Sentry is not set up)."""
    import sentry_sdk

    for key, value in context.items():
        sentry_sdk.add_breadcrumb(category="context", message=f"{key}={value}", level="info")
    with sentry_sdk.new_scope() as scope:
        for key, value in context.items():
            scope.set_tag(key, str(value))
        sentry_sdk.capture_exception(error)
    get_logger("viral_pipeline").error(
        "caught exception", error=str(error), error_type=type(error).__name__, **context
    )
