"""UTC times, one way everywhere. SQLite hands stored times back without their zone, requests may
carry naive or ISO-8601 times: every time the project stores or compares is UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_utc(value: str | datetime) -> datetime:
    """An ISO-8601 text (a trailing Z allowed) or a datetime, in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or ISO-8601 text, not {type(value).__name__}")
    return as_utc(value)
