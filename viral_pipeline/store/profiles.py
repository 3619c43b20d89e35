"""Profile requests (queued → running → succeeded | failed) and the profiles they write to `creators`.

A profile scrape wins over video-derived rows: it writes `source = 'profile'`, which the
`creator_profiles` refresh never overwrites (store/creators.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.inputs.creators import follower_tier
from viral_pipeline.engine.inputs.handles import handle_key
from viral_pipeline.engine.inputs.profiles import CreatorProfile
from viral_pipeline.store import queues
from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.schema import creators, profile_requests


def create_profile_request(
    engine: sa.Engine, handle: str, payload: dict[str, Any], caller: str | None = None
) -> str:
    """Queue a profile scrape owned by `caller` (the API caller's name)."""
    return queues.queue_request(
        engine, profile_requests, handle=handle, payload=payload, caller=caller
    )


def get_profile_request(
    engine: sa.Engine, request_id: str, caller: str | None = None
) -> dict[str, Any] | None:
    """The request, or None when unknown or (with `caller`) not that caller's."""
    return queues.request_row(engine, profile_requests, request_id, caller)


def mark_profile_running(engine: sa.Engine, request_id: str, dagster_run_id: str) -> bool:
    """queued (or failed, on a run retry) → running. False when it already succeeded."""
    return queues.start(engine, profile_requests, request_id, dagster_run_id, finished_at=None)


def mark_profile_succeeded(engine: sa.Engine, request_id: str) -> bool:
    return queues.succeed(engine, profile_requests, request_id)


def mark_profile_failed(engine: sa.Engine, request_id: str, error: str) -> bool:
    return queues.fail(engine, profile_requests, request_id, error)


def upsert_profile(engine: sa.Engine, profile: CreatorProfile) -> None:
    """Write the profile into `creators` as source 'profile'; an unknown count keeps the known one."""
    tier = follower_tier(profile.followers)
    insert = dialect_insert(engine, creators)
    statement = insert.values(
        author_id=profile.author_id,
        handle=profile.handle,
        followers=profile.followers,
        verified=profile.verified,
        follower_tier=tier,
        source="profile",
        updated_at=datetime.now(UTC),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["author_id"],
        set_={
            "handle": statement.excluded.handle,
            "followers": sa.func.coalesce(statement.excluded.followers, creators.c.followers),
            "verified": sa.func.coalesce(statement.excluded.verified, creators.c.verified),
            "follower_tier": sa.func.coalesce(
                statement.excluded.follower_tier, creators.c.follower_tier
            ),
            "source": statement.excluded.source,
            "updated_at": statement.excluded.updated_at,
        },
    )
    with engine.begin() as connection:
        connection.execute(statement)


def creator_by_handle(engine: sa.Engine, handle: str) -> CreatorProfile | None:
    """The known creator with this handle (any case, '@' or not): a profile row first, then the newest."""
    query = (
        sa.select(creators)
        .where(sa.func.lower(creators.c.handle) == handle_key(handle))
        .order_by(
            sa.case((creators.c.source == "profile", 0), else_=1), creators.c.updated_at.desc()
        )
        .limit(1)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return CreatorProfile(
        author_id=row.author_id,
        handle=row.handle,
        followers=row.followers,
        verified=row.verified,
        source=row.source,
    )
