"""Rate limits per API caller and limit group: every caller endpoint admits at most
RATE_LIMIT_<GROUP>_PER_MINUTE requests of one caller in each fixed minute, and answers 429 with
`Retry-After` beyond that, before its handler runs (so nothing is stored for a refused request).

The count lives in the app database (store/rate_limits.py), not in the process: the API runs as
several uvicorn workers on several machines, and a count per process would multiply the limit
by their number. The limit runs after `require_caller`, so an anonymous request is a 401 and
counts for nobody.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated

from fastapi import Depends, HTTPException

from viral_pipeline.api.deps import Caller, DbEngine
from viral_pipeline.observability import get_logger
from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.store.rate_limits import admit

log = get_logger("viral_pipeline.api.limits")

# Fixed windows: a caller may spend a limit at the end of one minute and again at the start of
# the next, so a burst can reach twice the limit; every minute-long span past that holds it.
WINDOW = timedelta(minutes=1)


class LimitGroup(StrEnum):
    """The endpoints that share one count per caller; each has its RATE_LIMIT_<GROUP>_PER_MINUTE."""

    ANALYZE = "analyze"  # POST /api/analyze: a predict run with paid LLM judge calls
    PROFILE = "profile"  # PATCH /api/profile: a paid Apify actor run
    WRITES = "writes"  # POST /api/outcomes, PATCH /api/predictions/{id}/video: labels
    READS = "reads"  # the GETs of a prediction, its outcomes and a profile request

    @property
    def setting(self) -> str:
        return f"RATE_LIMIT_{self.name}_PER_MINUTE"

    def per_minute(self, settings: Settings) -> int:
        return int(getattr(settings, self.setting.lower()))


def request_time() -> datetime:
    """Now, in UTC: the clock the windows follow (a dependency, so tests can set the time)."""
    return datetime.now(UTC)


def window_of(now: datetime) -> datetime:
    """The start of the fixed window that holds `now`."""
    seconds = WINDOW.total_seconds()
    return datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, UTC)


@cache
def rate_limit(group: LimitGroup) -> Callable[..., None]:
    """The dependency that counts a request of `group` for its caller, or refuses it with 429."""

    def limit(
        caller: Caller,
        engine: DbEngine,
        settings: Annotated[Settings, Depends(get_settings)],
        now: Annotated[datetime, Depends(request_time)],
    ) -> None:
        per_minute = group.per_minute(settings)
        start = window_of(now)
        if admit(engine, caller, group, start, per_minute) is not None:
            return
        retry_after = max(1, math.ceil((start + WINDOW - now).total_seconds()))
        log.warning(
            "rate limited",
            limit_group=str(group),
            limit_per_minute=per_minute,
            retry_after_s=retry_after,
            setting=group.setting,
        )
        raise HTTPException(
            429,
            f"rate limit {group}: at most {per_minute} requests a minute per caller "
            f"({group.setting}); retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    limit.__name__ = f"rate_limit_{group}"
    return limit
