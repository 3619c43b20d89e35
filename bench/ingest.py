"""Loader throughput: parse + upsert of simulated scraper items, in items per second.

Measured (each `--repeats` times; median, min and max printed):
- parse only: `parse_item` over every item, no database;
- insert: `ingest_items` into a fresh, migrated database (parse + upsert + quarantine of the
  ~1.5% malformed items), first on a SQLite file, then on a throwaway PostgreSQL 15 server;
- update: the same items a second time into that database (every row exists: the update path).
Items are generated up front (not timed), over past days so none is "in the future".
Throughput counts every item handed to the loader, rejected ones included.

Target: at least 20,000 items/s for the SQLite insert (median).

Run from the repo root:  .venv/bin/python bench/ingest.py [--items N] [--repeats R] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy.engine import make_url  # noqa: E402

from viral_pipeline.engine.inputs.items import parse_item  # noqa: E402
from viral_pipeline.engine.world.simulated import iter_days  # noqa: E402
from viral_pipeline.store.db import create_db_engine, migrate  # noqa: E402
from viral_pipeline.store.videos import ingest_items  # noqa: E402

TARGET_ITEMS_PER_S = 20_000
DAYS = 5


def generate(n_items: int) -> tuple[list[dict], datetime]:
    """n_items simulated items over DAYS past days, and the `now` to parse them with."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now - timedelta(days=DAYS + 1)).date()
    per_day = -(-n_items // DAYS)
    items = [item for day in iter_days(start, DAYS, per_day) for item in day.items][:n_items]
    return items, now


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one call."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def report(
    label: str, n: int, runs: list[tuple[float, float]], target: float | None = None
) -> None:
    """Median and range of wall-clock items/s; per CPU-second too, which a busy machine disturbs
    less (this process only: the PostgreSQL server's CPU is not in it)."""
    rates = sorted(n / wall for wall, _ in runs)
    median, per_cpu = statistics.median(rates), statistics.median(n / cpu for _, cpu in runs)
    verdict = (
        ""
        if target is None
        else f"  {'PASS' if median >= target else 'FAIL'} (target >= {target:,.0f}/s)"
    )
    print(
        f"{label:<28} median {median:>7,.0f} items/s  range {rates[0]:>7,.0f} .. {rates[-1]:>7,.0f}"
        f"  [{per_cpu:>7,.0f}/CPU-s]  ({n:,} items x {len(runs)}){verdict}",
        flush=True,
    )


def bench_database(
    label: str,
    new_url: Callable[[int], str],
    drop: Callable[[str], None],
    items: list[dict],
    now: datetime,
    repeats: int,
    target: float | None,
) -> None:
    """Per repeat: a fresh database, an insert pass, then an update pass of the same items."""
    inserts, updates = [], []
    for run in range(repeats):
        url = new_url(run)
        engine = create_db_engine(url)
        try:
            migrate(engine)

            def load(engine=engine, batch=f"run-{run}"):
                return ingest_items(engine, items, source="bench", batch=batch, now=now)

            inserts.append(timed(load))
            updates.append(timed(load))
        finally:
            engine.dispose()
            drop(url)
    report(f"{label} insert", len(items), inserts, target)
    report(f"{label} update (2nd pass)", len(items), updates)


def bench_sqlite(items: list[dict], now: datetime, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vp-bench-") as tmp:

        def new_url(run: int) -> str:
            return f"sqlite:///{tmp}/run{run}.db"

        def drop(url: str) -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{make_url(url).database}{suffix}").unlink(missing_ok=True)

        bench_database("sqlite", new_url, drop, items, now, repeats, TARGET_ITEMS_PER_S)


def bench_postgres(items: list[dict], now: datetime, repeats: int) -> None:
    from viral_pipeline_tests.postgres_server import PostgresServer, find_binaries

    binaries = find_binaries()
    if binaries is None:
        print("postgresql: skipped (initdb/pg_ctl not found; apt-get install postgresql)")
        return
    server = PostgresServer(binaries)
    try:
        server.start()
        bench_database(
            "postgresql",
            lambda run: server.create_database(f"bench_ingest_{run}"),
            lambda url: server.drop_database(make_url(url).database or ""),
            items,
            now,
            repeats,
            None,
        )
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # A plain `kill` unwinds like Ctrl-C, so temp files go and the PostgreSQL server stops.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.perf_counter()
    print(
        "load average at start: {:.1f} {:.1f} {:.1f} ({} CPUs)".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    items, now = generate(args.items)
    print(
        f"generated {len(items):,} items over {DAYS} days in {time.perf_counter() - started:.1f} s "
        f"(not timed below)",
        flush=True,
    )
    report(
        "parse only",
        len(items),
        [timed(lambda: [parse_item(i, now=now) for i in items]) for _ in range(args.repeats)],
    )
    bench_sqlite(items, now, args.repeats)
    if args.skip_postgres:
        print("postgresql: skipped (--skip-postgres)")
    else:
        bench_postgres(items, now, args.repeats)
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
