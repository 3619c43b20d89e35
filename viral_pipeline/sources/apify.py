"""A small synchronous client of the Apify API v2: start an actor run, wait for it, page its dataset.

The token travels only in the `Authorization` header, never in a URL, so neither httpx's
request logs nor our own log lines and exception messages can carry it. Every id placed in a URL
path is one quoted path segment (`path_segment`), so an id can never reach another endpoint with
the token.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from viral_pipeline.observability import get_logger
from viral_pipeline.retry_after import parse_retry_after

log = get_logger(__name__)

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"})
MAX_WAIT_PER_CALL_S = 60  # Apify caps waitForFinish at 60 s per request.


def path_segment(value: str) -> str:
    """`value` as one URL path segment: percent-encoded (so `/`, `?`, `#` and control characters stay
    inside it), and never empty, `.` or `..`, which URL normalisation would turn into another path."""
    if value in ("", ".", ".."):
        raise ValueError(f"not an Apify id: {value!r}")
    return quote(value, safe="~")


class ApifyError(Exception):
    """A call to Apify failed; `status_code` is the last HTTP status seen (None for transport errors)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ApifyRunFailed(ApifyError):
    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(f"apify run {run_id} ended with status {status}")
        self.run_id = run_id
        self.status = status


class ApifyRunTimeout(ApifyError):
    def __init__(self, run_id: str, status: str | None, waited_s: float) -> None:
        super().__init__(
            f"apify run {run_id} not finished after {waited_s:.1f} s (status {status})"
        )
        self.run_id = run_id
        self.status = status


# Metadata only: media downloads are slow, and the actor bills for them.
_NO_DOWNLOADS = {
    "shouldDownloadVideos": False,
    "shouldDownloadCovers": False,
    "shouldDownloadSubtitles": False,
    "shouldDownloadSlideshowImages": False,
}


def build_actor_input(hashtags: list[str], results_per_hashtag: int) -> dict[str, Any]:
    """Input for clockworks/tiktok-scraper: the top videos of each hashtag."""
    return {"hashtags": list(hashtags), "resultsPerPage": results_per_hashtag, **_NO_DOWNLOADS}


def build_post_urls_input(post_urls: list[str]) -> dict[str, Any]:
    """Input for clockworks/tiktok-scraper that reads the current stats of the given videos only."""
    return {"postURLs": list(post_urls), "resultsPerPage": max(1, len(post_urls)), **_NO_DOWNLOADS}


def build_profile_input(handle: str, results_per_page: int) -> dict[str, Any]:
    """Input for clockworks/tiktok-scraper in profile mode: a few videos suffice to read authorMeta."""
    return {"profiles": [handle], "resultsPerPage": results_per_page, **_NO_DOWNLOADS}


