"""Load parsed items: upsert `scraped_videos`, quarantine rejects in `ingest_rejects`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from viral_pipeline.engine.items import Rejection, VideoRecord, parse_item
from viral_pipeline.store.schema import ingest_rejects, scraped_videos

CHUNK_SIZE = 5_000
# On a repeat sighting, these take the newer value; first_seen_at keeps the first.
_UPDATED_ON_CONFLICT = [
    c.name for c in scraped_videos.columns if c.name not in ("video_id", "first_seen_at")
]
_RECORD_FIELDS = tuple(f.name for f in fields(VideoRecord))


@dataclass
class IngestResult:
    stored: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add_rejection(self, reason: str) -> None:
        self.rejected += 1
        # Group reasons by their stable prefix so the count table stays short.
        key = reason.split(":")[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1


def _dialect_insert(engine: sa.Engine, table: sa.Table):  # type: ignore[no-untyped-def]
    return (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert_videos(connection: sa.Connection, records: list[VideoRecord], seen_at: datetime) -> int:
    """Insert or update one chunk of records. Returns the number of distinct videos written."""
    if not records:
        return 0
    # One statement may touch a row only once (PostgreSQL enforces it): keep the last sighting.
    latest = {r.video_id: r for r in records}
    # A shallow dict per row: dataclasses.asdict deep-copies every field and cost more than
    # parsing. The records are frozen and nothing here mutates their values.
    stamps = {"first_seen_at": seen_at, "last_seen_at": seen_at}
    rows = [{**{name: getattr(r, name) for name in _RECORD_FIELDS}, **stamps} for r in latest.values()]
    statement = _dialect_insert(connection.engine, scraped_videos)
    statement = statement.on_conflict_do_update(
        index_elements=["video_id"],
        set_={name: statement.excluded[name] for name in _UPDATED_ON_CONFLICT},
    )
    connection.execute(statement, rows)
    return len(rows)


def _reject_row(rejection: Rejection, source: str, batch: str, now: datetime) -> dict[str, Any]:
    raw = json.dumps(rejection.raw, sort_keys=True, ensure_ascii=False, default=str)
    return {
        "source": source,
        "batch": batch,
        "reason": rejection.reason[:2000],
        "raw": raw,
        "raw_sha256": hashlib.sha256(raw.encode()).hexdigest(),
        "rejected_at": now,
    }


def record_rejects(connection: sa.Connection, rejections: list[Rejection], source: str, batch: str, now: datetime) -> None:
    if not rejections:
        return
    statement = _dialect_insert(connection.engine, ingest_rejects).on_conflict_do_nothing(
        index_elements=["raw_sha256"]
    )
    connection.execute(statement, [_reject_row(r, source, batch, now) for r in rejections])


def ingest_items(
    engine: sa.Engine,
    items: Iterable[Any],
    *,
    source: str,
    batch: str,
    now: datetime | None = None,
) -> IngestResult:
    """Parse and load items in chunks; each chunk commits on its own, so a crash loses at most one."""
    now = now or datetime.now(UTC)
    result = IngestResult()
    good: list[VideoRecord] = []
    bad: list[Rejection] = []

    def flush() -> None:
        with engine.begin() as connection:
            result.stored += upsert_videos(connection, good, now)
            record_rejects(connection, bad, source, batch, now)
        good.clear()
        bad.clear()

    for item in items:
        parsed = parse_item(item, now=now)
        if isinstance(parsed, Rejection):
            bad.append(parsed)
            result.add_rejection(parsed.reason)
        else:
            good.append(parsed)
        if len(good) + len(bad) >= CHUNK_SIZE:
            flush()
    flush()
    return result
