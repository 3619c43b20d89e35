"""Request-to-result latency through the real daemon, against the floor Dagster itself imposes.

Brings up what scripts/run.sh runs for requests (the Dagster daemon with the repo's dagster.yaml,
and the HTTP API) on a temporary instance and database, bootstraps a champion, then measures:
  (a) floor: a one-op job launched by a sensor built like prediction_requests (bench/latency_location.py);
  (b) real: POST /api/analyze -> prediction_requests -> predict run -> succeeded result.
Each for 20 sequential requests and a burst of 100. Prints p50/p95, the p50 ratio real/floor, and
requests lost (not finished in time) or duplicated (more than one run). Targets: p50 ratio <= 1.3;
the burst completes with none lost and none duplicated.

    .venv/bin/python bench/latency.py [--sequential 20] [--burst 100] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
REQUEST = {
    "caption": "The 10-minute pasta that broke my kitchen #food #recipe #fyp",
    "duration_s": 24,
    "creator": {"handle": "chef", "followers": 25000},
    "hook": "I tried the viral pasta",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Floor:
    def __init__(self, db: Path) -> None:
        self.db = db
        with sqlite3.connect(db) as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS latency_probes (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "probe_id TEXT UNIQUE, status TEXT, created_at REAL, finished_at REAL)"
            )

    def submit(self) -> str:
        probe_id = uuid.uuid4().hex
        with sqlite3.connect(self.db, timeout=30) as con:
            con.execute(
                "INSERT INTO latency_probes (probe_id, status, created_at) VALUES (?, 'queued', ?)",
                (probe_id, time.time()),
            )
        return probe_id

    def done(self, probe_id: str) -> bool:
        with sqlite3.connect(self.db, timeout=30) as con:
            row = con.execute(
                "SELECT status FROM latency_probes WHERE probe_id = ?", (probe_id,)
            ).fetchone()
        return bool(row and row[0] == "done")

    def finished(self, probe_ids: list[str]) -> set[str]:
        with sqlite3.connect(self.db, timeout=30) as con:
            marks = ",".join("?" * len(probe_ids))
            return {
                row[0]
                for row in con.execute(
                    f"SELECT probe_id FROM latency_probes WHERE status = 'done' AND probe_id IN ({marks})",
                    probe_ids,
                )
            }


# The API answers callers with a token (API_TOKENS); the bench is one caller, whose analyze rate
# limit admits the burst (the limit is not what is measured here: bench/rate_limits.py is).
CALLER_TOKEN = uuid.uuid4().hex
CALLER = {"Authorization": f"Bearer {CALLER_TOKEN}"}


class Real:
    def __init__(self, api: str, db: Path) -> None:
        self.api, self.db = api, db

    def submit(self) -> str:
        answer = httpx.post(f"{self.api}/api/analyze", json=REQUEST, headers=CALLER, timeout=30)
        answer.raise_for_status()
        return answer.json()["request_id"]

    def done(self, request_id: str) -> bool:
        answer = httpx.get(f"{self.api}/api/predictions/{request_id}", headers=CALLER, timeout=30)
        status = answer.raise_for_status().json()["status"]
        if status == "failed":
            raise RuntimeError(f"request {request_id} failed")
        return status == "succeeded"

    def finished(self, request_ids: list[str]) -> set[str]:
        # A burst is watched through the table GET /api/predictions reads, in one query per poll:
        # 100 HTTP polls every 0.2 s would load the API (and the 2 CPUs) the runs compete for.
        with sqlite3.connect(self.db, timeout=30) as con:
            marks = ",".join("?" * len(request_ids))
            rows = con.execute(
                f"SELECT request_id, status FROM prediction_requests WHERE request_id IN ({marks})",
                request_ids,
            ).fetchall()
        failed = [rid for rid, status in rows if status == "failed"]
        if failed:
            raise RuntimeError(f"requests failed: {failed}")
        return {rid for rid, status in rows if status == "succeeded"}


def measure(path, n: int, burst: bool, timeout: float) -> tuple[list[float], list[str], int]:
    """Latencies of finished items, their ids, and how many did not finish within `timeout`."""
    started, finished = {}, {}
    path.submitted_at = {}
    if burst:
        lock = threading.Lock()

        def one() -> None:
            t0, wall = time.monotonic(), time.time()
            key = path.submit()
            with lock:
                started[key] = t0
                path.submitted_at[key] = wall

        threads = [threading.Thread(target=one) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + timeout
        while len(finished) < n and time.monotonic() < deadline:
            now = time.monotonic()
            for key in path.finished([k for k in started if k not in finished]):
                finished[key] = now
            time.sleep(0.2)
    else:
        for _ in range(n):
            t0, wall = time.monotonic(), time.time()
            key = path.submit()
            started[key] = t0
            path.submitted_at[key] = wall
            while not path.done(key) and time.monotonic() - t0 < timeout:
                time.sleep(0.05)
            if path.done(key):
                finished[key] = time.monotonic()
    latencies = [finished[k] - started[k] for k in finished]
    return latencies, list(started), n - len(finished)


def duplicates(home: Path, tag: str, keys: list[str]) -> int:
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return sum(
            max(0, len(instance.get_runs(filters=dg.RunsFilter(tags={tag: key}))) - 1)
            for key in keys
        )


def breakdown(home: Path, tag: str, keys: list[str], submitted_at: dict[str, float]) -> str:
    """Median seconds per leg, from the runs' own timestamps: submit → run created (sensor),
    created → started (queue, launch and the run worker's imports), started → ended (the ops)."""
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    legs: dict[str, list[float]] = {"sensor": [], "queue+launch": [], "execution": []}
    with dg.DagsterInstance.get() as instance:
        for key in keys:
            records = instance.get_run_records(filters=dg.RunsFilter(tags={tag: key}), limit=1)
            if not records or key not in submitted_at:
                continue
            record = records[0]
            if record.start_time is None or record.end_time is None:
                continue
            legs["sensor"].append(record.create_timestamp.timestamp() - submitted_at[key])
            legs["queue+launch"].append(record.start_time - record.create_timestamp.timestamp())
            legs["execution"].append(record.end_time - record.start_time)
    return "  ".join(f"{leg} {statistics.median(v):.2f} s" for leg, v in legs.items() if v)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    # `kill` runs the cleanup below too (the API and daemon it started would outlive it otherwise).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = Path(tempfile.mkdtemp(prefix="bench_latency_"))
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    (tmp / "workspace.yaml").write_text(
        f"load_from:\n  - python_file:\n      relative_path: {ROOT / 'bench' / 'latency_location.py'}\n"
        f"      attribute: defs\n      location_name: viral_pipeline\n      working_directory: {ROOT}\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DATABASE_URL": f"sqlite:///{tmp}/app.db",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
        "SIMULATED_VIDEOS_PER_DAY": "300",
        "LOG_LEVEL": "WARNING",
        "DAGSTER_DISABLE_TELEMETRY": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONPATH": str(ROOT),
        "API_TOKENS": f"bench={CALLER_TOKEN}",
        "RATE_LIMIT_ANALYZE_PER_MINUTE": "100000",
        "RATE_LIMIT_READS_PER_MINUTE": "100000",
    }
    procs = []
    try:
        print("bootstrap (data assets + a champion)...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "viral_pipeline.bootstrap", "--days", "1"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=600,
        )
        port = free_port()
        log = open(tmp / "servers.log", "w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "viral_pipeline.api", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "dagster-daemon"),
                    "run",
                    "--log-format",
                    "json",
                    "-w",
                    str(tmp / "workspace.yaml"),
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        )
        api = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        floor, real = Floor(tmp / "app.db"), Real(api, tmp / "app.db")
        measure(floor, 2, False, 120)  # warm-up: the daemon's first loads
        measure(real, 2, False, 120)
        results, failures = {}, 0
        for name, path in (("floor", floor), ("real", real)):
            for mode, n in (("sequential", args.sequential), ("burst", args.burst)):
                if n == 0:  # --burst 0: a quick sequential-only run
                    continue
                began = time.monotonic()
                lat, keys, lost = measure(path, n, mode == "burst", args.timeout)
                tag = "probe_id" if name == "floor" else "request_id"
                dup = duplicates(home, tag, keys)
                results[(name, mode)] = lat
                print(
                    f"{name:5s} {mode:10s} n={n:3d} p50 {pct(lat, 0.5):6.2f} s  p95 {pct(lat, 0.95):6.2f} s  "
                    f"all done in {time.monotonic() - began:6.1f} s  lost {lost}  duplicated {dup}",
                    flush=True,
                )
                print(f"      medians: {breakdown(home, tag, keys, path.submitted_at)}", flush=True)
                failures += lost + dup
        ratio = pct(results[("real", "sequential")], 0.5) / pct(
            results[("floor", "sequential")], 0.5
        )
        burst_ratio = (
            pct(results[("real", "burst")], 0.5) / pct(results[("floor", "burst")], 0.5)
            if ("real", "burst") in results
            else float("nan")
        )
        print(f"p50 ratio real/floor: sequential {ratio:.2f}, burst {burst_ratio:.2f}")
        print(
            f"median of sequential floor latencies {statistics.median(results[('floor', 'sequential')]):.2f} s"
        )
        # Each verdict on its own line: the burst ratio moves most between runs (it follows how
        # long each run holds one of the 4 run slots), so quote the median of several runs.
        verdicts = {
            "sequential p50 ratio <= 1.3": ratio <= 1.3,
            "none lost, none duplicated": not failures,
        }
        if ("real", "burst") in results:
            verdicts["burst p50 ratio <= 1.3"] = burst_ratio <= 1.3
        for name, ok in verdicts.items():
            print(f"  {'PASS' if ok else 'FAIL'} {name}")
        return 0 if all(verdicts.values()) else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
