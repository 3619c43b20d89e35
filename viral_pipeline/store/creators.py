"""`creators`: one row per author, derived from scraped author data; profile scrapes win."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from viral_pipeline.engine.inputs.creators import follower_tier_sql

# The latest sighting gives handle and verified; the latest sighting that carried a follower
# count gives followers (the older scraper format has none, and must not erase a known count).
_SQL = """
INSERT INTO creators (author_id, handle, followers, verified, follower_tier, source, updated_at)
WITH ranked AS (
    SELECT author_id, author_handle, author_verified,
           ROW_NUMBER() OVER (PARTITION BY author_id ORDER BY last_seen_at DESC, posted_at DESC) AS rn
    FROM scraped_videos
),
counted AS (
    SELECT author_id, author_followers,
           ROW_NUMBER() OVER (PARTITION BY author_id ORDER BY last_seen_at DESC, posted_at DESC) AS rn
    FROM scraped_videos
    WHERE author_followers IS NOT NULL
)
SELECT ranked.author_id, ranked.author_handle, counted.author_followers, ranked.author_verified,
       {tier}, 'scrape', :now
FROM ranked LEFT JOIN counted ON counted.author_id = ranked.author_id AND counted.rn = 1
WHERE ranked.rn = 1
ON CONFLICT (author_id) DO UPDATE SET
    handle = excluded.handle,
    followers = COALESCE(excluded.followers, creators.followers),
    verified = COALESCE(excluded.verified, creators.verified),
    follower_tier = COALESCE(excluded.follower_tier, creators.follower_tier),
    updated_at = excluded.updated_at
WHERE creators.source <> 'profile'
"""


def refresh_creator_profiles(engine: sa.Engine) -> int:
    """Upsert every author seen in scraped_videos. Returns the number of creators written."""
    sql = _SQL.format(tier=follower_tier_sql("counted.author_followers"))
    with engine.begin() as connection:
        return connection.execute(sa.text(sql), {"now": datetime.now(UTC)}).rowcount


def tier_counts(engine: sa.Engine) -> dict[str, int]:
    query = sa.text(
        "SELECT COALESCE(follower_tier, 'unknown') AS tier, COUNT(*) AS n FROM creators GROUP BY 1"
    )
    with engine.connect() as connection:
        return {row.tier: row.n for row in connection.execute(query)}
