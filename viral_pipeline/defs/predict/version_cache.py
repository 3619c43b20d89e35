"""Parameters fitted on outcomes, as each `predict` run reads the serving version.

Every run asks the database for the newest version (one indexed query), so a new version serves
from the next prediction on, with no restart. Parsed parameters are kept per version for the
life of the process, so a known version is not validated again; a new version name misses the
cache by construction. Unusable parameters (malformed, out of range) count as none: a warning
line and a Sentry event, never a failed prediction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from viral_pipeline.observability import get_logger
from viral_pipeline.store.versioned_params import latest_version

log = get_logger(__name__)

Params = TypeVar("Params")


class VersionCache(Generic[Params]):
    """The serving version of one kind of parameters, parsed once per version."""

    def __init__(
        self,
        *,
        table: sa.Table,
        parse: Callable[[Any], Params | Exception],
        stage: str,
        version_tag: str,
        unusable_message: str,
    ) -> None:
        self._table, self._parse = table, parse
        self._stage, self._tag, self._message = stage, version_tag, unusable_message
        self._parsed: dict[str, Params | Exception] = {}
        self._lock = threading.Lock()

    def current(self, engine: sa.Engine, request_id: str | None = None) -> Params | None:
        stored = latest_version(engine, self._table)
        if stored is None:
            return None  # nothing fitted yet: not an anomaly, nothing to report
        with self._lock:
            parsed = self._parsed.get(stored.version)
            if parsed is None:
                parsed = self._parsed[stored.version] = self._parse(stored.params)
        if isinstance(parsed, Exception):
            self._report_unusable(parsed, stored.version, request_id)
            return None
        return parsed

    def versions(self) -> list[str]:
        return list(self._parsed)

    def _report_unusable(self, error: Exception, version: str, request_id: str | None) -> None:
        import sentry_sdk

        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.warning(
            self._message,
            request_id=request_id,
            stage=self._stage,
            reason=reason[:300],
            **{self._tag: version},
        )
        with sentry_sdk.new_scope() as scope:
            scope.set_level("warning")
            scope.set_tag("stage", self._stage)
            scope.set_tag(self._tag, version)
            if request_id:
                scope.set_tag("request_id", request_id)
            sentry_sdk.capture_exception(error)
