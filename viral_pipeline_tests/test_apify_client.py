"""The Apify client against a real fake Apify HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest
from structlog.testing import capture_logs

from viral_pipeline.sources.apify import (
    ApifyClient,
    ApifyError,
    ApifyRunFailed,
    ApifyRunTimeout,
    build_actor_input,
)
from viral_pipeline_tests.fakes.apify_server import FakeApify

ACTOR = "clockworks~tiktok-scraper"


def _items(n: int) -> list[dict]:
    # TikTok ids exceed 2**53, so Apify (and we) carry them as strings.
    return [{"id": str(7_300_000_000_000_000_000 + i), "text": f"video {i}"} for i in range(n)]


@pytest.fixture
def apify() -> Iterator[FakeApify]:
    with FakeApify() as server:
        yield server


@pytest.fixture
def client(apify: FakeApify) -> Iterator[ApifyClient]:
    with ApifyClient(
        apify.url, apify.token, ACTOR, timeout_s=2.0, max_retries=3, backoff_s=0.01
    ) as c:
        yield c


def _offsets(apify: FakeApify, dataset_id: str) -> list[int]:
    return [int(r.query["offset"]) for r in apify.requests_to(f"/v2/datasets/{dataset_id}/items")]


def test_build_actor_input_asks_for_metadata_only() -> None:
    actor_input = build_actor_input(["fyp", "viral"], 50)
    assert actor_input["hashtags"] == ["fyp", "viral"]
    assert actor_input["resultsPerPage"] == 50
    assert not any(v for k, v in actor_input.items() if k.startswith("shouldDownload"))
    assert len([k for k in actor_input if k.startswith("shouldDownload")]) == 4


def test_successful_run_end_to_end_pages_the_whole_dataset(
    apify: FakeApify, client: ApifyClient
) -> None:
    expected = _items(25)
    apify.next_run(dataset_items=expected, finishes_after_polls=2)
    actor_input = build_actor_input(["fyp"], 25)

    run, items = client.run_and_iter_items(actor_input, max_wait_s=5, page_size=10)
    got = list(items)

    assert run["status"] == "SUCCEEDED"
    assert got == expected
    assert all(isinstance(item["id"], str) for item in got)
    assert _offsets(apify, run["defaultDatasetId"]) == [0, 10, 20]
    pages = apify.requests_to("/v2/datasets/")
    assert all(r.query["limit"] == "10" and r.query["clean"] == "true" for r in pages)
    (start,) = apify.requests_to(f"/v2/acts/{ACTOR}/runs", method="POST")
    assert start.body == actor_input
    assert start.headers["Authorization"] == f"Bearer {apify.token}"
    polls = apify.requests_to(f"/v2/actor-runs/{run['id']}")
    assert len(polls) == 3  # RUNNING, RUNNING, SUCCEEDED
    assert all(0 < int(r.query["waitForFinish"]) <= 60 for r in polls)
    assert all(apify.token not in str(r.query) for r in apify.requests)


def test_dataset_that_is_an_exact_multiple_of_the_page_stops_on_total(
    apify: FakeApify, client: ApifyClient
) -> None:
    dataset_id = apify.add_dataset(_items(20))
    assert len(list(client.iter_dataset_items(dataset_id, page_size=10))) == 20
    # X-Apify-Pagination-Total says we are done: no third, empty page is requested.
    assert _offsets(apify, dataset_id) == [0, 10]


def test_empty_items_dropped_by_clean_do_not_shift_the_offsets(
    apify: FakeApify, client: ApifyClient
) -> None:
    raw = _items(10)
    raw[2] = {}
    raw[7] = {}
    dataset_id = apify.add_dataset(raw)
    got = list(client.iter_dataset_items(dataset_id, page_size=4))
    assert got == [item for item in raw if item]
    assert _offsets(apify, dataset_id) == [0, 4, 8]


def test_empty_dataset_yields_nothing(apify: FakeApify, client: ApifyClient) -> None:
    dataset_id = apify.add_dataset([])
    assert list(client.iter_dataset_items(dataset_id)) == []
    assert _offsets(apify, dataset_id) == [0]


def test_failed_run_raises_run_failed_with_status(apify: FakeApify, client: ApifyClient) -> None:
    run_id = apify.add_run(status="FAILED", finishes_after_polls=1)
    with pytest.raises(ApifyRunFailed) as caught:
        client.wait_for_run(run_id, max_wait_s=5)
    assert caught.value.status == "FAILED"
    assert caught.value.run_id == run_id
    assert "FAILED" in str(caught.value)


def test_timed_out_run_is_a_failure_too(apify: FakeApify, client: ApifyClient) -> None:
    run_id = apify.add_run(statuses=["RUNNING", "TIMING-OUT", "TIMED-OUT"])
    with pytest.raises(ApifyRunFailed) as caught:
        client.wait_for_run(run_id, max_wait_s=5)
    assert caught.value.status == "TIMED-OUT"


def test_run_that_never_finishes_times_out_within_the_deadline(
    apify: FakeApify, client: ApifyClient
) -> None:
    run_id = apify.add_run(finishes_after_polls=None)
    started = time.monotonic()
    with pytest.raises(ApifyRunTimeout) as caught:
        client.wait_for_run(run_id, max_wait_s=1.3)
    elapsed = time.monotonic() - started
    assert 1.3 <= elapsed < 2.5
    assert caught.value.status == "RUNNING"
    polls = apify.requests_to(f"/v2/actor-runs/{run_id}")
    # Early polls use waitForFinish=1; under a second before the deadline it drops to 0.
    assert {r.query.get("waitForFinish") for r in polls} == {"1", None}


def test_page_erroring_once_is_retried_without_duplicates(
    apify: FakeApify, client: ApifyClient
) -> None:
    expected = _items(25)
    dataset_id = apify.add_dataset(expected)
    items = client.iter_dataset_items(dataset_id, page_size=10)
    first_page = [next(items) for _ in range(10)]  # the faults must hit the second page
    apify.fail_next(f"/v2/datasets/{dataset_id}/items", 500)
    apify.fail_next(f"/v2/datasets/{dataset_id}/items", 503)
    got = first_page + list(items)
    assert got == expected
    assert _offsets(apify, dataset_id) == [0, 10, 10, 10, 20]


@pytest.mark.parametrize("http_date", [False, True], ids=["seconds", "http-date"])
def test_429_honours_retry_after_up_to_the_cap(apify: FakeApify, http_date: bool) -> None:
    dataset_id = apify.add_dataset(_items(3))
    # 30 s either way; Apify may send either form.
    retry_after = formatdate(time.time() + 30, usegmt=True) if http_date else 30
    apify.fail_next("/v2/datasets/", 429, retry_after=retry_after)
    with (
        ApifyClient(apify.url, apify.token, ACTOR, backoff_s=0.001, max_backoff_s=0.3) as c,
        capture_logs() as logs,
    ):
        started = time.monotonic()
        got = list(c.iter_dataset_items(dataset_id))
        elapsed = time.monotonic() - started
    assert len(got) == 3
    assert len(apify.requests_to("/v2/datasets/")) == 2
    # Retry-After (30 s) outweighs the 1 ms backoff but is cut to the 0.3 s cap.
    assert 0.25 <= elapsed < 2
    (retry,) = [e for e in logs if e["event"] == "apify retry"]
    assert retry["status_code"] == 429 and retry["sleep_s"] == 0.3


def test_page_erroring_beyond_max_retries_raises(apify: FakeApify, client: ApifyClient) -> None:
    dataset_id = apify.add_dataset(_items(3))
    apify.fail_next("/v2/datasets/", 503, count=10)
    with pytest.raises(ApifyError) as caught:
        list(client.iter_dataset_items(dataset_id))
    assert caught.value.status_code == 503
    assert "503" in str(caught.value) and "after 4 attempts" in str(caught.value)
    assert len(apify.requests_to("/v2/datasets/")) == 4  # 1 try + max_retries=3


def test_404_is_not_retried(apify: FakeApify, client: ApifyClient) -> None:
    with pytest.raises(ApifyError) as caught:
        client.get_run("no-such-run")
    assert caught.value.status_code == 404
    assert "Actor run was not found" in str(caught.value)
    assert len(apify.requests) == 1


def test_unknown_dataset_is_a_404(apify: FakeApify, client: ApifyClient) -> None:
    with pytest.raises(ApifyError, match="404"):
        list(client.iter_dataset_items("missing"))
    assert len(apify.requests) == 1


def test_wrong_token_is_a_401_and_never_leaks(
    apify: FakeApify, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "apify_api_WRONG-secret-token-value"
    caplog.set_level(logging.DEBUG)
    apify.fail_next("/v2/acts/", 503)  # one retry first, so there is a log line to inspect
    with ApifyClient(apify.url, secret, ACTOR, backoff_s=0.01) as c, capture_logs() as logs:
        with pytest.raises(ApifyError) as caught:
            c.start_run(build_actor_input(["fyp"], 1))
    assert caught.value.status_code == 401
    assert "401" in str(caught.value)
    assert [e["event"] for e in logs] == ["apify retry"]
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in repr(logs) and secret not in caplog.text
    assert all(secret not in str(r.query) for r in apify.requests)
    assert apify.requests[-1].headers["Authorization"] == f"Bearer {secret}"


def test_missing_token_sends_no_authorization_header(apify: FakeApify) -> None:
    with ApifyClient(apify.url, None, ACTOR) as c, pytest.raises(ApifyError, match="401"):
        c.get_run("anything")
    assert "Authorization" not in apify.requests[0].headers


def test_error_body_echoing_the_token_is_redacted(apify: FakeApify, client: ApifyClient) -> None:
    apify.fail_next("/v2/actor-runs/", 400, body=f"bad request with token={apify.token}")
    with pytest.raises(ApifyError) as caught:
        client.get_run("run1")
    assert apify.token not in str(caught.value)
    assert "token=***" in str(caught.value)


def test_nothing_listening_fails_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The socket is closed: connections to that port are refused.
    with ApifyClient(
        f"http://127.0.0.1:{port}",
        "apify_api_token",
        ACTOR,
        timeout_s=0.2,
        max_retries=2,
        backoff_s=0.01,
    ) as c:
        with capture_logs() as logs, pytest.raises(ApifyError) as caught:
            c.get_run("run1")
    assert caught.value.status_code is None
    assert "ConnectError" in str(caught.value) and "after 3 attempts" in str(caught.value)
    assert [e["attempt"] for e in logs if e["event"] == "apify retry"] == [1, 2]


def test_a_stalled_response_times_out_and_is_retried(apify: FakeApify) -> None:
    run_id = apify.add_run()
    apify.stall_next("/v2/actor-runs/", 1.0)
    with (
        ApifyClient(apify.url, apify.token, ACTOR, timeout_s=0.2, backoff_s=0.01) as c,
        capture_logs() as logs,
    ):
        started = time.monotonic()
        run = c.get_run(run_id)
    assert run["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 0.9  # did not wait for the stalled answer
    assert "ReadTimeout" in next(e["error"] for e in logs if e["event"] == "apify retry")


@pytest.mark.parametrize("body", ['{"data": []}', "not json", '{"items": []}', "[1, 2]"])
def test_malformed_run_answer_raises_apify_error(
    apify: FakeApify, client: ApifyClient, body: str
) -> None:
    run_id = apify.add_run()
    apify.fail_next("/v2/actor-runs/", 200, body=body)
    with pytest.raises(ApifyError, match="unexpected Apify response"):
        client.get_run(run_id)
    assert client.get_run(run_id)["id"] == run_id  # the same endpoint is fine once well-formed


@pytest.mark.parametrize("body", ["not json", '{"data": []}', "[1, 2]", '[{"id": "1"}, "x"]'])
def test_malformed_dataset_page_raises_apify_error(
    apify: FakeApify, client: ApifyClient, body: str
) -> None:
    dataset_id = apify.add_dataset(_items(1))
    apify.fail_next("/v2/datasets/", 200, body=body)
    with pytest.raises(ApifyError, match="offset 0"):
        list(client.iter_dataset_items(dataset_id))


@pytest.mark.parametrize(
    "retry_after", ["soon", "Wed, 21 Oct 2015 07:28:00 GMT"], ids=["unreadable", "past-date"]
)
def test_retry_after_unreadable_or_past_leaves_the_backoff(
    apify: FakeApify, client: ApifyClient, retry_after: str
) -> None:
    run_id = apify.add_run()
    apify.fail_next("/v2/actor-runs/", 429, retry_after=retry_after)
    apify.fail_next("/v2/actor-runs/", 502, body="")
    with capture_logs() as logs:
        assert client.get_run(run_id)["id"] == run_id
    sleeps = [e["sleep_s"] for e in logs if e["event"] == "apify retry"]
    assert len(sleeps) == 2 and all(s <= 0.04 for s in sleeps)
    assert [e["status_code"] for e in logs if e["event"] == "apify retry"] == [429, 502]


def test_runs_created_either_way_are_served(apify: FakeApify, client: ApifyClient) -> None:
    direct = apify.add_run(status="ABORTED")
    started = client.start_run({"hashtags": ["x"]})
    assert started["status"] in ("READY", "SUCCEEDED")
    assert client.get_run(direct)["status"] == "ABORTED"
    assert client.wait_for_run(started["id"], max_wait_s=2)["status"] == "SUCCEEDED"
    assert set(apify.runs) == {direct, started["id"]}
    assert apify.runs[started["id"]]["actId"] == ACTOR
    assert apify.runs[started["id"]]["finishedAt"] is not None


def test_finish_run_ends_a_never_ending_run(apify: FakeApify, client: ApifyClient) -> None:
    run_id = apify.add_run(finishes_after_polls=None)
    assert client.get_run(run_id)["status"] == "RUNNING"
    apify.finish_run(run_id, "SUCCEEDED")
    assert client.wait_for_run(run_id, max_wait_s=2)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "run_id,path",
    [
        ("../../v2/users/me", "/v2/actor-runs/..%2F..%2Fv2%2Fusers%2Fme"),
        ("abc?limit=1", "/v2/actor-runs/abc%3Flimit%3D1"),
        ("abc\n", "/v2/actor-runs/abc%0A"),
    ],
)
def test_an_id_stays_one_path_segment_of_the_runs_path(apify, client, run_id, path):
    """The second guard behind the webhook's id check: whatever the id, the request goes to the
    runs endpoint, with the id quoted inside one segment."""
    with pytest.raises(ApifyError) as raised:
        client.get_run(run_id)
    assert raised.value.status_code == 404
    assert [(r.path, r.query) for r in apify.requests] == [(path, {})]


@pytest.mark.parametrize("run_id", ["", ".", ".."])
def test_an_id_that_url_normalisation_would_drop_is_refused_before_any_request(
    apify, client, run_id
):
    with pytest.raises(ValueError, match="not an Apify id"):
        client.get_run(run_id)
    with pytest.raises(ValueError, match="not an Apify id"):
        list(client.iter_dataset_items(run_id))
    assert apify.requests == []
