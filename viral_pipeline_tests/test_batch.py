"""Batch scoring gives every request the answer the per-request path gives it."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from viral_pipeline.engine.calibration.platt import PlattParams, calibrate
from viral_pipeline.engine.inputs.request import AnalyzeRequest, normalize
from viral_pipeline.engine.signals.aggregate import SIGNALS, Signal, aggregate
from viral_pipeline.engine.signals.batch import aggregate_many, score_batch
from viral_pipeline.engine.signals.rules import score_rules
from viral_pipeline.engine.signals.trends_match import TrendingSound, TrendSnapshot, score_trends

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
WEIGHTS = {"rules": 0.15, "trends": 0.15, "ml": 0.40, "gemini": 0.15, "deepseek": 0.15}
PARAMS = PlattParams(a=-6.0, b=3.2, version="v1", fitted_at=NOW, n_outcomes=500)
_WORDS = "love baby night dance party girl fire rain heart city lights river echo summer golden wild neon".split()


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :]


def _world(rng: random.Random) -> tuple[TrendSnapshot, list[AnalyzeRequest]]:
    def title() -> str:
        return " ".join(
            rng.choice(_WORDS) if rng.random() < 0.6 else _word(rng)
            for _ in range(rng.randint(1, 4))
        )

    sounds = tuple(
        TrendingSound(
            f"73{i:017d}",
            title(),
            f"{_word(rng)} {_word(rng)}" if rng.random() < 0.8 else None,
            1 - i / 400,
        )
        for i in range(400)
    )
    tags = ["fyp", "foryou", "viral"] + [_word(rng) for _ in range(60)]
    snapshot = TrendSnapshot(
        day=NOW.date(), sounds=sounds, hashtags={t: 0.5 / (k + 1) for k, t in enumerate(tags)}
    )
    requests = []
    for _ in range(800):
        s, roll = rng.choice(sounds), rng.random()
        sound = (
            None
            if roll < 0.2
            else {"name": "original sound - " + _word(rng), "original": True}
            if roll < 0.3
            else {"id": s.music_id}
            if roll < 0.4
            else {"name": s.name, "author": s.author if rng.random() < 0.5 else None}
            if roll < 0.6
            else {"name": _typo(rng, s.name), "author": s.author if rng.random() < 0.5 else None}
            if roll < 0.8
            else {"name": title(), "author": _word(rng) if rng.random() < 0.5 else None}
        )
        hashtags = [
            rng.choice(tags) if rng.random() < 0.8 else _typo(rng, rng.choice(tags))
            for _ in range(rng.randint(0, 6))
        ]
        requests.append(
            AnalyzeRequest.model_validate(
                {
                    "caption": " ".join(_word(rng) for _ in range(rng.randint(1, 30)))
                    + (" #fyp" if rng.random() < 0.3 else ""),
                    "hashtags": hashtags,
                    "sound": sound,
                    "duration_s": rng.randint(1, 600),
                    "posted_at": (NOW - timedelta(minutes=rng.randrange(10_000))).isoformat()
                    if rng.random() < 0.9
                    else None,
                }
            )
        )
    return snapshot, requests


def _other_signals(rng: random.Random, n: int) -> list[dict[str, Signal]]:
    rows = []
    for _ in range(n):
        row = {}
        for name in ("ml", "gemini", "deepseek"):
            roll = rng.random()
            if roll < 0.2:
                row[name] = Signal.unavailable(name, rng.choice(["circuit breaker open", "no key"]))
            elif roll < 0.25:
                continue  # missing altogether
            else:
                row[name] = Signal(name, round(rng.uniform(0, 100), 2), True)
        rows.append(row)
    return rows


def _columns(rows: list[dict[str, Signal]]) -> dict[str, list[Signal | None]]:
    """Rows of signals as columns; a row without a signal has None in that column."""
    names = [name for name in SIGNALS if any(name in row for row in rows)]
    return {name: [row.get(name) for row in rows] for name in names}


def _assert_same_aggregate(batch_row, one):
    assert batch_row.score == pytest.approx(one.score, abs=1e-12)
    assert batch_row.raw_probability == pytest.approx(one.raw_probability, abs=1e-14)
    assert batch_row.weights_used == pytest.approx(one.weights_used, abs=1e-15)
    assert (batch_row.redistributed, batch_row.confidence, batch_row.notes) == (
        one.redistributed,
        one.confidence,
        one.notes,
    )


def test_a_batch_scores_every_request_as_one_request_alone():
    rng = random.Random(5)
    snapshot, requests = _world(rng)
    others = _other_signals(rng, len(requests))
    batch = score_batch(requests, snapshot, _columns(others), WEIGHTS, PARAMS, now=NOW)
    alone = TrendSnapshot(
        day=snapshot.day, sounds=snapshot.sounds, hashtags=snapshot.hashtags
    )  # its own memos
    confidences, matched = set(), 0
    for i, request in enumerate(requests):
        req = normalize(request, now=NOW)
        rules, trends = score_rules(req), score_trends(req, alone)
        one = aggregate({"rules": rules, "trends": trends, **others[i]}, WEIGHTS)
        probability, is_calibrated = calibrate(one.raw_probability, PARAMS)
        assert (batch.requests[i], batch.rules[i], batch.trends[i]) == (req, rules, trends)
        _assert_same_aggregate(batch.aggregates.row(i), one)
        assert (
            batch.probability[i] == pytest.approx(probability, abs=1e-12)
            and batch.is_calibrated == is_calibrated
        )
        confidences.add(one.confidence)
        matched += "similarity" in trends.reason and "similarity 100" not in trends.reason
    assert (
        confidences == {"HIGH", "MEDIUM", "LOW"} and matched > 50
    )  # the mix reached every rule and fuzzy matches
    assert len(batch.aggregates) == len(requests)


def test_aggregate_many_equals_aggregate_on_every_pattern():
    rng = random.Random(9)
    rows = []
    for mask in range(
        1, 2 ** len(SIGNALS)
    ):  # every non-empty set of available signals, several times
        for _ in range(12):
            rows.append(
                {
                    name: Signal(name, rng.choice([rng.uniform(0, 100), 50.0, 0.0, 100.0]), True)
                    if mask >> k & 1
                    else Signal.unavailable(name, rng.choice(["down", None]))
                    for k, name in enumerate(SIGNALS)
                    if mask >> k & 1 or rng.random() < 0.8
                }
            )
    rows.append(
        {"trends": Signal("trends", 40.0, True), "rules": Signal("rules", 80.0, True)}
    )  # another key order
    for weights in (WEIGHTS, {"ml": 1.0, "rules": 0.0, "gemini": 2.0}, {"rules": 1.0}):
        many = aggregate_many(_columns(rows), weights)
        for i, row in enumerate(rows):
            _assert_same_aggregate(many.row(i), aggregate(row, weights))
        assert np.array_equal(many.raw_probability, many.score / 100)


@pytest.mark.parametrize(
    "bad_row",
    [
        {"ml": Signal.unavailable("ml", "no champion")},  # nothing available
        {"ml": Signal("ml", 50.0, True), "vibes": Signal("vibes", 50.0, True)},  # an unknown signal
        {"ml": Signal("gemini", 50.0, True)},  # filed under another name
    ],
)
def test_a_bad_row_raises_what_one_request_would(bad_row):
    good = {"ml": Signal("ml", 50.0, True)}
    with pytest.raises(ValueError) as one:
        aggregate(bad_row, WEIGHTS)
    columns = {name: [good.get(name), signal, good.get(name)] for name, signal in bad_row.items()}
    with pytest.raises(ValueError) as many:
        aggregate_many({"ml": [good["ml"], None, good["ml"]], **columns}, WEIGHTS)
    assert str(many.value) == str(one.value)
    with pytest.raises(ValueError, match="unknown signal"):
        aggregate_many({"ml": [good["ml"]]}, {"vibes": 1.0})
    with pytest.raises(ValueError, match=r"differ in length: \[1, 2\]"):
        aggregate_many({"ml": [good["ml"]], "rules": [None, None]}, WEIGHTS)
    assert len(aggregate_many({}, WEIGHTS)) == 0


def test_score_batch_needs_a_signal_per_request_in_each_column():
    snapshot, requests = _world(random.Random(1))
    with pytest.raises(
        ValueError, match=r"3 requests but signal columns of other lengths: \{'ml': 2\}"
    ):
        score_batch(requests[:3], snapshot, {"ml": [None, None]}, WEIGHTS, None)
    empty = score_batch(requests[:2], TrendSnapshot.empty(), {}, WEIGHTS, None, now=NOW)
    assert [s.available for s in empty.trends] == [False, False] and not empty.is_calibrated
    assert empty.aggregates.row(0).weights_used["rules"] == 1.0  # only rules was left
