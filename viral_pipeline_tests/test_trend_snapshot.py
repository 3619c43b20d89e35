"""load_trend_snapshot on SQLite and PostgreSQL: the day chosen, sounds, authors, hashtag shares."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from viral_pipeline.engine.signals.trends_match import TrendSnapshot
from viral_pipeline.store.trend_snapshot import load_trend_snapshot
from viral_pipeline.store.trends import compute_trending_sounds
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

DAY0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RISING, STEADY, LATE = "7100000000000000001", "7100000000000000002", "7100000000000000003"


def _item(
    n: int, day: int, music_id: str, tags: list[str], *, author: str = "Artist", hour: int = 12
) -> dict:
    item = make_item(
        f"72{n:017d}",
        posted=DAY0.replace(hour=hour) + timedelta(days=day),
        music_id=music_id,
        music_name=f"song {music_id[-1]}",
    )
    item["musicMeta"]["musicAuthor"] = author
    item["hashtags"] = [
        {"id": str(i), "name": tag, "title": "", "cover": ""} for i, tag in enumerate(tags)
    ]
    item["text"] = "caption " + " ".join(f"#{tag}" for tag in tags)
    return item


def _seed(engine) -> None:
    """Days 0..3. RISING: 1, 2, 4 uses on days 0..2; STEADY: 2 a day on days 0..2; LATE: day 3 only."""
    items, n = [], 0
    for day, (rising, steady) in enumerate([(1, 2), (2, 2), (4, 2)]):
        for music_id, count in ((RISING, rising), (STEADY, steady)):
            for k in range(count):
                n += 1
                tags = ["fyp", "dance"] if k % 2 == 0 else ["fyp", "food"]
                items.append(
                    _item(
                        n,
                        day,
                        music_id,
                        tags,
                        author="Rising Star" if music_id == RISING else "Old Hand",
                    )
                )
    items.append(_item(999, 3, LATE, ["Late"], author="Night Owl", hour=23))
    ingest_items(engine, items, source="t", batch="b")
    compute_trending_sounds(engine)


def test_empty_database_gives_an_empty_snapshot(app_engine):
    snapshot = load_trend_snapshot(app_engine)
    assert isinstance(snapshot, TrendSnapshot) and snapshot.is_empty
    assert snapshot.day is None and snapshot.sounds == () and snapshot.hashtags == {}


def test_day_sounds_authors_and_hashtag_shares(app_engine):
    """One seeded database per backend (each costs a migration), several questions."""
    _seed(app_engine)
    _latest_day_by_default(app_engine)
    _as_of_picks_the_latest_day_on_or_before_it(app_engine)
    _hashtag_window_spans_the_given_days(app_engine)
    _limits(app_engine)
    _scores_requests(app_engine)
    _without_videos(app_engine)


def _latest_day_by_default(engine):
    snapshot = load_trend_snapshot(engine)
    assert snapshot.day == date(2026, 11, 4)
    assert [s.music_id for s in snapshot.sounds] == [LATE]
    assert snapshot.sounds[0].author == "Night Owl" and snapshot.sounds[0].name == "song 3"
    # The 3 days up to the 4th: 4 + 6 + 1 = 11 videos; every one but the late one has #fyp,
    # #dance or #food half each; the late one's "Late" is lowercased.
    assert snapshot.hashtags == pytest.approx(
        {"fyp": 10 / 11, "dance": 5 / 11, "food": 5 / 11, "late": 1 / 11}
    )


def _as_of_picks_the_latest_day_on_or_before_it(engine):
    snapshot = load_trend_snapshot(engine, as_of=date(2026, 11, 3), days=1)
    assert snapshot.day == date(2026, 11, 3)
    assert [s.music_id for s in snapshot.sounds] == [RISING, STEADY]  # best trend score first
    assert snapshot.sounds[0].trend_score > snapshot.sounds[1].trend_score
    assert {s.music_id: s.author for s in snapshot.sounds} == {
        RISING: "Rising Star",
        STEADY: "Old Hand",
    }
    # Day 3 only: 6 videos, all #fyp, 3 #dance and 3 #food.
    assert snapshot.hashtags == pytest.approx({"fyp": 1.0, "dance": 0.5, "food": 0.5})
    # A day with no trending row falls back to the one before; a datetime counts by its UTC day.
    assert load_trend_snapshot(engine, as_of=date(2026, 11, 20)).day == date(2026, 11, 4)
    assert load_trend_snapshot(engine, as_of=datetime(2026, 11, 2, 23, 30)).day == date(2026, 11, 2)
    assert load_trend_snapshot(engine, as_of=date(2026, 10, 31)).is_empty


def _hashtag_window_spans_the_given_days(engine):
    snapshot = load_trend_snapshot(engine, as_of=date(2026, 11, 3), days=3)
    # Days 1..3: 3 + 4 + 6 = 13 videos; #dance on the even-numbered video of each sound and day.
    assert snapshot.hashtags["fyp"] == pytest.approx(1.0)
    assert snapshot.hashtags["dance"] + snapshot.hashtags["food"] == pytest.approx(1.0)
    assert snapshot.hashtags["dance"] == pytest.approx(7 / 13)


def _limits(engine):
    snapshot = load_trend_snapshot(
        engine, as_of=date(2026, 11, 3), days=3, max_sounds=1, max_hashtags=2
    )
    assert [s.music_id for s in snapshot.sounds] == [RISING]
    assert list(snapshot.hashtags) == ["fyp", "dance"]  # by count, then name
    with pytest.raises(ValueError, match="at least 1"):
        load_trend_snapshot(engine, days=0)
    with pytest.raises(ValueError, match="at least 1"):
        load_trend_snapshot(engine, max_videos=0)
    # A sample of the newest videos: the one posted late on the 4th, tagged #late only.
    newest = load_trend_snapshot(engine, max_videos=1)
    assert newest.hashtags == {"late": 1.0}


def _scores_requests(engine):
    from viral_pipeline.engine.inputs.request import AnalyzeRequest, normalize
    from viral_pipeline.engine.signals.trends_match import match_sound, score_trends

    snapshot = load_trend_snapshot(engine, as_of=date(2026, 11, 3))
    req = normalize(
        AnalyzeRequest.model_validate(
            {
                "caption": "new #dance",
                "duration_s": 20,
                "sound": {"name": "Song 1", "author": "Rising Star"},
            }
        )
    )
    assert match_sound(req, snapshot)[0].music_id == RISING
    assert score_trends(req, snapshot).available


def _without_videos(engine):
    """Trend rows whose videos are gone: no author, no hashtags, still a snapshot."""
    import sqlalchemy as sa

    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM scraped_videos"))
    snapshot = load_trend_snapshot(engine)
    assert snapshot.day == date(2026, 11, 4) and snapshot.hashtags == {}
    assert [(s.music_id, s.author) for s in snapshot.sounds] == [(LATE, None)]
