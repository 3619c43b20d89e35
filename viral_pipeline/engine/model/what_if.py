"""What-if suggestions: the champion's probability of the request changed in one concrete way.

The candidates, each one change to the request as normalised:

- **posting hour**: the 48 whole hours from the request's `posted_at` (that hour itself when it
  is on the hour, else the next one);
- **hashtags**: adding one of the `TRENDING_TAG_CHOICES` tags most used in the trend snapshot
  the request was scored against, which it lacks (while it has fewer than `MAX_HASHTAGS`); or
  keeping only the first *k* of the tags listed apart from the caption, for every smaller *k*
  (the caption's own #tags stay: dropping them means rewriting the caption);
- **sound**: each of the `TRENDING_SOUND_CHOICES` sounds of highest trend score in that
  snapshot, other than the one the request uses;
- **duration**: each of `DURATION_CHOICES_S` other than the request's own.

Each candidate's row is built by `model_row`, as the `ml` op builds the request's: the sound's
trend score is the trends signal's match against the same snapshot (every candidate matched
together, `sound_trend_scores`), the creator history is the one at the candidate's posting time
(`history_at`), and the recent uses of its topic hashtags come from one count (`tag_uses`) of
the request's hashtags and every hashtag a candidate adds (`hashtags_counted`), made at the
request's posting time: a posting-hour candidate keeps the request's counts, whose 7-day look-back
it would shift by at most 48 hours (one query instead of 48). Every row is scored in one call of
the champion (`score`). A candidate's lift is
its probability minus the request's own (`base_probability`, the same champion's).

Picked: the best hour (the highest probability of the 48; the earliest of a tie), and, of the
other kinds, the best candidate of each, the two kinds of largest lift, when the change raises
the probability by at least `MIN_LIFT`. Two candidates of one kind would be alternatives, not
two changes to make.

numpy and the standard library only: a `predict` run computes this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from viral_pipeline.engine.inputs.request import (
    HASHTAG_PATTERN,
    MAX_HASHTAGS,
    NormalizedRequest,
    merge_hashtags,
    model_row,
)
from viral_pipeline.engine.prediction import SuggestedSound, Suggestion, SuggestionKind, Suggestions
from viral_pipeline.engine.signals.trends_match import (
    TrendSnapshot,
    match_sound,
    sound_trend_scores,
)

POSTING_HOURS = 48
TRENDING_TAG_CHOICES = 3
TRENDING_SOUND_CHOICES = 3
# Lengths short videos are commonly cut to; the simulated world's sweet spot is about 18 s.
DURATION_CHOICES_S = (10, 15, 20, 30, 45, 60)
CHANGES = 2
MIN_LIFT = 1e-6  # below a millionth, a change does not move the probability
_CHANGE_KINDS: tuple[SuggestionKind, ...] = ("hashtags", "sound", "duration")
_DECIMALS = 6  # as the result's probabilities

# Raw columns of one row -> the champion's probability of each (one matrix call).
Scorer = Callable[[Sequence[Mapping[str, Any]]], np.ndarray]
# Posting time -> the creator history columns at that time.
HistoryAt = Callable[[datetime], Mapping[str, float]]


@dataclass(frozen=True)
class Candidate:
    """One changed request and how to describe the change."""

    kind: SuggestionKind
    change: str
    request: NormalizedRequest
    details: dict[str, Any]


def posting_hours(posted_at: datetime) -> list[datetime]:
    """The `POSTING_HOURS` whole hours from `posted_at` (its own hour when on the hour)."""
    first = posted_at.replace(minute=0, second=0, microsecond=0)
    if first < posted_at:
        first += timedelta(hours=1)
    return [first + timedelta(hours=k) for k in range(POSTING_HOURS)]


def candidates(request: NormalizedRequest, snapshot: TrendSnapshot) -> list[Candidate]:
    """Every candidate change: the posting hours first, then hashtags, sounds and durations."""
    hours = [
        Candidate(
            "posting_hour",
            f"post at {when:%Y-%m-%d %H:%M} UTC",
            replace(request, posted_at=when),
            {"posted_at": when},
        )
        for when in posting_hours(request.posted_at)
    ]
    return [
        *hours,
        *_hashtag_candidates(request, snapshot),
        *_sound_candidates(request, snapshot),
        *_duration_candidates(request),
    ]


def _with_hashtags(request: NormalizedRequest, tags: list[str], change: str) -> Candidate:
    return Candidate("hashtags", change, replace(request, hashtags=tags), {"hashtags": tags})


def _hashtag_candidates(request: NormalizedRequest, snapshot: TrendSnapshot) -> list[Candidate]:
    out: list[Candidate] = []
    has = set(request.hashtags)
    if len(request.hashtags) < MAX_HASHTAGS:
        trending = sorted(snapshot.hashtags.items(), key=lambda item: (-item[1], item[0]))
        addable = [
            tag
            for tag, _ in trending
            if tag not in has and re.match(HASHTAG_PATTERN, tag) is not None
        ]
        for tag in addable[:TRENDING_TAG_CHOICES]:
            out.append(_with_hashtags(request, [*request.hashtags, tag], f"add #{tag}"))
    in_caption = set(merge_hashtags([], request.caption))
    listed = [tag for tag in request.hashtags if tag not in in_caption]
    for k in range(len(listed)):
        kept = set(listed[:k]) | in_caption
        tags = [tag for tag in request.hashtags if tag in kept]
        words = " ".join(f"#{tag}" for tag in tags)
        out.append(
            _with_hashtags(request, tags, f"keep only {words}" if tags else "use no hashtags")
        )
    return out


def _sound_candidates(request: NormalizedRequest, snapshot: TrendSnapshot) -> list[Candidate]:
    current, _ = match_sound(request, snapshot)
    seen = {current.music_id} if current is not None else set()
    out: list[Candidate] = []
    for sound in sorted(snapshot.sounds, key=lambda s: -s.trend_score):  # stable on ties
        if len(out) == TRENDING_SOUND_CHOICES:
            break
        if sound.music_id in seen:
            continue
        seen.add(sound.music_id)
        changed = replace(
            request,
            sound_name=sound.name or None,
            sound_author=sound.author,
            sound_id=sound.music_id,
            sound_original=False,
        )
        by = f" by {sound.author}" if sound.author else ""
        out.append(
            Candidate(
                "sound",
                f"use the trending sound {sound.name!r}{by}",
                changed,
                {"sound": SuggestedSound(name=sound.name, author=sound.author, id=sound.music_id)},
            )
        )
    return out


def _duration_candidates(request: NormalizedRequest) -> list[Candidate]:
    return [
        Candidate(
            "duration",
            f"make it {seconds} s long",
            replace(request, duration_s=seconds),
            {"duration_s": seconds},
        )
        for seconds in DURATION_CHOICES_S
        if seconds != request.duration_s
    ]


def hashtags_counted(request: NormalizedRequest, found: Sequence[Candidate]) -> list[str]:
    """The request's hashtags and every hashtag one of its candidates (`candidates`) adds: what
    the `ml` op counts the recent uses of, in one query, before scoring them all."""
    tags = set(request.hashtags)
    for candidate in found:
        tags.update(candidate.request.hashtags)
    return sorted(tags)


def candidate_rows(
    found: Sequence[Candidate],
    snapshot: TrendSnapshot,
    history_at: HistoryAt,
    tag_uses: Mapping[str, int],
) -> list[dict[str, Any]]:
    """Each candidate's row, as the `ml` op builds a request's (`model_row`)."""
    requests = [candidate.request for candidate in found]
    trends = sound_trend_scores(requests, snapshot)
    histories: dict[datetime, Mapping[str, float]] = {}
    rows = []
    for req, trend in zip(requests, trends):
        history = histories.get(req.posted_at)
        if history is None:
            history = histories[req.posted_at] = history_at(req.posted_at)
        rows.append(model_row(req, trend, history, tag_uses))
    return rows


def suggest(
    request: NormalizedRequest,
    found: Sequence[Candidate],
    *,
    base_probability: float,
    snapshot: TrendSnapshot,
    history_at: HistoryAt,
    tag_uses: Mapping[str, int],
    score: Scorer,
    model_version: str,
) -> Suggestions:
    """The best posting hour and the changes of largest lift among `found`, the request's
    `candidates` against `snapshot` (see the module docstring)."""
    probability = score(candidate_rows(found, snapshot, history_at, tag_uses))
    lift = probability - base_probability

    def suggestion(i: int) -> Suggestion:
        c = found[i]
        return Suggestion(
            kind=c.kind,
            change=c.change,
            viral_probability=round(float(probability[i]), _DECIMALS),
            lift=round(float(lift[i]), _DECIMALS),
            **c.details,
        )

    best_of_kind = []
    for kind in _CHANGE_KINDS:
        of_kind = [i for i, c in enumerate(found) if c.kind == kind]
        if of_kind:
            best_of_kind.append(of_kind[int(np.argmax(lift[of_kind]))])
    helping = [i for i in best_of_kind if lift[i] >= MIN_LIFT]
    changes = sorted(helping, key=lambda i: -lift[i])[:CHANGES]  # stable: kind order on a tie
    return Suggestions(
        available=True,
        model_version=model_version,
        viral_probability=round(base_probability, _DECIMALS),
        best_posting_hour=suggestion(int(np.argmax(probability[:POSTING_HOURS]))),
        changes=[suggestion(i) for i in changes],
        candidates_scored=len(found),
    )


def unavailable(reason: str, model_version: str | None = None) -> Suggestions:
    """No suggestions, and why (no champion, or one that may not serve this source)."""
    return Suggestions(available=False, reason=reason, model_version=model_version)
