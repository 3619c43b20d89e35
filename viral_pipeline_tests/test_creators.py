"""Follower tiers (Python and SQL agree) and the creators table on both backends."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from viral_pipeline.engine.inputs.creators import FOLLOWER_TIERS, follower_tier, follower_tier_sql
from viral_pipeline.store.creators import refresh_creator_profiles, tier_counts
from viral_pipeline.store.schema import creators
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("followers", "tier"),
    [
        (None, None),
        (0, "starter"),
        (999, "starter"),
        (1_000, "nano"),
        (9_999, "nano"),
        (10_000, "micro"),
        (100_000, "mid"),
        (999_999, "mid"),
        (1_000_000, "mega"),
        (50_000_000, "mega"),
    ],
)
def test_follower_tier_boundaries(followers, tier):
    assert follower_tier(followers) == tier


def test_sql_tier_agrees_with_python_at_every_boundary():
    engine = sa.create_engine("sqlite://")
    values = [None] + [b + d for _, b in FOLLOWER_TIERS for d in (-1, 0, 1) if b + d >= 0]
    with engine.connect() as connection:
        for value in values:
            got = connection.execute(
                sa.text(f"SELECT {follower_tier_sql(':f')}"), {"f": value}
            ).scalar()
            assert got == follower_tier(value), value


def _creators(engine):
    with engine.connect() as connection:
        return {r.author_id: r for r in connection.execute(sa.select(creators))}


def test_latest_known_follower_count_wins_and_unknown_does_not_erase_it(app_engine):
    author = "6900000000000000001"
    ingest_items(
        app_engine,
        [make_item("7400000000000000001", posted=T0, author_id=author, fans=900)],
        source="t",
        batch="b",
        now=T0,
    )
    ingest_items(
        app_engine,
        [
            make_item(
                "7400000000000000002",
                posted=T0,
                author_id=author,
                fans=12_000,
                handle="renamed",
                verified=True,
            )
        ],
        source="t",
        batch="b",
        now=T0 + timedelta(hours=1),
    )
    # A later sighting in the older format carries no follower count.
    ingest_items(
        app_engine,
        [
            make_item(
                "7400000000000000003",
                posted=T0,
                author_id=author,
                fans=None,
                handle="renamed",
                verified=True,
            )
        ],
        source="t",
        batch="b",
        now=T0 + timedelta(hours=2),
    )
    assert refresh_creator_profiles(app_engine) == 1
    row = _creators(app_engine)[author]
    assert (row.handle, row.followers, row.follower_tier, row.verified, row.source) == (
        "renamed",
        12_000,
        "micro",
        True,
        "scrape",
    )


def test_profile_scrapes_are_not_overwritten_by_video_data(app_engine):
    author = "6900000000000000002"
    ingest_items(
        app_engine,
        [make_item("7400000000000000010", posted=T0, author_id=author, fans=50)],
        source="t",
        batch="b",
    )
    with app_engine.begin() as connection:
        connection.execute(
            sa.insert(creators).values(
                author_id=author,
                handle="real",
                followers=2_000_000,
                verified=True,
                follower_tier="mega",
                source="profile",
                updated_at=T0,
            )
        )
    refresh_creator_profiles(app_engine)
    row = _creators(app_engine)[author]
    assert (row.followers, row.follower_tier, row.source) == (2_000_000, "mega", "profile")


def test_tier_counts_name_unknown_tiers(app_engine):
    ingest_items(
        app_engine,
        [
            make_item("7400000000000000020", posted=T0, author_id="6900000000000000020", fans=None),
            make_item(
                "7400000000000000021", posted=T0, author_id="6900000000000000021", fans=5_000_000
            ),
        ],
        source="t",
        batch="b",
    )
    refresh_creator_profiles(app_engine)
    assert tier_counts(app_engine) == {"unknown": 1, "mega": 1}
