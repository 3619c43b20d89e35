"""The HTTP Retry-After header, read one way for every client that honours it (Apify, the LLM judges).

RFC 9110 allows two forms: a number of seconds ("120") or an HTTP date
("Wed, 21 Oct 2015 07:28:00 GMT"). Both give a wait in seconds, never negative: a date in the
past means "now". A decimal ("0.2") and a negative number (read as 0) are accepted because some
servers send them; anything else ("soon", "inf", "nan", "1e3", a malformed date) is unreadable and
gives None, so the caller falls back to its own backoff. The wait is capped at `cap_s`, so a huge
number or a date far ahead never reaches a sleep as infinity.
"""

from __future__ import annotations

import email.utils
import re
import time
from datetime import UTC

MAX_RETRY_AFTER_S = 86_400.0  # a day: the default cap, far beyond any client's own limit
_SECONDS = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")


def parse_retry_after(
    value: str | None, now: float | None = None, cap_s: float = MAX_RETRY_AFTER_S
) -> float | None:
    """The wait a Retry-After value asks for, in seconds within [0, cap_s]; None when absent or unreadable.

    `now` (epoch seconds, default the clock) is what an HTTP date is measured from.
    """
    text = (value or "").strip()
    if not text:
        return None
    if _SECONDS.fullmatch(text):
        wait_s: float | None = float(text)  # inf for hundreds of digits: the cap makes it finite
    else:
        wait_s = _seconds_until(text, time.time() if now is None else now)
    if wait_s is None:
        return None
    return min(max(0.0, wait_s), cap_s)


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no zone named
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now
