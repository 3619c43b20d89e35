"""Profile requests (queued → running → succeeded | failed) and the profiles they write to `creators`.

A profile scrape wins over video-derived rows: it writes `source = 'profile'`, which the
`creator_profiles` refresh never overwrites (store/creators.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from viral_pipeline.engine.inputs.creators import follower_tier
from viral_pipeline.engine.inputs.handles import handle_key
from viral_pipeline.engine.inputs.profiles import CreatorProfile
from viral_pipeline.store import queues
from viral_pipeline.store.db import dialect_insert
from viral_pipeline.store.queues import QUEUED, RequestStatus
from viral_pipeline.store.schema import PROFILE_UNFINISHED, creators, profile_requests


@dataclass(frozen=True, slots=True)
class QueuedProfileRequest:
    """The request a PATCH /api/profile stands for: a new one, or (`duplicate`) the caller's
    unfinished request for the same handle."""

    request_id: str
    handle: str
    status: RequestStatus
    duplicate: bool


# A bounded loop: the unfinished request a new one collided with can finish before it is read
# back, and then a new request may be queued after all.
_QUEUE_ATTEMPTS = 5


def create_profile_request(
    engine: sa.Engine, handle: str, payload: dict[str, Any], caller: str | None = None
) -> QueuedProfileRequest:
    """Queue a profile scrape owned by `caller` (the API caller's name), unless that caller
    already has one queued or running for the same handle (compared by `handle_key`): then that
    one is returned, marked `duplicate`, and nothing is stored. The partial unique index on
    (caller, handle_key) of unfinished rows decides between simultaneous calls, so however many
    arrive at once, one paid scrape is queued. Requests without a caller are never merged."""
    key = handle_key(handle)
    for _ in range(_QUEUE_ATTEMPTS):
        request_id, insert = queues.queued_insert(
            engine, profile_requests, handle=handle, handle_key=key, payload=payload, caller=caller
        )
        statement = insert.on_conflict_do_nothing(
            index_elements=["caller", "handle_key"], index_where=sa.text(PROFILE_UNFINISHED)
        ).returning(profile_requests.c.request_id)
        with engine.begin() as connection:
            if connection.execute(statement).scalar() is not None:
                return QueuedProfileRequest(request_id, handle, QUEUED, duplicate=False)
            existing = connection.execute(
                sa.select(
                    profile_requests.c.request_id,
                    profile_requests.c.handle,
                    profile_requests.c.status,
                ).where(
                    profile_requests.c.caller == caller,
                    profile_requests.c.handle_key == key,
                    sa.text(PROFILE_UNFINISHED),
                )
            ).first()
        if existing is not None:
            return QueuedProfileRequest(
                existing.request_id,
                existing.handle,
                RequestStatus(existing.status),
                duplicate=True,
            )
    raise RuntimeError(f"could not queue a profile request for {handle} in {_QUEUE_ATTEMPTS} tries")


def get_profile_request(
    engine: sa.Engine, request_id: str, caller: str | None = None
) -> dict[str, Any] | None:
    """The request, or None when unknown or (with `caller`) not that caller's."""
    return queues.request_row(engine, profile_requests, request_id, caller)


def mark_profile_running(engine: sa.Engine, request_id: str, dagster_run_id: str) -> bool:
    """queued (or failed, on a run retry) → running. False when it already succeeded, or when a
    run retry finds that its caller queued a newer request for the handle after this one failed:
    that one scrapes the handle, and this one stays failed."""
    try:
        return queues.start(engine, profile_requests, request_id, dagster_run_id, finished_at=None)
    except sa.exc.IntegrityError:
        return False


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
