"""One request's fuzzy sound search, as a `predict` run pays it: the first query in a fresh process,
then the next ones.

Each run is a fresh Python process (a `predict` run is one). It builds a `TrendSnapshot` of
`--sounds` trending sounds (the sounds of `bench/engine.py`'s world; timed as "snapshot build"),
then calls `match_sound` for `--queries` distinct requests, every one of which needs a fuzzy
search: half are trending names with a typo (half of those with the sound's author), half are
titles that are not trending (with an author). The first query is a misspelt trending name with
its author, timed alone ("first query"); the rest give the per-query median and p95. Each query is
timed by the clock and by the process's CPU time: on a busy machine a query that loses the CPU
mid-way takes milliseconds by the clock, so compare the CPU figures across loads. `--runs`
processes; the figures printed last are the medians over the runs.

Run from the repo root:  .venv/bin/python bench/sound_search.py [--runs 7] [--queries 300] [--sounds 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

FIGURES = (
    "build_ms",
    "first_ms",
    "first_cpu_ms",
    "median_us",
    "median_cpu_us",
    "p95_us",
    "p95_cpu_us",
)


def _child(n_sounds: int, n_queries: int, seed: int) -> dict[str, float]:
    from bench.engine import World, _typo, _word
    from viral_pipeline.engine.inputs.request import NormalizedRequest
    from viral_pipeline.engine.signals.trends_match import match_sound

    world = World(n_sounds, 50)
    rng = random.Random(seed)

    def request(name: str, author: str | None) -> NormalizedRequest:
        return NormalizedRequest(
            caption="",
            hook=None,
            hashtags=[],
            sound_name=name,
            sound_author=author,
            sound_id=None,
            sound_original=None,
            duration_s=20,
            posted_at=datetime(2026, 11, 20, tzinfo=UTC),
            creator_handle=None,
            followers=None,
            verified=None,
        )

    first = rng.choice(world.sounds)
    queries = [request(_typo(rng, first.name), first.author)]
    for k in range(1, n_queries):
        if k % 2:
            sound = rng.choice(world.sounds)
            queries.append(request(_typo(rng, sound.name), sound.author if k % 4 == 1 else None))
        else:
            queries.append(request(world.title(rng), f"{_word(rng).title()} {_word(rng).title()}"))

    started = time.perf_counter_ns()
    snapshot = world.snapshot()
    build = time.perf_counter_ns() - started
    wall, cpu = [], []
    for req in queries:
        started, cpu_started = time.perf_counter_ns(), time.process_time_ns()
        match_sound(req, snapshot)
        cpu.append(time.process_time_ns() - cpu_started)
        wall.append(time.perf_counter_ns() - started)

    def p95(values: list[int]) -> float:
        return sorted(values)[min(len(values) - 1, int(0.95 * len(values)))]

    return {
        "build_ms": build / 1e6,
        "first_ms": wall[0] / 1e6,
        "first_cpu_ms": cpu[0] / 1e6,
        "median_us": statistics.median(wall[1:]) / 1e3,
        "median_cpu_us": statistics.median(cpu[1:]) / 1e3,
        "p95_us": p95(wall[1:]) / 1e3,
        "p95_cpu_us": p95(cpu[1:]) / 1e3,
    }


def _figures(figures: dict[str, float]) -> str:
    return (
        f"snapshot build {figures['build_ms']:.1f} ms; first query {figures['first_ms']:.2f} ms "
        f"(CPU {figures['first_cpu_ms']:.2f}); next queries median {figures['median_us']:.0f} us "
        f"(CPU {figures['median_cpu_us']:.0f}), p95 {figures['p95_us']:.0f} us "
        f"(CPU {figures['p95_cpu_us']:.0f})"
    )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count() or 1} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--sounds", type=int, default=2_000)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.sounds, args.queries, args.child)))
        return 0

    print(f"load average at start: {_load()}")
    print(
        f"sound search bench: {args.sounds:,} trending sounds, {args.queries} distinct fuzzy "
        f"queries per fresh process, {args.runs} processes"
    )
    runs = []
    for run in range(args.runs):
        command = [sys.executable, __file__, "--child", str(run)]
        command += ["--queries", str(args.queries), "--sounds", str(args.sounds)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        figures = json.loads(out.splitlines()[-1])
        runs.append(figures)
        print(f"  run {run + 1}: {_figures(figures)}")
    medians = {name: statistics.median(run[name] for run in runs) for name in FIGURES}
    print(f"medians of {args.runs} runs: {_figures(medians)}")
    print(f"load average at end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
