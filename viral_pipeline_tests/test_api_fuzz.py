"""The OpenAPI document is true: schemathesis sends generated requests, valid and invalid, to every
operation with the credentials it declares, and every answer passes every response check (no
server error, status code documented, content type, headers and body as documented, invalid
input refused, valid input accepted, authentication not ignored). A refused request stores
nothing. Bounded and derandomized, so CI runs the same requests each time; `bench/api_fuzz.py`
runs many more."""

from __future__ import annotations

import pytest

from viral_pipeline.settings import get_settings
from viral_pipeline.store.db import ready_engine
from viral_pipeline_tests.api_fuzz import fuzz_api, fuzz_environment

# Per operation and per mode (valid, invalid): about 300 requests in all.
EXAMPLES = 15


@pytest.fixture
def fuzzed_app(monkeypatch, sqlite_url, fake_apify):
    from viral_pipeline.api import create_app

    fake_apify.every_run_exists = True
    for name, value in fuzz_environment(sqlite_url, fake_apify.url, fake_apify.token).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return create_app()


def test_every_operation_answers_as_its_openapi_document_says(fuzzed_app):
    report = fuzz_api(fuzzed_app, ready_engine(get_settings().database_url), EXAMPLES)

    documented = {
        f"{method.upper()} {path}"
        for path, item in fuzzed_app.openapi()["paths"].items()
        for method in item
    }
    assert set(report.operations) == documented
    assert report.requests >= len(documented) * EXAMPLES
    assert report.server_errors == 0, report.statuses
    assert dict(report.failures) == {}, "\n\n".join(
        f"{key}:\n{example}" for key, example in report.examples.items()
    )
    assert report.stored_when_refused == []
    # Accepted requests did store (the row counts are watched where it matters), and the
    # refusals include the documented 401 and 422.
    assert {202, 401, 404, 422} <= set(report.statuses)
    # Only GET /healthz has no input to make invalid.
    assert report.without_invalid_input == ["GET /healthz"]
