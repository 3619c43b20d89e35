"""`trending_sounds` full recompute over 100k and 1M simulated videos: seconds and peak memory.

Per size, `scraped_videos` is filled with simulated videos over DAYS past days (so the day-before
and 7-day windows matter) through the real loader, timed but not the measured step; PostgreSQL
gets the largest SQLite file's rows by COPY. Measured: `compute_trending_sounds(engine)` (full
recompute: delete every day, one INSERT ... SELECT), `--repeats` times on SQLite and
`--pg-repeats` times on PostgreSQL, each in a fresh subprocess, whose peak RSS (VmHWM) is then
the computation's plus the interpreter's (printed as "baseline"); SQLite runs in that process.
On PostgreSQL the server backend's peak RSS and its work_mem are printed as well.

Targets: 1M videos in at most 60 s (median) with peak RSS under 2 GiB.

Run from the repo root:  .venv/bin/python bench/trends.py [--sizes 100000,1000000] [--repeats 3]
                         [--pg-repeats 1] [--skip-postgres] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import sqlalchemy as sa  # noqa: E402

from viral_pipeline.store.db import create_db_engine, migrate  # noqa: E402
from viral_pipeline.store.trends import compute_trending_sounds  # noqa: E402

DAYS = 60
TARGET_S, TARGET_SIZE, TARGET_RSS_MIB = 60.0, 1_000_000, 2048


def fill(url: str, size: int) -> None:
    """Migrate and load `size` simulated items over DAYS past days; print the load time."""
    # Imported here, not at the top: the computing child process need not carry numpy & co.
    from viral_pipeline.engine.world.simulated import iter_days
    from viral_pipeline.store.videos import ingest_items

    engine = create_db_engine(url)
    try:
        migrate(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        start = (now - timedelta(days=DAYS + 1)).date()
        started, stored = time.perf_counter(), 0
        for day in iter_days(start, DAYS, -(-size // DAYS)):  # one day in memory at a time
            stored += ingest_items(
                engine, day.items, source="bench", batch=str(day.day), now=now
            ).stored
        seconds = time.perf_counter() - started
        print(
            f"  load sqlite {size:,} items ({stored:,} videos stored): {seconds:.0f} s "
            f"(generate + parse + upsert, {size / seconds:,.0f} items/s; not the measured step)",
            flush=True,
        )
    finally:
        engine.dispose()


def copy_to_postgres(sqlite_path: Path, url: str) -> None:
    """Fill PostgreSQL with the very rows of the filled SQLite file by COPY: the same videos, and
    minutes faster than the loader (whose PostgreSQL speed bench/ingest.py measures)."""
    from viral_pipeline.store.schema import scraped_videos

    engine, source = create_db_engine(url), sqlite3.connect(sqlite_path)
    columns = ", ".join(column.name for column in scraped_videos.columns)
    # In CSV an empty unquoted field is NULL, except in these columns, where it is "".
    not_null = ", ".join(column.name for column in scraped_videos.columns if not column.nullable)
    started = time.perf_counter()
    try:
        migrate(engine)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SET TimeZone = 'UTC'")  # SQLite holds the datetimes as naive UTC text
            rows = source.execute(f"SELECT {columns} FROM scraped_videos")
            while batch := rows.fetchmany(100_000):
                buffer = io.StringIO()
                csv.writer(buffer).writerows(batch)
                buffer.seek(0)
                cursor.copy_expert(
                    f"COPY scraped_videos ({columns}) FROM STDIN "
                    f"WITH (FORMAT csv, FORCE_NOT_NULL ({not_null}))",
                    buffer,
                )
            cursor.execute(
                "ANALYZE scraped_videos"
            )  # planner statistics, as autovacuum would gather
            raw.commit()
        finally:
            raw.close()
        count = source.execute("SELECT COUNT(*) FROM scraped_videos").fetchone()[0]
        print(
            f"  load postgresql: {count:,} videos copied from the SQLite file in "
            f"{time.perf_counter() - started:.0f} s (COPY; not the measured step)",
            flush=True,
        )
    finally:
        source.close()
        engine.dispose()


def peak_rss_kib(pid: int | str = "self") -> int:
    """VmHWM, the peak RSS of one process. Not ru_maxrss: on Linux a child's ru_maxrss starts
    from its parent's peak (kept across fork and exec), which would count the generator's memory."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # no /proc (macOS): ru_maxrss is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if pid == "self" else 0
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))


