"""JSON log lines from structlog and the standard library; Sentry through a custom transport."""

import json
import logging

import structlog

from viral_pipeline.observability import (
    JsonFormatter,
    bound_context,
    configure_logging,
    get_logger,
    init_sentry,
    report_exception,
)


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_structlog_and_stdlib_lines_are_json_with_bound_context(capsys):
    configure_logging("INFO", force=True)
    with bound_context(run_id="run-123", request_id="req-9"):
        get_logger("viral_pipeline.test").info("stage complete", stage="rules", cost_cents=0.25)
        logging.getLogger("dagster.some.library").warning("library says %s", "hi")
    get_logger("viral_pipeline.test").info("after the block")
    lines = _json_lines(capsys.readouterr().err)
    ours, library, after = lines[-3:]
    assert ours["event"] == "stage complete" and ours["cost_cents"] == 0.25
    assert ours["run_id"] == "run-123" and ours["request_id"] == "req-9" and ours["level"] == "info"
    assert library["event"] == "library says hi" and library["run_id"] == "run-123"
    assert library["logger"] == "dagster.some.library" and library["level"] == "warning"
    assert "run_id" not in after and "timestamp" in after


def test_configure_is_idempotent_and_keeps_one_handler():
    configure_logging("INFO", force=True)
    configure_logging("INFO")
    configure_logging("DEBUG")
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == "viral_pipeline_json"]
    assert len(handlers) == 1 and logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("httpx").level == logging.WARNING  # URLs may carry tokens


def test_formatter_renders_exceptions_inside_the_json_object():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("bad value")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    rendered = json.loads(JsonFormatter().format(record))
    assert rendered["event"] == "failed" and "ValueError: bad value" in rendered["exception"]


def test_no_dsn_means_no_sentry():
    assert init_sentry(None) is False
    assert init_sentry("") is False


def test_caught_exceptions_reach_sentry_with_breadcrumbs_and_a_json_line(sentry_events):
    configure_logging("INFO", force=True)
    with structlog.testing.capture_logs() as logs:
        report_exception(RuntimeError("scrape failed"), apify_run_id="run-7", where="test")
    (event,) = sentry_events.events()
    assert event["exception"]["values"][0]["value"] == "scrape failed"
    assert event["tags"]["apify_run_id"] == "run-7"
    crumbs = [c.get("message") for c in event["breadcrumbs"]["values"]]
    assert "apify_run_id=run-7" in crumbs
    assert logs[-1]["event"] == "caught exception" and logs[-1]["error_type"] == "RuntimeError"
