"""What a rate limit check costs each API request: `store.rate_limits.admit` (one INSERT ... ON
CONFLICT DO UPDATE ... RETURNING in its own transaction) on a SQLite file and on a throwaway
PostgreSQL 15 server.

Measured, per database: `--calls` checks one after another (median and p95 ms), then the same
number spread over `--threads` threads at once on one engine (checks/s, and that exactly the limit
was admitted: the counter is exact under contention). One caller, one group, one window, as the
busiest caller meets it.

Run from the repo root:  .venv/bin/python bench/rate_limits.py [--calls N] [--threads T] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import sqlalchemy as sa  # noqa: E402

from viral_pipeline.store.db import create_db_engine, migrate  # noqa: E402
from viral_pipeline.store.rate_limits import admit  # noqa: E402

WINDOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def sequential(engine: sa.Engine, calls: int) -> list[float]:
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        admit(engine, "sequential", "analyze", WINDOW, calls)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def concurrent(engine: sa.Engine, calls: int, threads: int) -> tuple[float, int]:
    """Seconds for `calls` checks over `threads` threads, and how many were admitted against a
    limit of half the calls."""
    limit = calls // 2
    admitted = []
    start = threading.Barrier(threads + 1)

    def hammer() -> None:
        start.wait()
        mine = [
            admit(engine, "concurrent", "analyze", WINDOW, limit) for _ in range(calls // threads)
        ]
        admitted.extend(answer for answer in mine if answer is not None)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, len(admitted)


def bench(name: str, url: str, calls: int, threads: int) -> None:
    engine = create_db_engine(url)
    try:
        migrate(engine)
        durations = sequential(engine, calls)
        p95 = statistics.quantiles(durations, n=20)[-1]
        print(
            f"{name}: sequential {calls} checks: median {statistics.median(durations):.2f} ms, "
            f"p95 {p95:.2f} ms",
            flush=True,
        )
        seconds, admitted = concurrent(engine, calls, threads)
        print(
            f"{name}: {threads} threads, {calls} checks: {calls / seconds:,.0f} checks/s, "
            f"admitted {admitted} of a limit of {calls // 2}",
            flush=True,
        )
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # A plain `kill` unwinds like Ctrl-C, so temp files go and the PostgreSQL server stops.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(
        "load average at start: {:.1f} {:.1f} {:.1f} ({} CPUs)".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    with tempfile.TemporaryDirectory() as folder:
        bench("sqlite", f"sqlite:///{folder}/limits.db", args.calls, args.threads)
    if args.skip_postgres:
        print("postgresql: skipped (--skip-postgres)")
    else:
        from viral_pipeline_tests.postgres_server import PostgresServer, find_binaries

        binaries = find_binaries()
        if binaries is None:
            print("postgresql: skipped (initdb/pg_ctl not found; apt-get install postgresql)")
        else:
            server = PostgresServer(binaries)
            try:
                server.start()
                url = server.create_database("bench_rate_limits")
                bench("postgresql", url, args.calls, args.threads)
            finally:
                server.stop()
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
