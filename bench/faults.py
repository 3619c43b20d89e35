"""A burst of predictions on the production topology (Celery run workers) while its services are
killed one at a time with SIGKILL and restarted, then a check that every request ended once.

    .venv/bin/python bench/faults.py [--burst 100] [--rate 2] [--baseline 10]
        [--faults daemon,celery_worker,code_server,api_worker,redis,postgres] [--down 3]
        [--bound 300] [--workdir DIR]

First `--baseline` requests at `--rate` per second with no fault (their median latency is the
baseline), then `--burst` requests at the same rate while the faults are spread evenly over the
submission window: each service is killed, left down `--down` seconds, restarted, and waited for
until healthy. A request's latency runs from its POST to its row's finished_at. Every request
carries its own Idempotency-Key, and every attempt of it the same one, so every retry is safe: a
refused connection (nothing was sent) and an answer lost after sending, or a 5xx, are retried
until admitted; a retry of a request the API had stored answers it again (a replay) instead of
queueing a second one. Rows of the bench's caller no answer named are reported as orphans (none
expected: one would mean a retry made a second request).

Checks (bench/fault_check.py): each admitted request has one row and ended succeeded, or failed
with a reason; one successful Dagster run per request id; none queued or running `--bound`
seconds after the last submission. Prints per fault: time down and to healthy again, requests in
flight at the kill, their median and worst latency, and the time added against the baseline.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.fault_check import (  # noqa: E402
    findings,
    request_records,
    run_history,
    runs_in_progress,
    successful_runs,
)
from bench.latency_paths import REQUEST, epoch  # noqa: E402
from bench.latency_topologies import BENCH_ENV  # noqa: E402
from viral_pipeline.store.db import create_db_engine  # noqa: E402

FAULTS = ("daemon", "celery_worker", "code_server", "api_worker", "redis", "postgres")
POST_RETRY_S = 0.5


@dataclass
class Submission:
    submitted: float  # epoch seconds of the first attempt
    request_id: str | None = None
    # The request's Idempotency-Key, sent with every attempt: a retry repeats the request.
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    refused: int = 0  # attempts refused before anything was sent
    resent: int = 0  # attempts whose answer was lost after sending, or a 5xx: retried, same key
    replayed: bool = False  # admitted by a replay: an earlier attempt had stored the request


@dataclass
class Fault:
    service: str
    killed: float = 0.0
    restarted: float = 0.0
    healthy: float = 0.0
    error: str = ""
    in_flight: list[str] = field(default_factory=list)


class Client:
    def __init__(self, api: str, token: str, give_up_s: float) -> None:
        self.api, self.give_up_s = api, give_up_s
        self.headers = {"Authorization": f"Bearer {token}"}

    def submit(self, into: Submission) -> None:
        deadline = time.monotonic() + self.give_up_s
        while time.monotonic() < deadline:
            try:
                answer = httpx.post(
                    f"{self.api}/api/analyze",
                    json=REQUEST,
                    headers={**self.headers, "Idempotency-Key": into.idempotency_key},
                    timeout=30,
                )
            except httpx.ConnectError:
                into.refused += 1
            except httpx.TransportError:
                into.resent += 1
            else:
                if answer.status_code == 202:
                    into.request_id = answer.json()["request_id"]
                    into.replayed = answer.headers.get("Idempotent-Replayed") == "true"
                    return
                if answer.status_code < 500:
                    raise RuntimeError(f"POST refused for good: {answer.status_code} {answer.text}")
                into.resent += 1
            time.sleep(POST_RETRY_S)


def submit_at_rate(client: Client, n: int, rate: float) -> tuple[list[Submission], list]:
    """Start one POST every 1/rate s (each in its own thread, so a hung one delays no other)."""
    submissions, threads = [], []
    began = time.monotonic()
    for i in range(n):
        time.sleep(max(0.0, began + i / rate - time.monotonic()))
        sub = Submission(time.time())
        thread = threading.Thread(target=client.submit, args=(sub,))
        thread.start()
        submissions.append(sub)
        threads.append(thread)
    return submissions, threads


def api_workers(master: int) -> list[int]:
    """The uvicorn worker processes under the API's master (multiprocessing children; not its
    resource tracker)."""
    path = Path(f"/proc/{master}/task/{master}/children")
    workers = []
    for pid in path.read_text().split() if path.exists() else []:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            workers.append(int(pid))
    return workers


def kill(topology, service: str) -> None:
    if service == "api_worker":
        # One uvicorn worker; its master starts a new one.
        workers = api_workers(topology.pid("api"))
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            return
        service = "api"  # a single-process API: the API itself
    topology.kill(service)


def restart(topology, service: str) -> None:
    if service == "api_worker":
        # The master replaces its worker itself: wait until it has them all again.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(api_workers(topology.pid("api"))) >= topology.api_workers:
                return
            time.sleep(0.2)
        raise RuntimeError("the API's master did not replace its killed worker in 120 s")
    topology.restart(service)


def inject(topology, faults: list[Fault], window: float, down: float) -> None:
    began = time.monotonic()
    for k, fault in enumerate(faults):
        time.sleep(max(0.0, began + (k + 1) * window / (len(faults) + 1) - time.monotonic()))
        try:
            fault.killed = time.time()
            kill(topology, fault.service)
            time.sleep(down)
            fault.restarted = time.time()
            restart(topology, fault.service)
            fault.healthy = time.time()
        except Exception as error:  # a fault the topology did not survive is a finding too
            fault.error = repr(error)


def finished_at(engine: sa.Engine, ids: list[str]) -> dict[str, tuple[str, float | None]]:
    from viral_pipeline.store.schema import prediction_requests as t

    with engine.connect() as con:
        rows = con.execute(
            sa.select(t.c.request_id, t.c.status, t.c.finished_at).where(t.c.request_id.in_(ids))
        )
        return {rid: (status, epoch(at) if at else None) for rid, status, at in rows}


def wait_ended(engine: sa.Engine, ids: list[str], until: float) -> None:
    while time.time() < until:
        try:
            ended = finished_at(engine, ids)
        except sa.exc.OperationalError:  # PostgreSQL restarting
            ended = {}
        if len(ids) == sum(1 for s, _ in ended.values() if s in ("succeeded", "failed")):
            return
        time.sleep(1)


def latencies(subs: list[Submission], ended: dict[str, tuple[str, float | None]]) -> dict:
    return {
        s.request_id: ended[s.request_id][1] - s.submitted
        for s in subs
        if s.request_id in ended and ended[s.request_id][1] is not None
    }


def orphans(engine: sa.Engine, caller: str, ids: set[str]) -> int:
    """Rows of the bench's caller no POST was answered for: a retry that made a second request."""
    from viral_pipeline.store.schema import prediction_requests as t

    with engine.connect() as con:
        rows = con.execute(sa.select(t.c.request_id).where(t.c.caller == caller)).scalars()
        return sum(1 for rid in rows if rid not in ids)


