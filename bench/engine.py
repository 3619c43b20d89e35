"""The pure prediction engine: requests per second in a batch, and the latency of one request.

Each request goes through normalize -> rules -> trends (against a snapshot of `--sounds`
trending sounds and `--hashtags` hashtags) -> aggregate (fixed stand-ins for the ML score and
the two LLM judges, one judge unavailable for every 7th request) -> calibrate (Platt).
Requests are validated `AnalyzeRequest`s built up front (not timed) from a mix like real
traffic: 30% without a sound, 20% original sounds, 30% trending sounds by name (half with the
author), 10% trending sounds with a typo and 10% sounds that are not trending (the last two
always go through the fuzzy matcher: every such query is distinct); 0..8 hashtags, some
misspelt ("fypシ") or unknown.

- batch: all `--requests` requests scored by one `score_batch` call (the batch path:
  `viral_pipeline.engine.signals.batch`), `--repeats` times, each time against a newly built snapshot,
  so no memo carries over from an earlier repeat (building the snapshot is not timed);
- one at a time: the same requests through the per-request functions in a loop, right after
  each batch repeat, for the batch's speed-up under the same load;
- single: `--single` further distinct requests, each timed alone through the per-request
  functions a `predict` run calls (p50, p95, max), against a newly built snapshot (cold memo).

Figures are medians over the repeats. Targets: batch >= 20,000 requests/s, single p95 < 5 ms.

Run from the repo root:  .venv/bin/python bench/engine.py [--requests N] [--single N] [--repeats R]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import string
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from viral_pipeline.engine.calibration.platt import PlattParams, calibrate, calibrate_many  # noqa: E402
from viral_pipeline.engine.inputs.request import AnalyzeRequest, normalize  # noqa: E402
from viral_pipeline.engine.signals.aggregate import Signal, aggregate  # noqa: E402
from viral_pipeline.engine.signals.batch import aggregate_many, score_batch  # noqa: E402
from viral_pipeline.engine.signals.rules import score_rules  # noqa: E402
from viral_pipeline.engine.signals.trends_match import (  # noqa: E402
    TrendingSound,
    TrendSnapshot,
    score_trends,
    score_trends_many,
)

TARGET_RPS, TARGET_P95_MS = 20_000, 5.0
WEIGHTS = {"rules": 0.15, "trends": 0.15, "ml": 0.40, "gemini": 0.15, "deepseek": 0.15}
PARAMS = PlattParams(
    a=-6.0, b=3.2, version="bench", fitted_at=datetime(2026, 11, 1, tzinfo=UTC), n_outcomes=5000
)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
_SONG_WORDS = (
    "love baby night dance party girl boy fire rain heart city lights river echo fever summer golden wild "
    "paper velvet midnight neon broken lonely electric dream sky moon sun star blue red black white gold kiss "
    "cry tears run home road lost time life world bad good sweet crazy forever never again tonight money body "
    "soul angel devil heaven ocean sea wave storm ghost shadow mirror glass stone rose flower queen king honey "
    "sugar candy cherry lemon apple peach fly high low down up back away"
).split()
_GENERIC_TAGS = ["fyp", "foryou", "viral", "foryoupage", "trending", "fy", "tiktok"]


def _word(rng: random.Random, lo: int = 3, hi: int = 9) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(lo, hi)))


class World:
    """Sound names, artists and hashtags of the bench, from one seed."""

    def __init__(self, n_sounds: int, n_hashtags: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.vocab = [_word(rng) for _ in range(1500)]
        self.sounds = []
        for i in range(n_sounds):
            title = self.title(rng)
            if rng.random() < 0.15:
                title += rng.choice([" (Sped Up)", " - Remix", " feat. " + _word(rng).title(), "!"])
            if rng.random() < 0.8:
                artist = f"{_word(rng, 4, 8).title()} {_word(rng, 4, 10).title()}"
            else:
                artist = _word(rng).upper()
            self.sounds.append(TrendingSound(f"73{i:017d}", title, artist, 1.0 - i / n_sounds))
        tags = _GENERIC_TAGS + [_word(rng, 3, 12) for _ in range(n_hashtags - len(_GENERIC_TAGS))]
        self.hashtags = {tag: min(1.0, 0.6 / (rank + 1) ** 0.9) for rank, tag in enumerate(tags)}

    def title(self, rng: random.Random) -> str:
        """1-4 words, 60% of them common song words, so unrelated titles often share a word."""
        words = [
            rng.choice(_SONG_WORDS) if rng.random() < 0.6 else rng.choice(self.vocab)
            for _ in range(rng.choice((1, 1, 2, 2, 3, 3, 4)))
        ]
        return " ".join(words).title()

    def snapshot(self) -> TrendSnapshot:
        return TrendSnapshot(
            day=NOW.date(), sounds=tuple(self.sounds), hashtags=dict(self.hashtags)
        )


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + text[i + 1 :]  # a letter dropped
    if kind == 1:
        return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :]  # a letter changed
    return text[:i] + text[i] + text[i:]  # a letter doubled


def make_requests(world: World, n: int, seed: int) -> list[AnalyzeRequest]:
    rng = random.Random(seed)
    tags = list(world.hashtags)
    out = []
    for _ in range(n):
        roll = rng.random()
        sound: dict | None
        if roll < 0.30:
            sound = None
        elif roll < 0.50:
            sound = {"name": f"original sound - {_word(rng)}", "original": True}
        elif roll < 0.80:
            s = rng.choice(world.sounds[:500])
            sound = {"name": s.name, "author": s.author if rng.random() < 0.5 else None, "id": None}
        elif roll < 0.90:
            s = rng.choice(world.sounds)
            sound = {"name": _typo(rng, s.name), "author": s.author if rng.random() < 0.5 else None}
        else:
            sound = {
                "name": world.title(rng),
                "author": f"{_word(rng).title()} {_word(rng).title()}",
            }
        picked = [
            tags[min(int(rng.paretovariate(0.6)) - 1, len(tags) - 1)]
            for _ in range(rng.randint(0, 8))
        ]
        picked = [t + "シ" if rng.random() < 0.05 else t for t in picked]
        if rng.random() < 0.3:
            picked.append("x" + _word(rng))  # a tag that is not trending
        words = " ".join(rng.choice(world.vocab) for _ in range(rng.randint(1, 40)))
        body = {
            "caption": words[:2000] + (f" #{rng.choice(tags)}" if rng.random() < 0.5 else ""),
            "hashtags": picked,
            "sound": sound,
            "duration_s": max(1, min(600, int(rng.lognormvariate(3.0, 0.8)))),
            "posted_at": (NOW - timedelta(minutes=rng.randrange(7 * 24 * 60))).isoformat(),
            "creator": {
                "handle": "@" + _word(rng),
                "followers": int(rng.lognormvariate(8, 2.5)),
                "verified": rng.random() < 0.05,
            },
        }
        out.append(AnalyzeRequest.model_validate(body))
    return out


# Stand-ins for the signals other ops compute (the champion model, the LLM judges).
ML, DEEPSEEK = Signal("ml", 32.0, True), Signal("deepseek", 58.0, True)
GEMINI_UP, GEMINI_DOWN = (
    Signal("gemini", 64.0, True),
    Signal.unavailable("gemini", "circuit breaker open"),
)


def other_signals(k: int) -> dict[str, Signal]:
    return {"ml": ML, "gemini": GEMINI_UP if k % 7 else GEMINI_DOWN, "deepseek": DEEPSEEK}


def score_one(request: AnalyzeRequest, snapshot: TrendSnapshot, k: int) -> float:
    req = normalize(request, now=NOW)
    signals = {"rules": score_rules(req), "trends": score_trends(req, snapshot), **other_signals(k)}
    probability, _ = calibrate(aggregate(signals, WEIGHTS).raw_probability, PARAMS)
    return probability


def other_columns(n: int) -> dict[str, list[Signal]]:
    """`other_signals` of requests 0..n-1, a column per signal, as `score_batch` takes them."""
    rows = [other_signals(k) for k in range(n)]
    return {name: [row[name] for row in rows] for name in ("ml", "gemini", "deepseek")}


def bench_batch(world: World, requests: list[AnalyzeRequest]) -> tuple[float, float, float]:
    """(requests/s by the wall clock, requests/s by this process's CPU time, snapshot build s)."""
    others = other_columns(len(requests))  # what the ML and LLM ops would give
    started = time.perf_counter()
    snapshot = world.snapshot()
    built = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    score_batch(requests, snapshot, others, WEIGHTS, PARAMS, now=NOW)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return len(requests) / wall, len(requests) / cpu, built


def bench_one_at_a_time(world: World, requests: list[AnalyzeRequest]) -> float:
    """Requests/s of the per-request functions in a loop over the same requests (a new snapshot)."""
    snapshot = world.snapshot()
    started = time.perf_counter()
    for k, request in enumerate(requests):
        score_one(request, snapshot, k)
    return len(requests) / (time.perf_counter() - started)


def bench_single(world: World, requests: list[AnalyzeRequest]) -> list[float]:
    snapshot = world.snapshot()
    times = []
    for k, request in enumerate(requests):
        started = time.perf_counter_ns()
        score_one(request, snapshot, k)
        times.append((time.perf_counter_ns() - started) / 1e6)
    return times


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stage_costs(world: World, requests: list[AnalyzeRequest]) -> dict[str, float]:
    """CPU microseconds per request of each stage of the batch path (cold memos)."""
    snapshot = world.snapshot()
    costs: dict[str, float] = {}
    started = time.process_time()
    normalized = [normalize(request, now=NOW) for request in requests]
    costs["normalize"] = time.process_time() - started
    started = time.process_time()
    rules = [score_rules(req) for req in normalized]
    costs["rules"] = time.process_time() - started
    started = time.process_time()
    trends = score_trends_many(normalized, snapshot)
    costs["trends"] = time.process_time() - started
    columns = {"rules": rules, "trends": trends, **other_columns(len(requests))}
    started = time.process_time()
    aggregates = aggregate_many(columns, WEIGHTS)
    costs["aggregate"] = time.process_time() - started
    started = time.process_time()
    calibrate_many(aggregates.raw_probability, PARAMS)
    costs["calibrate"] = time.process_time() - started
    return {stage: seconds / len(requests) * 1e6 for stage, seconds in costs.items()}


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count() or 1} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sounds", type=int, default=2_000)
    parser.add_argument("--hashtags", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"load average at start: {_load()}")

    world = World(args.sounds, args.hashtags)
    started = time.perf_counter()
    batch_requests = make_requests(world, args.requests, seed=1)
    print(
        f"engine bench: {args.sounds:,} trending sounds, {len(world.hashtags):,} hashtags; "
        f"{args.requests:,} requests built and validated in {time.perf_counter() - started:.1f} s (not timed)"
    )

    rates, cpu_rates, builds, speedups = [], [], [], []
    for r in range(args.repeats):
        rate, cpu_rate, built = bench_batch(world, batch_requests)
        one_rate = bench_one_at_a_time(world, batch_requests)  # right after, under the same load
        rates.append(rate)
        cpu_rates.append(cpu_rate)
        builds.append(built)
        speedups.append(rate / one_rate)
        print(
            f"  batch repeat {r + 1}: {rate:,.0f} requests/s ({cpu_rate:,.0f} per CPU second); "
            f"one at a time {one_rate:,.0f} requests/s (batch x{rate / one_rate:.2f})"
        )
    rate, cpu_rate = statistics.median(rates), statistics.median(cpu_rates)
    print(
        f"batch: median {rate:,.0f} requests/s (min {min(rates):,.0f}, max {max(rates):,.0f}); "
        f"median {cpu_rate:,.0f} per CPU second; {statistics.median(speedups):.2f}x one at a time; "
        f"snapshot build {statistics.median(builds) * 1000:.0f} ms (once per snapshot, not timed)"
    )
    costs = stage_costs(world, batch_requests)
    print(
        "  CPU us per request by stage of the batch: "
        + ", ".join(f"{stage} {us:.1f}" for stage, us in costs.items())
    )

    p50s, p95s, maxes = [], [], []
    for r in range(args.repeats):
        times = bench_single(world, make_requests(world, args.single, seed=100 + r))
        p50s.append(_quantile(times, 0.50))
        p95s.append(_quantile(times, 0.95))
        maxes.append(max(times))
    p50, p95 = statistics.median(p50s), statistics.median(p95s)
    print(
        f"single: median p50 {p50:.3f} ms, p95 {p95:.3f} ms, max {statistics.median(maxes):.2f} ms "
        f"({args.single:,} distinct requests x {args.repeats}, cold memo)"
    )
    print(f"load average at end: {_load()}")

    ok_batch, ok_single = rate >= TARGET_RPS, p95 < TARGET_P95_MS
    print(
        f"  {'PASS' if ok_batch else 'FAIL'} batch (target >= {TARGET_RPS:,} requests/s by the wall clock; "
        f"{'met' if cpu_rate >= TARGET_RPS else 'not met'} per CPU second)"
    )
    print(f"  {'PASS' if ok_single else 'FAIL'} single (target p95 < {TARGET_P95_MS:g} ms)")
    return 0 if ok_batch and ok_single else 1


if __name__ == "__main__":
    sys.exit(main())
