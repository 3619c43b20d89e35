"""Request-to-result latency through the real daemon, against the floor Dagster itself imposes,
in the embedded topology and (with --topologies) in the production one for each run launcher.

For each topology it measures (a) the floor: a one-op job launched by a sensor built like
prediction_requests (bench/latency_location.py), and (b) the real path: POST /api/analyze →
prediction_requests → predict → succeeded. Sequential requests each wait a seeded uniform random
0–5 s first (both paths see the same waits, so the same expected sensor wait); then a burst.
Prints per topology and path: p50/p95 sequential, the p50 of the three legs from Dagster's own
records (sensor, queue+launch, execution), the burst's completion time, lost/duplicated, and CPU
seconds per prediction over the burst (bench/proc_cpu.py). Targets for persistent workers (celery):
p50 sequential ≤ 3.5 s, a burst of 100 done within 60 s; for the embedded topology: real/floor p50
ratio ≤ 1.3 and no request lost or duplicated.

    .venv/bin/python bench/latency.py [--sequential 20] [--burst 100] [--timeout 900]
        [--topologies embedded,default,celery] [--paths floor,real] [--seed 14]
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.latency_paths import (  # noqa: E402
    LEGS,
    Floor,
    Real,
    burst,
    duplicated,
    legs,
    median_legs,
    pct,
    sequential,
)
from bench.latency_topologies import TOPOLOGIES, BenchTopology  # noqa: E402
from bench.proc_cpu import CpuWindow  # noqa: E402

# Persistent workers' targets (issue: the sensor leg alone averages about 2.5 s).
P50_TARGET_S, BURST_TARGET_S, RATIO_TARGET = 3.5, 60.0, 1.3


@dataclass
class Row:
    topology: str
    path: str
    p50: float = float("nan")
    p95: float = float("nan")
    legs: dict[str, float] | None = None
    burst_s: float = float("nan")
    burst_p50: float = float("nan")
    lost: int = 0
    duplicated: int = 0
    cpu_per: float = float("nan")
    machine_cpu_per: float = float("nan")


def measure_path(topology: BenchTopology, name: str, args: argparse.Namespace) -> Row:
    path = (
        Floor(topology.db_url)
        if name == "floor"
        else Real(topology.api_url, topology.db_url, topology.token)
    )
    sequential(path, 2, 180, seed=0)  # warm-up: the daemon's and code server's first loads
    row = Row(topology.name, name)
    with topology.instance() as instance:
        if args.sequential:
            seq = sequential(path, args.sequential, args.timeout, seed=args.seed)
            row.p50, row.p95 = pct(seq.latencies, 0.5), pct(seq.latencies, 0.95)
            row.legs = median_legs(legs(instance, path, seq.keys))
            row.lost += seq.lost
            row.duplicated += duplicated(instance, path, seq.keys)
            print(
                f"  {topology.name} {name} sequential: {row.p50:.2f} s p50, {row.legs}", flush=True
            )
        if args.burst:
            cpu = CpuWindow(topology.service_pids()).start()
            bur = burst(path, args.burst, args.timeout)
            cpu.stop()
            row.burst_s, row.burst_p50 = bur.wall_s, pct(bur.latencies, 0.5)
            row.lost += bur.lost
            row.duplicated += duplicated(instance, path, bur.keys)
            row.cpu_per = cpu.services_s / args.burst
            row.machine_cpu_per = cpu.machine_s / args.burst
    return row


def print_row(row: Row) -> None:
    leg = row.legs or {}
    print(
        f"{row.topology:9s} {row.path:5s} {row.p50:6.2f} {row.p95:6.2f}  "
        + " ".join(f"{leg.get(name, float('nan')):6.2f}" for name in LEGS)
        + f"  {row.burst_s:7.1f} {row.burst_p50:6.1f}  {row.lost:2d}/{row.duplicated:<2d}"
        f"  {row.cpu_per:5.2f} ({row.machine_cpu_per:5.2f})",
        flush=True,
    )


HEADER = "topology  path    p50    p95  sensor queue+ exec    burst  b-p50  lost/dup  CPU s/pred (machine)"


def verdicts(rows: list[Row]) -> dict[str, bool]:
    found: dict[str, bool] = {
        "none lost, none duplicated": all(r.lost == 0 and r.duplicated == 0 for r in rows)
    }
    by = {(r.topology, r.path): r for r in rows}
    if ("embedded", "floor") in by and ("embedded", "real") in by:
        ratio = by[("embedded", "real")].p50 / by[("embedded", "floor")].p50
        found[f"embedded p50 ratio real/floor {ratio:.2f} <= {RATIO_TARGET}"] = (
            ratio <= RATIO_TARGET
        )
    if (celery := by.get(("celery", "real"))) is not None:
        found[f"celery p50 {celery.p50:.2f} s <= {P50_TARGET_S} s"] = celery.p50 <= P50_TARGET_S
        if celery.burst_s == celery.burst_s:  # a burst ran (not NaN)
            found[f"celery burst done in {celery.burst_s:.1f} s <= {BURST_TARGET_S} s"] = (
                celery.burst_s <= BURST_TARGET_S
            )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--topologies", default="embedded", help=f"comma list of {list(TOPOLOGIES)}"
    )
    parser.add_argument("--paths", default="floor,real")
    parser.add_argument("--seed", type=int, default=14, help="seed of the random phase waits")
    args = parser.parse_args()
    # `kill` runs the cleanup below too (the services it started would outlive it otherwise).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[Row] = []
    for name in args.topologies.split(","):
        print(f"{name}: starting (bootstrap, services)...", flush=True)
        began = time.monotonic()
        with TOPOLOGIES[name]() as topology:
            print(f"{name}: up in {time.monotonic() - began:.0f} s", flush=True)
            for path in args.paths.split(","):
                rows.append(measure_path(topology, path, args))
                print_row(rows[-1])
    print()
    print(HEADER)
    for row in rows:
        print_row(row)
    found = verdicts(rows)
    for label, ok in found.items():
        print(f"  {'PASS' if ok else 'FAIL'} {label}")
    return 0 if all(found.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
