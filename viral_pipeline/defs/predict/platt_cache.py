"""The serving Platt parameters, as each `predict` run reads them.

Every run asks the database for the newest version (one indexed query), so a new version serves
from the next prediction on, with no restart. Parsed parameters are kept per version for the
life of the process, so a known version is not validated again; a new version name misses the
cache by construction. Unusable parameters (malformed, out of range, a non-negative slope) fall
back to uncalibrated: a warning line and a Sentry event, never a failed prediction.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from viral_pipeline.engine.calibration.platt import PlattParams, platt_params_or_error
from viral_pipeline.observability import get_logger

log = get_logger(__name__)

_parsed: dict[str, PlattParams | Exception] = {}
_lock = threading.Lock()


def current_platt_params(engine: sa.Engine, request_id: str | None = None) -> PlattParams | None:
    from viral_pipeline.store.calibration import latest_platt

    stored = latest_platt(engine)
    if stored is None:
        return None  # no calibration yet: not an anomaly, nothing to report
    with _lock:
        parsed = _parsed.get(stored.version)
        if parsed is None:
            parsed = _parsed[stored.version] = platt_params_or_error(stored.params)
    if isinstance(parsed, Exception):
        _report_unusable(parsed, stored.version, request_id)
        return None
    return parsed


def cached_versions() -> list[str]:
    return list(_parsed)


def _report_unusable(error: Exception, version: str, request_id: str | None) -> None:
    import sentry_sdk

    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    log.warning(
        "platt parameters unusable, prediction stays uncalibrated",
        platt_version=version,
        request_id=request_id,
        stage="calibrate",
        reason=reason[:300],
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_level("warning")
        scope.set_tag("stage", "calibrate")
        scope.set_tag("platt_version", version)
        if request_id:
            scope.set_tag("request_id", request_id)
        sentry_sdk.capture_exception(error)
