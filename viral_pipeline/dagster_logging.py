"""Dagster's own run log (step started, materialized, ...) as JSON lines, like ours.

Registered as the `console` logger of every job, it replaces Dagster's coloured text output.
Each line carries the run id, job, step and Dagster event type next to the message.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import dagster as dg

from viral_pipeline.observability import JsonFormatter


class DagsterRecordFormatter(JsonFormatter):
    """Lifts the useful part of Dagster's `dagster_meta` into plain JSON fields."""

    def format(self, record: logging.LogRecord) -> str:
        meta: dict[str, Any] = getattr(record, "dagster_meta", None) or {}
        flat = logging.makeLogRecord(
            {k: v for k, v in record.__dict__.items() if k != "dagster_meta"}
        )
        flat.msg = meta.get("orig_message") or record.getMessage()
        flat.args = ()
        for key in ("run_id", "job_name", "step_key"):
            if meta.get(key):
                setattr(flat, key, meta[key])
        event = meta.get("dagster_event")
        if event is not None:
            flat.dagster_event = getattr(event, "event_type_value", str(event))
        return super().format(flat)


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="Dagster's run log as JSON lines on stderr.",
)
def json_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("dagster.run", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DagsterRecordFormatter())
    logger.addHandler(handler)
    return logger


# Custom loggers apply only when a run's config names them: every job carries this default
# (a sensor's or schedule's run_config is merged with it, so the JSON logger stays on).
JSON_RUN_LOGS: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
