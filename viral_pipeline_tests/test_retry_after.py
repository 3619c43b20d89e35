"""The one Retry-After parser that the Apify client and the LLM judges share."""

from __future__ import annotations

import pytest

from viral_pipeline.retry_after import MAX_RETRY_AFTER_S, parse_retry_after

# 2015-10-21 07:28:00 UTC, the date in RFC 9110's own example.
EXAMPLE_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
EXAMPLE_EPOCH = 1445412480.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), (" 7 ", 7.0), ("0.2", 0.2), (".5", 0.5), ("+3", 3.0), ("-5", 0.0)],
)
def test_a_number_of_seconds_is_the_wait_and_never_negative(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_absent_header_gives_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "soon",
        "inf",
        "-inf",
        "nan",
        "1e3",  # not delay-seconds, and float() alone would take it
        "1_000",  # float() takes underscores too
        "0x10",
        "+",
        "12:00",
        "Wed, 21 Oct",
        "Wed, 32 Oct 2015 07:28:00 GMT",  # no such day
        "Wed, 21 Oct 99999 07:28:00 GMT",  # beyond what a datetime holds
    ],
)
def test_garbage_gives_none_so_the_caller_uses_its_backoff(value: str) -> None:
    assert parse_retry_after(value, now=EXAMPLE_EPOCH) is None


def test_an_http_date_in_the_future_is_the_seconds_until_it() -> None:
    assert parse_retry_after(EXAMPLE_DATE, now=EXAMPLE_EPOCH - 10) == pytest.approx(10.0)
    # "-0000" (no zone named) and the two obsolete formats RFC 9110 still asks readers to accept.
    assert parse_retry_after(
        "Wed, 21 Oct 2015 07:28:00 -0000", now=EXAMPLE_EPOCH - 30
    ) == pytest.approx(30.0)
    assert parse_retry_after(
        "Wednesday, 21-Oct-15 07:28:00 GMT", now=EXAMPLE_EPOCH - 1
    ) == pytest.approx(1.0)
    assert parse_retry_after("Wed Oct 21 07:28:00 2015", now=EXAMPLE_EPOCH - 2) == pytest.approx(
        2.0
    )


def test_an_http_date_in_the_past_or_now_means_no_wait() -> None:
    assert parse_retry_after(EXAMPLE_DATE, now=EXAMPLE_EPOCH) == 0.0
    assert parse_retry_after(EXAMPLE_DATE, now=EXAMPLE_EPOCH + 3600) == 0.0


def test_an_http_date_is_measured_from_the_clock_by_default() -> None:
    assert parse_retry_after(EXAMPLE_DATE) == 0.0  # 2015 is long past
    wait_s = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT")
    assert wait_s == MAX_RETRY_AFTER_S


def test_huge_waits_are_capped_to_a_finite_number() -> None:
    hundreds_of_digits = "9" * 400  # float() of this is inf
    assert parse_retry_after(hundreds_of_digits) == MAX_RETRY_AFTER_S
    assert parse_retry_after("86401") == MAX_RETRY_AFTER_S
    assert (
        parse_retry_after(EXAMPLE_DATE, now=EXAMPLE_EPOCH - 10 * MAX_RETRY_AFTER_S)
        == MAX_RETRY_AFTER_S
    )


def test_the_caller_sets_its_own_cap() -> None:
    assert parse_retry_after("30", cap_s=0.3) == 0.3
    assert parse_retry_after("0.1", cap_s=0.3) == 0.1
    assert parse_retry_after(EXAMPLE_DATE, now=EXAMPLE_EPOCH - 60, cap_s=5.0) == 5.0
    assert parse_retry_after("soon", cap_s=5.0) is None
