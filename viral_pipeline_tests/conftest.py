"""Shared fixtures: a real PostgreSQL server for the session, shared sample data, and settings
isolated per test (a temporary SQLite database, MLflow store and DAGSTER_HOME; no secrets)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from viral_pipeline.settings import Settings, get_settings
from viral_pipeline_tests.postgres_server import PostgresServer, find_binaries

# The fake Gemini and DeepSeek servers' fixtures (`fake_gemini`, `fake_deepseek`), for every test.
pytest_plugins = ["viral_pipeline_tests.fakes.llm_servers"]

REPO_ROOT = Path(__file__).resolve().parent.parent
# Real Apify payloads live in `shared/data/apify` next to the repository (CI and the team's
# machines; not a user's clone). VIRAL_SHARED_DIR moves `shared`, e.g. to a missing folder to see
# what a clone without it runs. Tests reach these files only through the `shared_apify_dir`
# fixture (test_shared_data_guard.py enforces it), so a missing folder is a clear skip everywhere.
SHARED_DIR_ENV = "VIRAL_SHARED_DIR"
SHARED_DIR = Path(os.environ.get(SHARED_DIR_ENV) or REPO_ROOT.parent / "shared")
SHARED_APIFY_DIR = SHARED_DIR / "data" / "apify"
SHARED_MISSING = "../shared/data/apify is not present"  # how a skip for it begins
# The Dagster Helm chart's published values schema (deploy/helm/SCHEMA.md: which release, from
# where). A file taken from a public repository lives in shared/, not in this repository.
SHARED_HELM_SCHEMA = SHARED_DIR / "data" / "dagster_helm" / "values.schema.json"

# Secrets are never taken from the developer's shell; a test that needs one sets it.
_SECRET_ENV_VARS = (
    "APIFY_TOKEN",
    "SENTRY_DSN",
    "ADMIN_TOKEN",
    "APIFY_WEBHOOK_SECRET",
    "API_TOKENS",
)

logger = logging.getLogger(__name__)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(reason: str) -> None:
    """Skip on a developer's machine; in CI a missing prerequisite is a failure."""
    if _in_ci():
        pytest.fail(f"{reason} [CI is set, so this fails instead of skipping]", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that uses the server or the shared data is marked, so `-m "not postgres"` or
    # `-m "not shared_data"` leaves them out.
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "postgres_server" in fixtures:
            item.add_marker(pytest.mark.postgres)
        if "shared_apify_dir" in fixtures:
            item.add_marker(pytest.mark.shared_data)


# ---- PostgreSQL ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the whole session (stopped and removed at the end)."""
    binaries = find_binaries()
    if binaries is None:
        _missing(
            "PostgreSQL server binaries (pg_ctl/initdb) not found: install with apt-get install postgresql"
        )
    server = PostgresServer(binaries).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    name = make_url(url).database
    assert name is not None
    _dispose_cached_engines(name, postgres_server.port)
    try:
        postgres_server.drop_database(name)
    except Exception:  # the server is thrown away anyway; never fail a test on cleanup
        logger.warning("could not drop test database %s", name, exc_info=True)


def _dispose_cached_engines(database: str, port: int | None) -> None:
    # viral_pipeline.store.db.get_engine keeps one engine per URL for the process; drop the
    # ones pointing at this test's database so their pooled connections close.
    from viral_pipeline.store import db

    engines = getattr(db, "_engines", None)
    lock = getattr(db, "_engines_lock", None)
    if not isinstance(engines, dict) or lock is None:
        return
    with lock:
        for key in list(engines):
            parsed = make_url(key)
            if parsed.database == database and parsed.port == port:
                engines.pop(key).dispose()


# ---- Data files ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_apify_dir() -> Path:
    """`../shared/data/apify`: real Apify payloads, present in CI and on the team's machines.

    The only way a test reaches the shared folder: it skips with a clear reason on a clone without
    it, and fails under CI.
    """
    if not SHARED_APIFY_DIR.is_dir():
        _missing(
            f"{SHARED_MISSING} ({SHARED_APIFY_DIR}; it exists in CI and the team's machines, "
            "not in a user's clone)"
        )
    return SHARED_APIFY_DIR


@pytest.fixture(scope="session")
def dagster_helm_schema() -> dict[str, Any]:
    """The Dagster chart's values schema from `../shared/data/dagster_helm`.

    Until the file is placed there, the tests that need it skip, under CI too, naming where it
    belongs: nothing in this repository can bring it.
    """
    if not SHARED_HELM_SCHEMA.is_file():
        pytest.skip(
            f"{SHARED_HELM_SCHEMA} is not present: deploy/helm/SCHEMA.md says which file belongs there"
        )
    schema: dict[str, Any] = json.loads(SHARED_HELM_SCHEMA.read_text())
    return schema


# ---- Settings isolation ----------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/app.db"


@pytest.fixture(autouse=True)
def _isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str
) -> Iterator[None]:
    """Each test sees defaults plus a private database, MLflow store and DAGSTER_HOME.

    Every variable Settings reads is removed from the environment first (so nothing leaks in
    from the developer's shell, secrets included), and `.env` files are not read.
    """
    fields = set(Settings.model_fields)
    for name in list(os.environ):
        if name.lower() in fields or name.upper() in _SECRET_ENV_VARS:
            monkeypatch.delenv(name)
    monkeypatch.setitem(Settings.model_config, "env_file", None)

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("SCRAPER_SOURCE", "simulated")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# ---- More fixtures ---------------------------------------------------------------------

from viral_pipeline_tests.fakes.sentry import sentry_events  # noqa: E402,F401  (a fixture)

# The lead adds the domain fixtures (sample videos, Dagster instances, API clients...) here.


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The same test on a SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return sqlite_url
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def app_engine(any_db_url: str):
    """A migrated application database, on each backend."""
    from viral_pipeline.store.db import ready_engine

    return ready_engine(any_db_url)


@pytest.fixture
def fake_apify(monkeypatch: pytest.MonkeyPatch):
    """A real Apify-speaking HTTP server on 127.0.0.1, with the settings pointing at it."""
    from viral_pipeline_tests.fakes.apify_server import FakeApify

    with FakeApify() as apify:
        monkeypatch.setenv("APIFY_API_URL", apify.url)
        monkeypatch.setenv("APIFY_TOKEN", apify.token)
        get_settings.cache_clear()
        yield apify


@pytest.fixture
def api_client(monkeypatch: pytest.MonkeyPatch):
    """The ASGI app built from the current (test) settings, behind FastAPI's test client, with
    two callers configured (API_TOKENS) and calling as the first (`api_callers.CALLER`)."""
    from fastapi.testclient import TestClient

    from viral_pipeline.api import create_app
    from viral_pipeline_tests.api_callers import API_TOKENS, TOKEN, bearer

    monkeypatch.setenv("API_TOKENS", API_TOKENS)
    get_settings.cache_clear()
    with TestClient(create_app(), headers=bearer(TOKEN)) as client:
        yield client
