"""The two paths bench/latency.py times, and how it times them.

A path is something a request goes through to a finished Dagster run: the floor (a row in
`latency_probes`, turned into a one-op run by a sensor built like `prediction_requests`,
bench/latency_location.py) or the real path (POST /api/analyze → `prediction_requests` →
`predict`). Both are watched through the app database (SQLite or PostgreSQL, by its URL), and
both report when each request's row was inserted, so the sensor leg starts at the same point.

Sequential requests wait a uniform random 0 to PHASE_WINDOW_S seconds before each one (the same
seeded sequence for both paths): a request sent as soon as the previous one finished lands at a
fixed phase of the daemon's 5 s loop, and the two paths, whose runs end at different phases, would
see different sensor waits.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx
import sqlalchemy as sa

from viral_pipeline.store.db import create_db_engine

# Dagster's sensor daemon loops every 5 s (MIN_INTERVAL_LOOP_TIME): a uniform wait over one loop
# puts requests at every phase of it with equal odds.
PHASE_WINDOW_S = 5.0

REQUEST = {
    "caption": "The 10-minute pasta that broke my kitchen #food #recipe #fyp",
    "duration_s": 24,
    "creator": {"handle": "chef", "followers": 25000},
    "hook": "I tried the viral pasta",
}

PROBES = sa.Table(
    "latency_probes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("probe_id", sa.String(32), unique=True, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def epoch(value: datetime | float) -> float:
    """Seconds since the epoch; a naive datetime is UTC (SQLite returns stored UTC times naive)."""
    if isinstance(value, int | float):
        return float(value)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class RequestPath(Protocol):
    tag: str  # the Dagster run tag holding the request's key

    def submit(self) -> str: ...
    def finished(self, keys: list[str]) -> set[str]: ...
    def inserted_at(self, keys: list[str]) -> dict[str, float]: ...


class Floor:
    tag = "probe_id"

    def __init__(self, db_url: str) -> None:
        self.engine = create_db_engine(db_url)
        PROBES.metadata.create_all(self.engine)

    def submit(self) -> str:
        probe_id = uuid.uuid4().hex
        with self.engine.begin() as con:
            con.execute(
                sa.insert(PROBES).values(probe_id=probe_id, status="queued", created_at=time.time())
            )
        return probe_id

    def finished(self, keys: list[str]) -> set[str]:
        with self.engine.connect() as con:
            rows = con.execute(
                sa.select(PROBES.c.probe_id).where(
                    PROBES.c.status == "done", PROBES.c.probe_id.in_(keys)
                )
            )
            return {row[0] for row in rows}

    def inserted_at(self, keys: list[str]) -> dict[str, float]:
        with self.engine.connect() as con:
            rows = con.execute(
                sa.select(PROBES.c.probe_id, PROBES.c.created_at).where(PROBES.c.probe_id.in_(keys))
            )
            return {key: epoch(at) for key, at in rows}


class Real:
    tag = "request_id"

    def __init__(self, api: str, db_url: str, token: str) -> None:
        from viral_pipeline.store.schema import prediction_requests

        self.api, self.table = api, prediction_requests
        self.headers = {"Authorization": f"Bearer {token}"}
        self.engine = create_db_engine(db_url)

    def submit(self) -> str:
        answer = httpx.post(
            f"{self.api}/api/analyze", json=REQUEST, headers=self.headers, timeout=30
        )
        return str(answer.raise_for_status().json()["request_id"])

    def finished(self, keys: list[str]) -> set[str]:
        # Watched through the table GET /api/predictions reads, one query per poll: 100 HTTP
        # polls every 0.2 s would load the API (and the 2 CPUs) the runs compete for.
        table = self.table
        with self.engine.connect() as con:
            rows = con.execute(
                sa.select(table.c.request_id, table.c.status).where(table.c.request_id.in_(keys))
            ).fetchall()
        failed = [rid for rid, status in rows if status == "failed"]
        if failed:
            raise RuntimeError(f"requests failed: {failed}")
        return {rid for rid, status in rows if status == "succeeded"}

    def inserted_at(self, keys: list[str]) -> dict[str, float]:
        table = self.table
        with self.engine.connect() as con:
            rows = con.execute(
                sa.select(table.c.request_id, table.c.created_at).where(
                    table.c.request_id.in_(keys)
                )
            )
            return {key: epoch(at) for key, at in rows}


@dataclass
class Measured:
    latencies: list[float]
    keys: list[str]
    lost: int
    wall_s: float  # first submit to last completion (or the timeout)
    phase_waits: list[float] = field(default_factory=list)


def _watch(path: RequestPath, started: dict[str, float], timeout: float) -> dict[str, float]:
    finished: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(finished) < len(started) and time.monotonic() < deadline:
        now = time.monotonic()
        for key in path.finished([k for k in started if k not in finished]):
            finished[key] = now
        time.sleep(0.2)
    return finished


def sequential(path: RequestPath, n: int, timeout: float, seed: int) -> Measured:
    """n requests one after the other, each after a seeded uniform random wait."""
    phases = random.Random(seed)
    latencies, keys, waits, lost = [], [], [], 0
    began = time.monotonic()
    for _ in range(n):
        wait = phases.uniform(0, PHASE_WINDOW_S)
        waits.append(wait)
        time.sleep(wait)
        t0 = time.monotonic()
        key = path.submit()
        keys.append(key)
        done = _watch(path, {key: t0}, timeout)
        if key in done:
            latencies.append(done[key] - t0)
        else:
            lost += 1
    return Measured(latencies, keys, lost, time.monotonic() - began - sum(waits), waits)


def burst(path: RequestPath, n: int, timeout: float) -> Measured:
    """n requests at once (one thread each), watched until all finish or `timeout`."""
    started: dict[str, float] = {}
    lock = threading.Lock()
    began = time.monotonic()

    def one() -> None:
        t0 = time.monotonic()
        key = path.submit()
        with lock:
            started[key] = t0

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = _watch(path, started, timeout)
    latencies = [finished[k] - started[k] for k in finished]
    end = max(finished.values()) if len(finished) == n else time.monotonic()
    return Measured(latencies, list(started), n - len(finished), end - began)


LEGS = ("sensor", "queue+launch", "execution")


def legs(instance, path: RequestPath, keys: list[str]) -> dict[str, list[float]]:
    """Seconds per leg for each finished request, from Dagster's own records: request row
    inserted → run created (sensor), created → STARTED (queue, launch, the run worker's start),
    STARTED → SUCCESS (the ops and their event writes)."""
    import dagster as dg

    inserted = path.inserted_at(keys)
    found: dict[str, list[float]] = {leg: [] for leg in LEGS}
    for key in keys:
        records = instance.get_run_records(
            filters=dg.RunsFilter(tags={path.tag: key}, statuses=[dg.DagsterRunStatus.SUCCESS]),
            limit=1,
        )
        if not records or key not in inserted:
            continue
        record = records[0]
        if record.start_time is None or record.end_time is None:
            continue
        created = record.create_timestamp.timestamp()
        found["sensor"].append(created - inserted[key])
        found["queue+launch"].append(record.start_time - created)
        found["execution"].append(record.end_time - record.start_time)
    return found


def duplicated(instance, path: RequestPath, keys: list[str]) -> int:
    """Requests with more than one successful run (a retry after a failure is not a duplicate)."""
    import dagster as dg

    return sum(
        max(
            0,
            len(
                instance.get_run_records(
                    filters=dg.RunsFilter(
                        tags={path.tag: key}, statuses=[dg.DagsterRunStatus.SUCCESS]
                    )
                )
            )
            - 1,
        )
        for key in keys
    )


def median_legs(found: dict[str, list[float]]) -> dict[str, float]:
    return {leg: statistics.median(v) if v else float("nan") for leg, v in found.items()}
