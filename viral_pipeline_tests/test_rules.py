"""The rules signal: sweet spots, monotone sides and the reason string, on hand-picked cases."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from viral_pipeline.engine.inputs.request import NormalizedRequest
from viral_pipeline.engine.signals.rules import (
    caption_score,
    duration_score,
    hashtag_score,
    hour_score,
    score_rules,
)

BEST = NormalizedRequest(
    caption="c" * 100,
    hook=None,
    hashtags=["a", "b", "c", "d"],
    sound_name=None,
    sound_author=None,
    sound_id=None,
    sound_original=None,
    duration_s=25,
    posted_at=datetime(2026, 11, 20, 16, tzinfo=UTC),
    creator_handle=None,
    followers=None,
    verified=None,
)


def _with(**changes) -> NormalizedRequest:
    return dataclasses.replace(BEST, **changes)


def test_best_case_scores_100_with_every_component_in_the_reason():
    signal = score_rules(BEST)
    assert signal.name == "rules" and signal.available and signal.score == 100.0
    assert signal.reason == "caption 100 chars: 100; 4 hashtags: 100; 25 s: 100; 16h UTC: 100"


def test_caption_sweet_spot():
    assert caption_score(50) == caption_score(100) == caption_score(150) == 100
    assert caption_score(1) < caption_score(20) < caption_score(49) < 100
    assert 100 > caption_score(151) > caption_score(500) > caption_score(999) > caption_score(1000)
    assert caption_score(1000) == caption_score(2200) == 30


def test_hashtag_count_sweet_spot_and_penalties():
    scores = [hashtag_score(n) for n in range(0, 31)]
    assert scores[3:7] == [100.0] * 4
    assert scores[0] < scores[1] < scores[2] < scores[3]
    assert all(a > b for a, b in zip(scores[6:15], scores[7:16]))  # every tag past 6 costs
    assert scores[0] == 20 and scores[11] < scores[0] + 20 and min(scores) == scores[30] == 10


def test_duration_sweet_spot_and_long_videos():
    assert duration_score(15) == duration_score(25) == duration_score(35) == 100
    assert duration_score(1) < duration_score(8) < duration_score(15)
    long = [duration_score(s) for s in (36, 60, 120, 180, 300, 600)]
    assert all(a > b for a, b in zip(long, long[1:]))
    assert duration_score(600) == duration_score(10_000) == 15


def test_posting_hour():
    assert [hour_score(h) for h in range(14, 19)] == [100.0] * 5
    assert min(hour_score(h) for h in range(24)) == hour_score(3) == hour_score(4)
    assert (
        hour_score(3)
        < hour_score(9)
        < hour_score(13)
        < hour_score(16)
        > hour_score(21)
        > hour_score(1)
    )
    assert hour_score(24) == hour_score(0)


@pytest.mark.parametrize(
    "worse",
    [
        _with(caption="hi"),
        _with(caption="c" * 1500),
        _with(hashtags=[]),
        _with(hashtags=[f"t{i}" for i in range(12)]),
        _with(duration_s=3),
        _with(duration_s=400),
        _with(posted_at=datetime(2026, 11, 20, 3, tzinfo=UTC)),
    ],
)
def test_leaving_a_sweet_spot_lowers_the_score(worse):
    assert score_rules(worse).score < score_rules(BEST).score


def test_weighted_combination_of_components():
    # caption 1 char (40), no hashtags (20), 1 s (50), 03h (20): 0.25*40 + 0.25*20 + 0.3*50 + 0.2*20
    signal = score_rules(
        _with(
            caption="c",
            hashtags=[],
            duration_s=1,
            posted_at=datetime(2026, 11, 20, 3, 59, tzinfo=UTC),
        )
    )
    assert signal.score == pytest.approx(34.0)
    assert signal.reason == "caption 1 chars: 40; 0 hashtags: 20; 1 s: 50; 03h UTC: 20"


def test_hour_is_read_in_utc_even_from_another_offset():
    local = datetime(2026, 11, 20, 18, tzinfo=timezone(timedelta(hours=2)))  # 16:00 UTC
    assert score_rules(_with(posted_at=local)).reason.endswith("16h UTC: 100")


def test_deterministic():
    assert score_rules(BEST) == score_rules(_with())