def compute_once(url: str) -> None:
    """Child process: one full recompute; prints its figures as one JSON line for the parent."""
    engine = create_db_engine(url)
    backend_pid, work_mem = None, None
    with engine.connect() as connection:  # connect first, so the baseline includes it
        if engine.dialect.name == "postgresql":
            backend_pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            work_mem = connection.execute(sa.text("SHOW work_mem")).scalar()
    baseline = peak_rss_kib()
    started, cpu = time.perf_counter(), time.process_time()
    rows = compute_trending_sounds(engine)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak, server_peak = peak_rss_kib(), None
    with engine.connect() as connection:  # the pool hands back the same connection: same backend
        if (
            backend_pid is not None
            and connection.execute(sa.text("SELECT pg_backend_pid()")).scalar() == backend_pid
        ):
            server_peak = peak_rss_kib(backend_pid) / 1024
    engine.dispose()
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "cpu": cpu,
                "baseline_mib": baseline / 1024,
                "peak_mib": peak / 1024,
                "server_peak_mib": server_peak,
                "work_mem": work_mem,
            }
        )
    )


def measure(label: str, url: str, size: int, repeats: int) -> float:
    """`repeats` recomputes, each in a fresh process; prints the figures, returns the median s."""
    runs = []
    for _ in range(repeats):
        child = subprocess.run(
            [sys.executable, __file__, "--compute", url], capture_output=True, text=True
        )
        if child.returncode != 0:
            raise RuntimeError(f"the computing process failed:\n{child.stderr}")
        runs.append(json.loads(child.stdout))
    seconds = sorted(run["seconds"] for run in runs)
    median, cpu = statistics.median(seconds), statistics.median(run["cpu"] for run in runs)
    peak = max(run["peak_mib"] for run in runs)
    server_peak = max(run["server_peak_mib"] or 0.0 for run in runs)
    verdict = ""
    if size == TARGET_SIZE:  # on PostgreSQL the memory that counts is the server backend's
        ok = median <= TARGET_S and max(peak, server_peak) < TARGET_RSS_MIB
        verdict = (
            f"  {'PASS' if ok else 'FAIL'} (target <= {TARGET_S:.0f} s, < {TARGET_RSS_MIB} MiB)"
        )
    print(
        f"{label:<11} {size:>9,} videos: {runs[0]['rows']:,} rows, median {median:.1f} s (range "
        f"{seconds[0]:.1f} .. {seconds[-1]:.1f}, n={repeats}; CPU {cpu:.1f} s in this process), "
        f"peak RSS {peak:.0f} MiB (baseline {runs[0]['baseline_mib']:.0f} MiB before computing){verdict}",
        flush=True,
    )
    if server_peak:
        print(
            f"{'':<11} server backend peak RSS (VmHWM) {server_peak:.0f} MiB incl. shared buffers "
            f"touched; work_mem {runs[0]['work_mem']} per sort/hash, larger sorts spill to disk",
            flush=True,
        )
    return median


def run(args: argparse.Namespace, workdir: Path) -> None:
    medians: dict[int, float] = {}
    for size in args.sizes:
        path = workdir / f"trends_{size}.db"
        for stale in (
            path,
            Path(f"{path}-wal"),
            Path(f"{path}-shm"),
        ):  # left by an earlier --keep run
            stale.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        fill(url, size)
        medians[size] = measure("sqlite", url, size, args.repeats)
    if len(medians) > 1:
        small, large = min(medians), max(medians)
        print(
            f"growth: {large:,} / {small:,} videos = {large / small:.0f}x data, "
            f"{medians[large] / medians[small]:.1f}x time (sqlite medians)"
        )
    if args.skip_postgres:
        print("postgresql: skipped (--skip-postgres)")
        return
    from viral_pipeline_tests.postgres_server import PostgresServer, find_binaries

    binaries = find_binaries()
    if binaries is None:
        print("postgresql: skipped (initdb/pg_ctl not found; apt-get install postgresql)")
        return
    server = PostgresServer(binaries)
    try:
        server.start()
        url, size = server.create_database("bench_trends"), max(args.sizes)
        copy_to_postgres(workdir / f"trends_{size}.db", url)
        measure("postgresql", url, size, args.pg_repeats)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100_000, 1_000_000]
    )
    parser.add_argument("--repeats", type=int, default=3, help="SQLite recomputes per size")
    parser.add_argument(
        "--pg-repeats", type=int, default=1, help="PostgreSQL recomputes (largest size)"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the SQLite files in this directory")
    parser.add_argument("--compute", metavar="URL", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.compute:
        compute_once(args.compute)
        return 0
    # A plain `kill` unwinds like Ctrl-C, so temp files go and the PostgreSQL server stops.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    print(
        "load average at start: {:.1f} {:.1f} {:.1f} ({} CPUs)".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="vp-bench-trends-"))
    try:
        run(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print("load average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
