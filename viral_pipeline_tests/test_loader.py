"""The loader on SQLite and on the real PostgreSQL server: upsert, quarantine, chunking."""

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from viral_pipeline.store import videos
from viral_pipeline.store.schema import ingest_rejects, scraped_videos
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

T0 = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)


def _rows(engine, table):
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.select(table))]


def test_same_batch_twice_keeps_one_row_per_video_with_newer_stats(app_engine):
    first = [
        make_item("7000000000000000011", posted=T0, plays=100),
        make_item("7000000000000000012", posted=T0),
    ]
    result = ingest_items(app_engine, first, source="test", batch="b", now=T0 + timedelta(hours=1))
    assert (result.stored, result.rejected) == (2, 0)

    again = [make_item("7000000000000000011", posted=T0, plays=250)]
    ingest_items(app_engine, again, source="test", batch="b", now=T0 + timedelta(hours=7))

    rows = {r["video_id"]: r for r in _rows(app_engine, scraped_videos)}
    assert set(rows) == {"7000000000000000011", "7000000000000000012"}
    updated = rows["7000000000000000011"]
    assert updated["play_count"] == 250
    assert updated["first_seen_at"].replace(tzinfo=UTC) == T0 + timedelta(hours=1)
    assert updated["last_seen_at"].replace(tzinfo=UTC) == T0 + timedelta(hours=7)
    assert rows["7000000000000000012"]["play_count"] == 1000  # untouched by the second batch


def test_duplicates_inside_one_batch_keep_the_last_sighting(app_engine):
    items = [make_item("7000000000000000021", posted=T0, plays=p) for p in (10, 20, 30)]
    result = ingest_items(app_engine, items, source="test", batch="b")
    assert result.stored == 1
    assert _rows(app_engine, scraped_videos)[0]["play_count"] == 30


def test_bad_items_are_quarantined_once_with_reason_and_raw(app_engine):
    bad = {
        "url": "https://www.tiktok.com/@gone",
        "input": "gone",
        "error": "This profile/hashtag does not exist.",
    }
    good = make_item("7000000000000000031", posted=T0)
    result = ingest_items(app_engine, [bad, good, bad], source="apify", batch="run-1")
    assert (result.stored, result.rejected) == (1, 2)
    assert result.reasons == {"scraper error row": 2}

    rejects = _rows(app_engine, ingest_rejects)
    assert len(rejects) == 1  # the same raw item is kept once
    assert rejects[0]["source"] == "apify" and rejects[0]["batch"] == "run-1"
    assert "does not exist" in rejects[0]["reason"]
    assert json.loads(rejects[0]["raw"]) == bad


def test_nineteen_digit_ids_round_trip_exactly(app_engine):
    video_id = "7505706702050823446"
    ingest_items(
        app_engine,
        [make_item(video_id, posted=T0, author_id="7424447537598055456")],
        source="t",
        batch="b",
    )
    row = _rows(app_engine, scraped_videos)[0]
    assert row["video_id"] == video_id and row["author_id"] == "7424447537598055456"
    assert row["hashtags"] == ["fyp"]


def test_chunks_commit_independently(app_engine, monkeypatch):
    monkeypatch.setattr(videos, "CHUNK_SIZE", 3)
    items = [make_item(f"70000000000000001{i:02d}", posted=T0) for i in range(10)]
    items.insert(4, {"error": "boom"})
    result = ingest_items(app_engine, items, source="t", batch="b")
    assert (result.stored, result.rejected) == (10, 1)
    assert len(_rows(app_engine, scraped_videos)) == 10
