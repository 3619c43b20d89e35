"""The ``rules`` signal: deterministic heuristics on what a creator controls, 0..100.

Four components, each scored 0..100 by a piecewise-linear curve, then weighted:

| component | weight | best | curve |
|---|---|---|---|
| caption length (characters) | 0.25 | 50..150 | 40 at 1 char, up to 100 at 50; down to 30 at 1,000, then flat |
| hashtag count | 0.25 | 3..6 | 0: 20, 1: 50, 2: 75; 7..10: 90..60; above 10: 40 - 5 per extra tag, at least 10 |
| duration (seconds) | 0.30 | 15..35 | 50 at 1 s rising to 100 at 15; falls to 75 at 60, 40 at 180 and 15 at 600 |
| posting hour (UTC) | 0.20 | 14..18 | `HOUR_SCORES`: lowest (20) at 03..04, the dead of the night |

The hour is read in UTC because the request carries no audience time zone. Slideshows do not
reach this signal (the API takes a duration of at least 1 s). Cheap and without I/O. The
`reason` lists every component (rounded to whole points), e.g.
``"caption 85 chars: 100; 4 hashtags: 100; 22 s: 100; 15h UTC: 100"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from viral_pipeline.engine.inputs.request import NormalizedRequest
from viral_pipeline.engine.signals.aggregate import Signal, SignalName

WEIGHTS = {"caption": 0.25, "hashtags": 0.25, "duration": 0.30, "hour": 0.20}
_W_CAPTION, _W_HASHTAGS, _W_DURATION, _W_HOUR = (
    WEIGHTS[k] for k in ("caption", "hashtags", "duration", "hour")
)

# Score of each UTC hour 0..23: afternoon best, the small hours worst.
HOUR_SCORES: tuple[int, ...] = (
    45,
    35,
    25,
    20,
    20,
    25,
    35,
    45,
    55,
    60,
    65,
    75,  # 00..11
    80,
    90,
    100,
    100,
    100,
    100,
    100,
    90,
    80,
    70,
    60,
    50,  # 12..23
)

# (x, score) knots; the score is linear between knots and flat beyond the last ones.
CAPTION_CURVE: tuple[tuple[float, float], ...] = ((1, 40), (50, 100), (150, 100), (1000, 30))
DURATION_CURVE: tuple[tuple[float, float], ...] = (
    (1, 50),
    (15, 100),
    (35, 100),
    (60, 75),
    (180, 40),
    (600, 15),
)


def _piecewise(x: float, knots: Sequence[tuple[float, float]]) -> float:
    if x <= knots[0][0]:
        return knots[0][1]
    for (x0, y0), (x1, y1) in zip(knots, knots[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return knots[-1][1]


def caption_score(chars: int) -> float:
    return _piecewise(chars, CAPTION_CURVE)


def hashtag_score(count: int) -> float:
    if count <= 2:
        return (20.0, 50.0, 75.0)[max(count, 0)]
    if count <= 6:
        return 100.0
    if count <= 10:
        return 100.0 - 10.0 * (count - 6)
    return max(10.0, 40.0 - 5.0 * (count - 10))


def duration_score(seconds: float) -> float:
    return _piecewise(seconds, DURATION_CURVE)


def hour_score(hour: int) -> float:
    return float(HOUR_SCORES[hour % 24])


def score_rules(req: NormalizedRequest) -> Signal:
    """The heuristic score of a request, with each component in `reason`."""
    posted = req.posted_at
    if posted.utcoffset():  # normalize() gives UTC already; a hand-built request may not
        posted = posted.astimezone(UTC)
    chars, tags, seconds, hour = len(req.caption), len(req.hashtags), req.duration_s, posted.hour
    caption, hashtags = caption_score(chars), hashtag_score(tags)
    duration, when = duration_score(seconds), HOUR_SCORES[hour]
    score = _W_CAPTION * caption + _W_HASHTAGS * hashtags + _W_DURATION * duration + _W_HOUR * when
    # Whole numbers in the reason: formatting an int costs a fraction of formatting a float.
    reason = (
        f"caption {chars} chars: {int(caption + 0.5)}; {tags} hashtags: {int(hashtags + 0.5)}; "
        f"{seconds} s: {int(duration + 0.5)}; {hour:02d}h UTC: {when}"
    )
    return Signal(name=SignalName.RULES, score=round(score, 2), available=True, reason=reason)
