"""What the what-if suggestions add to a predict run, in milliseconds, against the run's p50.

Measured, `--repeats` times each (median and max printed):

- **suggestions**: `what_if.suggest` as the `ml` op calls it: the candidates, their rows
  (`model_row`, the creator history at each candidate hour, the candidates' sounds matched against
  the snapshot together) and one matrix call of the compiled champion. The champion is trained
  with the production parameters (`ModelParams()`) on the bundled set; the snapshot has
  `--sounds` trending sounds and `--hashtags` tags, as `load_trend_snapshot`'s defaults allow;
  the creator has `--prior` earlier videos (the most prolific creator of bench/creator_history.py
  has 179). The request's own sound is matched first, as the trends op has done by then.
- **one row**: the champion's probability of the request alone, what the `ml` op computed before.
- **an extra op**: the same two-op job with and without a third op taking one input, run by
  `execute_in_process` on a SQLite-backed instance (what the daemon's runs write to), alternated;
  the difference of the medians is what giving the suggestions their own op would cost
  (`--op-runs 0` skips it).

Run from the repo root:  .venv/bin/python bench/what_if.py [--repeats 30] [--prior 179]
                         [--sounds 2000] [--hashtags 500] [--op-runs 15] [--p50-ms 4960]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from viral_pipeline.engine.inputs.request import AnalyzeRequest, model_row, normalize  # noqa: E402
from viral_pipeline.engine.model import what_if  # noqa: E402
from viral_pipeline.engine.model.creator_history import PriorHistory, PriorVideo  # noqa: E402
from viral_pipeline.engine.signals.trends_match import (  # noqa: E402
    TrendingSound,
    TrendSnapshot,
    sound_trend_score,
)

# Like test_what_if.py's request by shape only: the bench states its own inputs, as the tests do.
POSTED = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)
REQUEST = {
    "caption": "The 10-minute pasta that broke my kitchen #food #recipe #fyp",
    "hashtags": ["easyrecipe", "cooking"],
    "sound": {"name": "golden dreams", "author": "someone", "original": False},
    "duration_s": 24,
    "posted_at": POSTED.isoformat(),
    "creator": {"handle": "chef", "followers": 25000},
}


def _champion():
    from viral_pipeline.engine.model.classifier import ModelParams, train_calibrated
    from viral_pipeline.ml.compiled import compile_model
    from viral_pipeline.ml.loaded import LoadedModel
    from viral_pipeline_tests.bundled_features import bundled_features

    _, X, y = bundled_features()
    cut = int(len(X) * 0.7)
    model = train_calibrated(X[:cut], y[:cut], X[cut:], y[cut:], ModelParams())
    return LoadedModel("viral_classifier", "bench", compile_model(model), 0.2)


def _snapshot(sounds: int, hashtags: int) -> TrendSnapshot:
    return TrendSnapshot(
        day=date(2026, 11, 27),
        sounds=tuple(
            TrendingSound(
                str(7_000_000_000_000_000_000 + k), f"song {k} night", f"artist {k}", 1 - k / sounds
            )
            for k in range(sounds)
        ),
        hashtags={f"tag{k}": 0.5 / (k + 1) for k in range(hashtags)},
    )


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _ms(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} ms (max {max(times):.2f})"


def _timed(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _extra_op_ms(runs: int) -> tuple[list[float], list[float]]:
    import dagster as dg

    @dg.op
    def first() -> int:
        return 1

    @dg.op
    def second(value: int) -> int:
        return value + 1

    @dg.op
    def third(value: int) -> int:
        return value + 1

    @dg.job
    def two_ops():
        second(first())

    @dg.job
    def three_ops():
        third(second(first()))

    without, with_extra = [], []
    with tempfile.TemporaryDirectory(prefix="bench_what_if_") as home:
        with dg.DagsterInstance.local_temp(home) as instance:
            two_ops.execute_in_process(instance=instance, run_config=QUIET)  # warm up both
            three_ops.execute_in_process(instance=instance, run_config=QUIET)
            for _ in range(runs):
                for job, times in ((two_ops, without), (three_ops, with_extra)):
                    began = time.perf_counter()
                    assert job.execute_in_process(instance=instance, run_config=QUIET).success
                    times.append((time.perf_counter() - began) * 1000)
    return without, with_extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--prior", type=int, default=179)
    parser.add_argument("--sounds", type=int, default=2000)
    parser.add_argument("--hashtags", type=int, default=500)
    parser.add_argument("--op-runs", type=int, default=15)
    parser.add_argument(
        "--p50-ms", type=float, default=4960, help="a predict run's p50 (bench/latency.py)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    champion = _champion()
    snapshot = _snapshot(args.sounds, args.hashtags)
    request = normalize(AnalyzeRequest.model_validate(REQUEST))
    prior = [
        PriorVideo(POSTED - timedelta(hours=6 * (k + 1)), 1000 * (k + 1), 2000, 1000)
        for k in range(args.prior)
    ]

    history_at = PriorHistory(prior, quantile=0.9, window_days=1).at  # as the ml op builds it
    # What the ml op's one count of recent hashtag uses returns (its query is timed by
    # bench/creator_history.py): a few hundred videos for each tag counted.
    found = what_if.candidates(request, snapshot)
    tag_uses = {tag: 100 + 37 * k for k, tag in enumerate(what_if.hashtags_counted(request, found))}

    trend = sound_trend_score(request, snapshot)  # what the trends op has matched already
    base = champion.probability(model_row(request, trend, history_at(request.posted_at), tag_uses))

    def suggest():
        return what_if.suggest(
            request,
            what_if.candidates(request, snapshot),
            base_probability=base,
            snapshot=snapshot,
            history_at=history_at,
            tag_uses=tag_uses,
            score=champion.probabilities,
            model_version="bench",
        )

    one = _timed(
        lambda: champion.probability(
            model_row(request, trend, history_at(request.posted_at), tag_uses)
        ),
        args.repeats,
    )
    added = _timed(suggest, args.repeats)
    scored = suggest().candidates_scored
    print(f"champion: {champion.model.kind}, {len(champion.model.roots)} trees")
    print(f"one row (the request alone): {_ms(one)}")
    print(
        f"suggestions ({scored} candidates, {args.prior} earlier videos, {args.sounds} sounds): "
        f"{_ms(added)} = {statistics.median(added) / args.p50_ms:.2%} of a {args.p50_ms:.0f} ms p50"
    )
    if args.op_runs:  # 0 skips the Dagster part
        without, with_extra = _extra_op_ms(args.op_runs)
        extra = statistics.median(with_extra) - statistics.median(without)
        print(
            f"job of 2 ops: {_ms(without)}; of 3 ops: {_ms(with_extra)}; an extra op: "
            f"{extra:.1f} ms = {extra / args.p50_ms:.2%} of the p50"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
