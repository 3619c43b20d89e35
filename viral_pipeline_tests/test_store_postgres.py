"""The store on a real PostgreSQL server (the session's throwaway cluster)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from viral_pipeline.store import schema
from viral_pipeline.store.db import create_db_engine, current_revision, get_engine, migrate
from viral_pipeline_tests.postgres_server import PostgresServer
from viral_pipeline_tests.test_store_migrations import (
    DATA_TABLES,
    HEAD,
    downgrade,
    schema_differences,
    table_names,
)

pytestmark = pytest.mark.postgres

POSTED = dt.datetime(2026, 11, 28, 18, 30, 15, tzinfo=dt.UTC)
SEEN = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)


def video_row(video_id: str) -> dict:
    return {
        "video_id": video_id,
        "source_format": "clockworks",
        "author_id": "6812345678901234567",
        "author_handle": "dancer",
        "author_followers": 3_200_000_000,  # beyond a 32-bit integer
        "author_verified": True,
        "caption": "naïve café 🎵 #fyp",
        "hashtags": ["fyp", "dance"],
        "music_id": "7290000000000000001",
        "music_name": "original sound",
        "music_author": "dancer",
        "music_original": True,
        "duration_s": 15,
        "is_slideshow": False,
        "posted_at": POSTED,
        "play_count": 9_000_000_000,
        "like_count": 1,
        "comment_count": 0,
        "share_count": 0,
        "collect_count": None,
        "web_url": f"https://www.tiktok.com/@dancer/video/{video_id}",
        "first_seen_at": SEEN,
        "last_seen_at": SEEN,
        "scraper_source": "apify",
    }


def test_server_hands_out_separate_databases(postgres_server: PostgresServer) -> None:
    first = postgres_server.create_database()
    second = postgres_server.create_database()

    assert first != second
    for url in (first, second):
        parsed = make_url(url)
        assert parsed.drivername == "postgresql"
        assert (parsed.username, parsed.host, parsed.port) == (
            "postgres",
            "127.0.0.1",
            postgres_server.port,
        )
    for url in (first, second):
        postgres_server.drop_database(make_url(url).database or "")


def test_create_database_rejects_unsafe_names(postgres_server: PostgresServer) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        postgres_server.create_database('x"; DROP DATABASE postgres; --')


def test_database_is_utf8(postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW server_encoding").scalar_one() == "UTF8"


def test_get_engine_uses_psycopg2_and_one_engine_per_url(postgres_url: str) -> None:
    engine = get_engine(postgres_url)

    assert get_engine(postgres_url) is engine
    assert engine.url.drivername == "postgresql+psycopg2"
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1


def test_explicit_driver_is_kept(postgres_url: str) -> None:
    url = (
        make_url(postgres_url)
        .set(drivername="postgresql+psycopg2")
        .render_as_string(hide_password=False)
    )
    engine = create_db_engine(url)
    try:
        assert engine.url.drivername == "postgresql+psycopg2"
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_migrate_twice_is_idempotent(postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    assert current_revision(engine) is None

    migrate(engine)
    migrate(engine)

    assert current_revision(engine) == HEAD
    assert table_names(engine) == DATA_TABLES | {"alembic_version"}


def test_migrated_schema_matches_the_table_definitions(postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    migrate(engine)

    assert schema_differences(engine) == []


def test_downgrade_to_base_then_upgrade_again(postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    migrate(engine)

    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert table_names(engine) & DATA_TABLES == set()

    migrate(engine)
    assert current_revision(engine) == HEAD
    assert schema_differences(engine) == []


@pytest.mark.parametrize("video_id", ["7301234567890123456", "9999999999999999999"])
def test_nineteen_digit_video_id_round_trips_unchanged(postgres_url: str, video_id: str) -> None:
    # 9999999999999999999 does not even fit a signed 64-bit integer: ids must stay strings.
    engine = get_engine(postgres_url)
    migrate(engine)
    row = video_row(video_id)
    with engine.begin() as connection:
        connection.execute(schema.scraped_videos.insert(), row)

    with engine.connect() as connection:
        stored = (
            connection.execute(
                sa.select(schema.scraped_videos).where(schema.scraped_videos.c.video_id == video_id)
            )
            .mappings()
            .one()
        )

    assert isinstance(stored["video_id"], str)
    assert stored["video_id"] == video_id
    assert dict(stored) == row  # timestamps keep their zone, JSON and text round-trip


def test_stored_data_survives_a_second_migrate(postgres_url: str) -> None:
    engine = get_engine(postgres_url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(schema.scraped_videos.insert(), video_row("7301234567890123456"))

    migrate(engine)

    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.select(sa.func.count()).select_from(schema.scraped_videos)
            ).scalar_one()
            == 1
        )
