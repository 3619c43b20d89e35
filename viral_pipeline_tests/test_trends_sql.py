"""trending_sounds SQL on SQLite and PostgreSQL, against figures computed by hand."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from viral_pipeline.store.trends import compute_trending_sounds, top_sounds
from viral_pipeline.store.videos import ingest_items
from viral_pipeline_tests.factories import make_item

DAY0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RISING = "7100000000000000001"
STEADY = "7100000000000000002"


def _seed(engine):
    """RISING: 1, 2, 4 uses on days 0..2; STEADY: 2 uses each day; one slideshow with no sound."""
    items, n = [], 0
    for day, (rising, steady) in enumerate([(1, 2), (2, 2), (4, 2)]):
        for music_id, count in ((RISING, rising), (STEADY, steady)):
            for _ in range(count):
                n += 1
                items.append(
                    make_item(
                        f"72{n:017d}",
                        posted=DAY0 + timedelta(days=day),
                        music_id=music_id,
                        plays=1000,
                        likes=80,
                        comments=10,
                        shares=10,
                    )
                )
    slideshow = make_item("7299999999999999999", posted=DAY0)
    slideshow.update(isSlideshow=True, videoMeta={"duration": 0}, musicMeta={"musicId": "0"})
    items.append(slideshow)
    ingest_items(engine, items, source="t", batch="b")


def _trends(engine):
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT * FROM trending_sounds ORDER BY music_id, day")
        ).mappings()
        return {(r["music_id"], str(r["day"])): dict(r) for r in rows}


def test_uses_growth_velocity_and_engagement(app_engine):
    _seed(app_engine)
    written = compute_trending_sounds(app_engine)
    assert written == 6  # 2 sounds x 3 days; the slideshow has no sound
    trends = _trends(app_engine)

    day2 = trends[(RISING, "2026-11-03")]
    assert day2["uses"] == 4 and day2["plays"] == 4000
    assert day2["growth"] == pytest.approx((4 + 1) / (2 + 1) - 1)
    assert day2["velocity"] == pytest.approx(4 - (1 + 2) / 7)
    assert day2["engagement"] == pytest.approx(0.1)
    first = trends[(RISING, "2026-11-01")]
    assert first["growth"] == pytest.approx(1.0) and first["velocity"] == pytest.approx(1.0)
    # On day 2 the rising sound outranks the steady one; on day 0 the steady one leads.
    assert day2["trend_score"] > trends[(STEADY, "2026-11-03")]["trend_score"]
    assert trends[(STEADY, "2026-11-01")]["trend_score"] > first["trend_score"]


def test_a_day_reads_no_later_day(app_engine):
    """No look-ahead: adding videos on a later day leaves earlier days' figures unchanged."""
    _seed(app_engine)
    compute_trending_sounds(app_engine)
    before = {k: v["trend_score"] for k, v in _trends(app_engine).items()}
    later = [
        make_item(f"73{i:017d}", posted=DAY0 + timedelta(days=5), music_id=STEADY) for i in range(9)
    ]
    ingest_items(app_engine, later, source="t", batch="b2")
    compute_trending_sounds(app_engine)
    after = _trends(app_engine)
    assert {k: after[k]["trend_score"] for k in before} == before
    assert after[(STEADY, "2026-11-06")]["uses"] == 9


def test_recompute_since_a_day_replaces_only_those_days(app_engine):
    _seed(app_engine)
    compute_trending_sounds(app_engine)
    rewritten = compute_trending_sounds(app_engine, since=date(2026, 11, 3))
    assert rewritten == 2
    trends = _trends(app_engine)
    assert len(trends) == 6
    # The windows of the recomputed day still see the week before it.
    assert trends[(RISING, "2026-11-03")]["velocity"] == pytest.approx(4 - 3 / 7)


def test_top_sounds_preview_is_the_latest_day_best_first(app_engine):
    _seed(app_engine)
    compute_trending_sounds(app_engine)
    top = top_sounds(app_engine, limit=5)
    assert [row["music_id"] for row in top] == [RISING, STEADY]
    assert str(top[0]["day"]) == "2026-11-03"


def test_empty_database_gives_no_rows(app_engine):
    assert compute_trending_sounds(app_engine) == 0
    assert top_sounds(app_engine) == []
