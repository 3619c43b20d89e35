"""Creator reach: follower tiers (the strongest single driver of virality in the literature)."""

from __future__ import annotations

# (tier, lower bound of followers), ascending. Industry convention for influencer tiers.
FOLLOWER_TIERS: tuple[tuple[str, int], ...] = (
    ("starter", 0),
    ("nano", 1_000),
    ("micro", 10_000),
    ("mid", 100_000),
    ("mega", 1_000_000),
)


def follower_tier(followers: int | None) -> str | None:
    """The tier for a follower count; None when the count is unknown (older scraper format)."""
    if followers is None:
        return None
    tier = FOLLOWER_TIERS[0][0]
    for name, lower in FOLLOWER_TIERS:
        if followers >= lower:
            tier = name
    return tier


def follower_tier_sql(column: str) -> str:
    """The same rule as a SQL CASE expression, so SQL and Python can never disagree."""
    branches = " ".join(
        f"WHEN {column} >= {lower} THEN '{name}'" for name, lower in reversed(FOLLOWER_TIERS)
    )
    return f"CASE WHEN {column} IS NULL THEN NULL {branches} END"