class ApifyClient:
    def __init__(
        self,
        api_url: str,
        token: str | None,
        actor_id: str,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.actor_id = actor_id
        self._token = token
        self._timeout_s = timeout_s
        self._max_retries = max(0, max_retries)
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"), headers=headers, timeout=httpx.Timeout(timeout_s)
        )

    def __enter__(self) -> ApifyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def start_run(self, actor_input: dict[str, Any]) -> dict[str, Any]:
        # A retried POST after a lost response could start a second run; that costs credits but
        # loses no data, which is the same trade-off Apify's own client makes.
        run = _data(
            self._request("POST", f"/v2/acts/{path_segment(self.actor_id)}/runs", json=actor_input)
        )
        log.info(
            "apify run started",
            run_id=run.get("id"),
            status=run.get("status"),
            actor_id=self.actor_id,
        )
        return run

    def get_run(self, run_id: str, wait_s: int = 0) -> dict[str, Any]:
        wait_s = max(0, min(int(wait_s), MAX_WAIT_PER_CALL_S))
        # The server holds the request up to wait_s, so the read timeout must outlast that.
        timeout = httpx.Timeout(self._timeout_s, read=self._timeout_s + wait_s)
        params = {"waitForFinish": wait_s} if wait_s else None
        return _data(
            self._request(
                "GET", f"/v2/actor-runs/{path_segment(run_id)}", params=params, timeout=timeout
            )
        )

    def wait_for_run(self, run_id: str, max_wait_s: float) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + max_wait_s
        while True:
            remaining = deadline - time.monotonic()
            wait_s = int(max(0.0, min(remaining, MAX_WAIT_PER_CALL_S)))
            run = self.get_run(run_id, wait_s=wait_s)
            status = run.get("status")
            if status in TERMINAL_STATUSES:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ApifyRunTimeout(run_id, status, time.monotonic() - started)
            if wait_s == 0:
                # Under a second was left, so waitForFinish=0 returned at once: pause, don't spin.
                time.sleep(remaining)
        log.info("apify run finished", run_id=run_id, status=status)
        if status != "SUCCEEDED":
            raise ApifyRunFailed(run_id, str(status))
        return run

    def iter_dataset_items(
        self, dataset_id: str, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            params = {"offset": offset, "limit": page_size, "clean": "true", "format": "json"}
            response = self._request(
                "GET", f"/v2/datasets/{path_segment(dataset_id)}/items", params=params
            )
            try:
                items = response.json()
            except ValueError as exc:
                raise ApifyError(
                    f"dataset {dataset_id} page at offset {offset} is not JSON"
                ) from exc
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise ApifyError(
                    f"dataset {dataset_id} page at offset {offset} is not a list of objects"
                )
            if not items:
                return
            yield from items
            # With clean=true Apify drops empty items after applying offset/limit, so a page may
            # hold fewer items than it covers: advance by the page's limit, not by its length.
            offset += max(len(items), _int_header(response, "X-Apify-Pagination-Limit") or 0)
            total = _int_header(response, "X-Apify-Pagination-Total")
            if total is not None and offset >= total:
                return

    def run_and_iter_items(
        self, actor_input: dict[str, Any], max_wait_s: float, page_size: int = 1000
    ) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        run = self.wait_for_run(self.start_run(actor_input)["id"], max_wait_s)
        return run, self.iter_dataset_items(run["defaultDatasetId"], page_size=page_size)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            retry_after = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                status_code, problem = None, f"{type(exc).__name__}: {exc}"
            else:
                status_code = response.status_code
                if status_code < 400:
                    return response
                problem = f"HTTP {status_code}: {_error_message(response)}"
                if status_code != 429 and status_code < 500:
                    raise ApifyError(
                        self._redact(f"{method} {path} failed: {problem}"), status_code
                    )
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), cap_s=self._max_backoff_s
                )
            if attempt == self._max_retries:
                message = f"{method} {path} failed after {attempt + 1} attempts: {problem}"
                raise ApifyError(self._redact(message), status_code)
            sleep_s = self._sleep_s(attempt, retry_after)
            log.warning(
                "apify retry",
                path=path,
                attempt=attempt + 1,
                status_code=status_code,
                error=self._redact(problem),
                sleep_s=round(sleep_s, 3),
            )
            time.sleep(sleep_s)
            attempt += 1

    def _sleep_s(self, attempt: int, retry_after: float | None) -> float:
        # Jitter spreads the retries of parallel clients; Retry-After is a floor, the cap a ceiling.
        backoff = random.uniform(0.5, 1.0) * self._backoff_s * 2**attempt
        return min(max(backoff, retry_after or 0.0), self._max_backoff_s)

    def _redact(self, text: str) -> str:
        # Defence in depth: an error body echoing the request must not leak the token either.
        return text.replace(self._token, "***") if self._token else text


def _data(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ApifyError(f"unexpected Apify response from {response.request.url.path}") from exc
    if not isinstance(data, dict):
        raise ApifyError(f"unexpected Apify response from {response.request.url.path}")
    return data


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name, "")
    return int(value) if value.isdigit() else None
