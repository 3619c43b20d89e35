"""scripts/local_api_token.py, which scripts/run.sh runs before starting the API: a set-up without
API_TOKENS gets a `local` caller in `.env` (once), one with callers keeps them, and the API started
from that `.env` accepts the printed token."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from viral_pipeline.settings import PROJECT_ROOT, Settings, get_settings, load_settings

SCRIPT = PROJECT_ROOT / "scripts" / "local_api_token.py"


def _run(root: Path, **env: str) -> str:
    """The script as run.sh runs it, from a copy at `root` (so it writes `root/.env`)."""
    (root / "scripts").mkdir(exist_ok=True)
    shutil.copy(SCRIPT, root / "scripts" / SCRIPT.name)
    environment = {k: v for k, v in os.environ.items() if k != "API_TOKENS"} | env
    return subprocess.run(
        [sys.executable, str(root / "scripts" / SCRIPT.name)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout.strip()


def test_a_set_up_without_callers_gets_one_local_token_once(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("SCRAPER_SOURCE=simulated\nAPI_TOKENS=\nLOG_LEVEL=INFO\n")
    token = _run(tmp_path)
    assert len(token) == 48 and int(token, 16) >= 0
    env = (tmp_path / ".env").read_text().splitlines()
    assert env == ["SCRAPER_SOURCE=simulated", f"API_TOKENS=local={token}", "LOG_LEVEL=INFO"]
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    assert _run(tmp_path) == token  # a second start keeps it
    assert (tmp_path / ".env").read_text().splitlines() == env

    # The settings read from that .env know the caller by that token.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(Settings.model_config, "env_file", ".env")
    tokens = load_settings().api_tokens
    assert tokens is not None and tokens.caller_for(token) == "local"


def test_a_missing_env_file_is_created(tmp_path):
    token = _run(tmp_path)
    assert (tmp_path / ".env").read_text() == f"API_TOKENS=local={token}\n"


@pytest.mark.parametrize("where", ["env_file", "environment"])
def test_configured_callers_are_kept_and_the_first_token_printed(tmp_path, where):
    configured = "backend=backend-token-0123456789,studio=studio-token-0123456789"
    if where == "env_file":
        (tmp_path / ".env").write_text(f"API_TOKENS={configured}\n")
        assert _run(tmp_path) == "backend-token-0123456789"
        assert (tmp_path / ".env").read_text() == f"API_TOKENS={configured}\n"
    else:
        assert _run(tmp_path, API_TOKENS=configured) == "backend-token-0123456789"
        assert not (tmp_path / ".env").exists()


def test_the_api_accepts_the_printed_token(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from viral_pipeline.api import create_app
    from viral_pipeline_tests.test_predict import REQUEST

    token = _run(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(Settings.model_config, "env_file", ".env")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        answer = client.post(
            "/api/analyze", json=REQUEST, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 202, answer.text
