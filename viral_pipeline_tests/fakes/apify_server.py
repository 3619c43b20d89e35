"""A fake Apify API v2: a real HTTP server on 127.0.0.1, standard library only.

It speaks the slice of the wire format the pipeline uses (start a run, read a run with
waitForFinish, page a dataset's items) and can be told to fail, so clients are tested over
real sockets rather than against a patched client.

    with FakeApify() as apify:
        apify.next_run(dataset_items=[{"id": "1"}], finishes_after_polls=2)
        ...  # point a client at apify.url with apify.token
        assert apify.requests_to("/v2/datasets/")

    with FakeApify(busy_s=600) as apify:  # every unplanned run scrapes (is RUNNING) for 10 min
        ...
        apify.end_busy_runs()  # unless told to finish now
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"})
MAX_HOLD_S = 0.05  # waitForFinish is honoured only briefly, so tests stay fast.


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class _Plan:
    """The statuses a run reports, one per poll; the last one repeats forever."""

    statuses: list[str]
    polls: int = 0

    def next_status(self) -> str:
        status = self.statuses[min(self.polls, len(self.statuses) - 1)]
        self.polls += 1
        return status


@dataclass
class _Fault:
    path_prefix: str
    count: int
    status: int | None = None  # None: answer normally after the stall
    retry_after: float | str | None = None
    body: bytes | None = None
    stall_s: float = 0.0


@dataclass
class _RunSpec:
    statuses: list[str]
    dataset_items: list[dict[str, Any]] = field(default_factory=list)
    busy_s: float = 0.0  # wall-clock seconds the run stays RUNNING before its statuses apply


def _statuses(
    status: str, finishes_after_polls: int | None, statuses: list[str] | None
) -> list[str]:
    if statuses:
        return list(statuses)
    if finishes_after_polls is None:
        return ["RUNNING"]
    return ["RUNNING"] * finishes_after_polls + [status]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeApify:
    DEFAULT_TOKEN = "apify_api_fake-test-token-5f3c9a"

    def __init__(self, token: str = DEFAULT_TOKEN, busy_s: float = 0.0) -> None:
        """`busy_s`: how long a run started with no `next_run` planned stays RUNNING, as the actor
        would while it scrapes; a waitForFinish poll is held until it finishes, as Apify does."""
        self.token = token
        # A fuzzer names runs at random: with this set, any run id read is a run that SUCCEEDED.
        self.every_run_exists = False
        self.busy_s = busy_s
        self._busy_until: dict[str, float] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[RecordedRequest] = []
        self._plans: dict[str, _Plan] = {}
        self._faults: list[_Fault] = []
        self._next_runs: list[_RunSpec] = []
        self._lock = threading.Lock()
        self._busy_ended = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeApify:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        # A short poll interval keeps shutdown (once per test) from costing half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-apify",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeApify is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- programming -----------------------------------------------------------------------
    def add_dataset(self, items: list[dict[str, Any]]) -> str:
        dataset_id = "ds" + uuid.uuid4().hex[:15]
        with self._lock:
            self.datasets[dataset_id] = [dict(item) for item in items]
        return dataset_id

    def add_run(
        self,
        status: str = "SUCCEEDED",
        dataset_items: list[dict[str, Any]] | None = None,
        finishes_after_polls: int | None = 0,
        *,
        statuses: list[str] | None = None,
        actor_id: str = "clockworks~tiktok-scraper",
    ) -> str:
        """A run that reports RUNNING for its first `finishes_after_polls` polls, then `status`.

        `finishes_after_polls=None` never finishes; `statuses` gives the whole sequence instead.
        """
        spec = _RunSpec(
            _statuses(status, finishes_after_polls, statuses), list(dataset_items or [])
        )
        return self._create_run(actor_id, spec)

    def next_run(
        self,
        status: str = "SUCCEEDED",
        dataset_items: list[dict[str, Any]] | None = None,
        finishes_after_polls: int | None = 0,
        *,
        statuses: list[str] | None = None,
    ) -> None:
        """Queue what the next `POST /v2/acts/{actor}/runs` creates (default: SUCCEEDED, empty)."""
        spec = _RunSpec(
            _statuses(status, finishes_after_polls, statuses), list(dataset_items or [])
        )
        with self._lock:
            self._next_runs.append(spec)

    def finish_run(self, run_id: str, status: str = "SUCCEEDED") -> None:
        """End a run now (e.g. before a webhook announces it): every later poll reports `status`."""
        with self._lock:
            self._plans[run_id] = _Plan([status])
            self._set_status(self.runs[run_id], status)

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        count: int = 1,
        retry_after: float | str | None = None,
        body: bytes | str | None = None,
    ) -> None:
        """Answer the next `count` requests whose path starts with `path_prefix` with `status`.

        The body defaults to an Apify error object; pass `body` (with status 200) for a malformed page.
        """
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._faults.append(_Fault(path_prefix, count, status, retry_after, raw))

    def stall_next(self, path_prefix: str, seconds: float, count: int = 1) -> None:
        """Hold the next `count` matching requests for `seconds` before answering normally."""
        with self._lock:
            self._faults.append(_Fault(path_prefix, count, stall_s=seconds))

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method)
            ]

    # -- internals (called from handler threads) -------------------------------------------
    def _create_run(self, actor_id: str, spec: _RunSpec, run_id: str | None = None) -> str:
        run_id = run_id or "run" + uuid.uuid4().hex[:14]
        dataset_id = self.add_dataset(spec.dataset_items)
        first = spec.statuses[0] if spec.statuses[0] in TERMINAL_STATUSES else "READY"
        run = {
            "id": run_id,
            "actId": actor_id,
            "status": "READY",
            "startedAt": _now(),
            "finishedAt": None,
            "defaultDatasetId": dataset_id,
            "defaultKeyValueStoreId": "kv" + uuid.uuid4().hex[:15],
        }
        if spec.busy_s > 0:
            first = "RUNNING"
        with self._lock:
            self._set_status(run, first)
            self.runs[run_id] = run
            self._plans[run_id] = _Plan(spec.statuses)
            if spec.busy_s > 0:
                self._busy_until[run_id] = time.monotonic() + spec.busy_s
        return run_id

    def end_busy_runs(self) -> None:
        """Let every busy run report its statuses now; polls held on one answer at once."""
        with self._busy_ended:
            self._busy_until.clear()
            self._busy_ended.notify_all()

    def _hold_while_busy(self, run_id: str, wait_s: float) -> None:
        """Hold a waitForFinish poll while its run is busy, `wait_s` at most, as Apify does."""
        deadline = time.monotonic() + wait_s
        with self._busy_ended:
            while True:
                until = min(deadline, self._busy_until.get(run_id, 0.0))
                if until <= time.monotonic():
                    return
                self._busy_ended.wait(until - time.monotonic())

    @staticmethod
    def _set_status(run: dict[str, Any], status: str) -> None:
        run["status"] = status
        if status in TERMINAL_STATUSES and not run.get("finishedAt"):
            run["finishedAt"] = _now()

    def _poll(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            unknown = run_id not in self.runs
        if unknown and self.every_run_exists:
            self._create_run("clockworks~tiktok-scraper", _RunSpec(["SUCCEEDED"]), run_id)
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                return None
            if self._busy_until.get(run_id, 0.0) <= time.monotonic():
                self._set_status(run, self._plans[run_id].next_status())
            return dict(run)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix) and fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _pop_next_run(self) -> _RunSpec:
        with self._lock:
            if self._next_runs:
                return self._next_runs.pop(0)
            return _RunSpec(["SUCCEEDED"], busy_s=self.busy_s)

    def _dataset_page(
        self, dataset_id: str, query: dict[str, str]
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        with self._lock:
            items = list(self.datasets[dataset_id])
        total = len(items)
        if query.get("desc") in ("1", "true"):
            items.reverse()
        offset = max(0, int(query.get("offset", 0)))
        limit = max(0, int(query["limit"])) if "limit" in query else max(0, total - offset)
        page = items[offset : offset + limit]
        if query.get("clean") in ("1", "true"):
            # Like Apify: empty items are dropped after offset/limit, and '#' fields are hidden.
            page = [
                {k: v for k, v in item.items() if not k.startswith("#")} for item in page if item
            ]
        headers = {
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": str(limit),
            "X-Apify-Pagination-Count": str(len(page)),
            "X-Apify-Pagination-Total": str(total),
            "X-Apify-Pagination-Desc": "true" if query.get("desc") in ("1", "true") else "false",
        }
        return page, headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes its socket mid-answer; that is expected here.
        pass


def _make_handler(fake: FakeApify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            split = urlsplit(self.path)
            path = split.path
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            with fake._lock:
                fake.requests.append(
                    RecordedRequest(method, path, query, dict(self.headers.items()), body)
                )

            fault = fake._take_fault(path)
            if fault is not None:
                time.sleep(fault.stall_s)
                if fault.status is not None:
                    headers = (
                        {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                    )
                    if fault.body is not None:
                        return self._send(fault.status, fault.body, headers)
                    return self._error(
                        fault.status, "fake-fault", f"injected HTTP {fault.status}", headers
                    )

            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                return self._error(
                    401,
                    "token-not-valid",
                    "User was not found or authentication token is not valid",
                )

            parts = path.strip("/").split("/")
            if (
                method == "POST"
                and len(parts) == 4
                and parts[:2] == ["v2", "acts"]
                and parts[3] == "runs"
            ):
                run_id = fake._create_run(parts[2], fake._pop_next_run())
                with fake._lock:
                    run = dict(fake.runs[run_id])
                return self._json(201, {"data": run})
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v2", "actor-runs"]:
                return self._get_run(parts[2], query)
            if (
                method == "GET"
                and len(parts) == 4
                and parts[:2] == ["v2", "datasets"]
                and parts[3] == "items"
            ):
                if parts[2] not in fake.datasets:
                    return self._error(404, "record-not-found", "Dataset was not found")
                page, headers = fake._dataset_page(parts[2], query)
                return self._json(200, page, headers)
            return self._error(404, "page-not-found", f"No route for {method} {path}")

        def _get_run(self, run_id: str, query: dict[str, str]) -> None:
            wait_s = float(query.get("waitForFinish") or 0)
            if wait_s > 0:
                fake._hold_while_busy(run_id, wait_s)
            run = fake._poll(run_id)
            if run is None:
                return self._error(404, "record-not-found", "Actor run was not found")
            if wait_s > 0 and run["status"] not in TERMINAL_STATUSES:
                time.sleep(min(wait_s, MAX_HOLD_S))
            return self._json(200, {"data": run})

        def _error(
            self, status: int, type_: str, message: str, headers: dict[str, str] | None = None
        ) -> None:
            self._json(status, {"error": {"type": type_, "message": message}}, headers)

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._send(
                status,
                json.dumps(payload).encode(),
                {"Content-Type": "application/json", **(headers or {})},
            )

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
