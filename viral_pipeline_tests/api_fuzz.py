"""Fuzzing the HTTP API against its own OpenAPI document (schemathesis), shared by
`test_api_fuzz.py` (few examples, in CI) and `bench/api_fuzz.py` (many, figures printed).

Every operation of `/openapi.json` gets generated requests, valid ones (positive) and invalid ones
(negative), sent to the ASGI app with the credentials the operation declares: a caller's token,
the admin token, the webhook secret. Each answer goes through every response check schemathesis
has (no 5xx, status code documented, content type, headers and body as documented, invalid data
refused, valid data accepted, authentication not ignored...), one check at a time so a report
counts failures by check. Around each request the rows of every app table are counted: a refused
request (4xx) must leave them as they were.

Derandomized: Hypothesis draws from a fixed seed and keeps no example database, so at the test's
size a run with the same code sends the same requests (long bench runs still vary slightly:
bench/README.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

from viral_pipeline.api.limits import LimitGroup
from viral_pipeline.store.schema import api_rate_windows, metadata
from viral_pipeline_tests.api_callers import API_TOKENS, TOKEN

ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
WEBHOOK_SECRET = "fuzz-webhook-secret-0123456789"

# Rules the OpenAPI document states in words only (JSON Schema cannot say them): a schema-valid
# request refused by one of them is counted apart, not as a failure. The `msg` of the 422.
DESCRIBED_ONLY = (
    "Input should be a valid integer",  # duration_s is a JSON integer: 24, never 24.0
    "differs from video_id",  # video_url and video_id, both given, name one video
    "end must not be before start",  # GET /api/admin/costs
    "the range spans at most",  # GET /api/admin/costs
    "Idempotency-Key already used",  # POST /api/analyze: a key repeated with another body
)

# The checks that are not about the answer in hand: response time is a bench figure, never a
# pass/fail, and the stateful ones need the links of a stateful run (this run sends single
# requests).
_NOT_APPLICABLE = frozenset({"max_response_time", "use_after_free", "ensure_resource_availability"})


def fuzz_environment(database_url: str, apify_url: str, apify_token: str) -> dict[str, str]:
    """The settings (environment variables) of the fuzzed app: every credential configured, the
    Apify API at the fake server. The fuzz caller sends hundreds of requests a minute: its rate
    limits are lifted so that every generated request reaches the rules behind them
    (test_rate_limits.py proves the limits themselves)."""
    lifted = {group.setting: str(10**6) for group in LimitGroup}
    return {
        **lifted,
        "DATABASE_URL": database_url,
        "API_TOKENS": API_TOKENS,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "APIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "APIFY_API_URL": apify_url,
        "APIFY_TOKEN": apify_token,
    }


@dataclass
class FuzzReport:
    operations: list[str] = field(default_factory=list)
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # check name -> how many answers failed it; with one example of each (operation, check).
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    # "METHOD /path -> status": refused requests that changed a row count, and which tables.
    stored_when_refused: list[str] = field(default_factory=list)
    # 422 messages of DESCRIBED_ONLY rules that refused schema-valid requests -> count.
    described_only: Counter[str] = field(default_factory=Counter)
    # Operations with no invalid request to make (no input at all: GET /healthz).
    without_invalid_input: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


# A refused request still spends a place of its caller's rate limit (README, Rate limits): the
# counter's windows are bookkeeping, not something the request stored.
_BOOKKEEPING = frozenset({api_rate_windows.name})


def app_row_counts(engine: sa.Engine) -> dict[str, int]:
    """Rows in every app table that holds what requests store, by table."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in metadata.sorted_tables
            if table.name not in _BOOKKEEPING
        }


def _described_only_refusal(response: Any) -> str | None:
    """The DESCRIBED_ONLY rule a 422 names, when every error it lists is that one rule."""
    if response.status_code != 422:
        return None
    errors = response.json().get("detail", [])
    rules = set()
    for error in errors:
        message = str(error.get("msg", ""))
        matched = [rule for rule in DESCRIBED_ONLY if rule in message]
        # The strict-integer rule only for what it is about: an integral number written as 24.0.
        if not matched or (
            matched[0] == DESCRIBED_ONLY[0] and not isinstance(error.get("input"), float)
        ):
            return None
        rules.add(matched[0])
    return rules.pop() if len(rules) == 1 else None


def _checks() -> list[Any]:
    load_all_checks()
    return [check for check in CHECKS.get_all() if check.__name__ not in _NOT_APPLICABLE]


def fuzz_api(
    app: Any, engine: sa.Engine, max_examples: int, progress: Callable[[str], None] | None = None
) -> FuzzReport:
    """Fuzz every operation of `app` with `max_examples` positive and as many negative examples."""
    config = schemathesis.Config.from_dict(
        {
            # The tokens of the document's security schemes, sent as schemathesis sees fit.
            "auth": {
                "openapi": {
                    "CallerToken": {"bearer": TOKEN},
                    "AdminToken": {"bearer": ADMIN_TOKEN},
                }
            },
            # A NUL is refused in every string and key (api/guards.py, documented with the 422).
            "generation": {"allow-x00": False},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    checks = _checks()
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations.append(operation.label)
        # The webhook's secret is a declared header: fixed, so generated requests get past it.
        fixed_headers = (
            {"x-webhook-secret": WEBHOOK_SECRET} if "webhooks" in operation.path else None
        )
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if progress is not None:
                progress(f"{operation.label} {mode.value}")
            strategy = operation.as_strategy(generation_mode=mode, headers=fixed_headers)
            done = _fuzz_operation(strategy, engine, checks, report, max_examples)
            if not done:
                report.without_invalid_input.append(operation.label)
    return report


def _fuzz_operation(
    strategy: Any,
    engine: sa.Engine,
    checks: list[Any],
    report: FuzzReport,
    max_examples: int,
) -> bool:
    """False when the strategy has no example at all."""

    @hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        # Failures are counted, not raised: there is nothing to shrink.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def send(case: Any) -> None:
        before = app_row_counts(engine)
        response = case.call()
        report.requests += 1
        report.statuses[response.status_code] += 1
        if 400 <= response.status_code < 500:
            after = app_row_counts(engine)
            changed = sorted(name for name in after if after[name] != before[name])
            if changed:
                report.stored_when_refused.append(
                    f"{case.operation.label} -> {response.status_code}: {', '.join(changed)}"
                )
        described = _described_only_refusal(response)
        for check in checks:
            if described is not None and check.__name__ == "positive_data_acceptance":
                report.described_only[described] += 1
                continue
            try:
                case.validate_response(response, checks=[check])
            except FailureGroup as group:
                report.failures[check.__name__] += 1
                key = f"{check.__name__} {case.operation.label}"
                answer = f"{response.status_code} {response.text[:400]}"
                report.examples.setdefault(key, f"{str(group.exceptions[0])[:600]}\n{answer}")

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        # An operation with no input at all (GET /healthz) has no invalid request to make.
        return False
    return True