def in_flight(fault: Fault, subs: list[Submission], lat: dict[str, float]) -> list[str]:
    """Requests submitted before the service was healthy again and not ended before the kill."""
    return [
        s.request_id
        for s in subs
        if s.request_id in lat
        and s.submitted <= (fault.healthy or fault.killed)
        and s.submitted + lat[s.request_id] >= fault.killed
    ]


def report_faults(faults: list[Fault], subs, lat: dict, baseline: float) -> None:
    """Per fault, the latency of the requests in flight at it against two references: the
    fault-free baseline phase, and the burst's requests in flight at no fault (the same queue
    depth, so what the fault itself added)."""
    for fault in faults:
        fault.in_flight = in_flight(fault, subs, lat)
    hit_any = {r for fault in faults for r in fault.in_flight}
    spared = [v for r, v in lat.items() if r not in hit_any]
    reference = statistics.median(spared) if spared else baseline
    print(
        f"references: baseline median {baseline:.1f} s; {len(spared)} burst requests in flight "
        f"at no fault, median {reference:.1f} s"
    )
    print("fault          down  to-healthy  in-flight  median   worst  added vs spared / baseline")
    for fault in faults:
        hit = [lat[r] for r in fault.in_flight]
        median = statistics.median(hit) if hit else float("nan")
        print(
            f"{fault.service:13s} {fault.restarted - fault.killed:5.1f} s "
            f"{fault.healthy - fault.restarted:7.1f} s  {len(hit):9d}  {median:6.1f} s "
            f"{max(hit, default=float('nan')):6.1f} s  {median - reference:+6.1f} s / "
            f"{median - baseline:+6.1f} s" + (f"  ERROR {fault.error}" if fault.error else "")
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second")
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--down", type=float, default=3.0, help="seconds a service stays dead")
    parser.add_argument("--bound", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from viral_pipeline.deploy.topology import Topology

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_faults_"))
    topology = Topology(workdir, launcher="celery", env=BENCH_ENV)
    print(f"starting the production topology in {workdir}...", flush=True)
    with topology:
        engine = create_db_engine(topology.env["DATABASE_URL"])
        client = Client(topology.api_url, topology.api_token, give_up_s=args.bound)
        base, threads = submit_at_rate(client, args.baseline, args.rate)
        for thread in threads:
            thread.join()
        base_ids = [s.request_id for s in base if s.request_id]
        wait_ended(engine, base_ids, time.time() + args.bound)
        base_lat = latencies(base, finished_at(engine, base_ids))
        baseline = statistics.median(base_lat.values()) if base_lat else float("nan")
        print(f"baseline: {len(base_lat)} requests, median {baseline:.1f} s", flush=True)

        faults = [Fault(name) for name in args.faults.split(",") if name]
        window = args.burst / args.rate
        injector = threading.Thread(target=inject, args=(topology, faults, window, args.down))
        began = time.monotonic()
        injector.start()
        subs, threads = submit_at_rate(client, args.burst, args.rate)
        for thread in threads:
            thread.join()
        injector.join()
        ids = [s.request_id for s in subs if s.request_id]
        bound_at = time.time() + args.bound
        wait_ended(engine, ids, bound_at)
        ended = finished_at(engine, ids)
        lat = latencies(subs, ended)
        done_s = time.monotonic() - began
        with topology.instance() as instance:
            while runs_in_progress(instance, ids) and time.time() < bound_at:
                time.sleep(1)
            runs = successful_runs(instance, ids)
            found = findings(
                ids, request_records(engine, ids), runs, bound_passed=time.time() >= bound_at
            )
            histories = {f.request_id: run_history(instance, f.request_id) for f in found}
        statuses = [ended.get(rid, ("missing", None))[0] for rid in ids]
        print(
            f"burst: {len(subs)} submitted, {len(ids)} admitted, all ended in {done_s:.0f} s "
            f"(bound {args.bound:.0f} s after the last submission); "
            + ", ".join(f"{s} {statuses.count(s)}" for s in sorted(set(statuses)))
        )
        orphan_rows = orphans(engine, "topology", set(ids) | set(base_ids))
        print(
            f"POST retries, all safe (one Idempotency-Key per request): "
            f"{sum(s.refused for s in subs)} refused before sending, "
            f"{sum(s.resent for s in subs)} resent after a lost answer or 5xx; "
            f"admitted by a replay: {sum(s.replayed for s in subs)}; "
            f"orphan rows: {orphan_rows}; never admitted: {len(subs) - len(ids)}"
        )
        report_faults(faults, subs, lat, baseline)
        for finding in found:
            print(f"  FINDING {finding.request_id}: {finding.problem.value}")
            for line in histories[finding.request_id]:
                print(f"      {line}")
        failed_reasons = {
            r.error for r in request_records(engine, ids).values() if r.status == "failed"
        }
        for reason in failed_reasons:
            print(f"  failed with: {reason}")
        ok = (
            not found
            and len(ids) == len(subs)
            and not orphan_rows
            and not any(f.error for f in faults)
        )
        print(f"  {'PASS' if ok else 'FAIL'} every request stored and ended once, none stuck")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
