"""The bearer token a local set-up calls its own API with; prints it on stdout.

The API refuses every product call without a caller token from API_TOKENS, and with none
configured it refuses them all (503). So that `scripts/run.sh` gives a working API out of the box,
a set-up without API_TOKENS (neither in the environment nor in `.env`) gets one caller, `local`,
with a random token, written into the git-ignored `.env` that the API reads at start-up. A set-up
that has callers keeps them: the token printed is then its first caller's (the environment wins
over `.env`, as in the settings). `scripts/run.sh` prints it with a curl line;
`scripts/smoke_run.py` calls the API with it.

    .venv/bin/python scripts/local_api_token.py
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / ".env"
LOCAL_CALLER = "local"
# An `API_TOKENS=` line with no value (as copied from .env.example) counts as unset: it is filled.
_EMPTY_LINE = re.compile(r"^\s*(export\s+)?API_TOKENS\s*=\s*(''|\"\")?\s*$")


def _first_token(api_tokens: str) -> str:
    _, _, token = api_tokens.split(",")[0].partition("=")
    return token.strip()


def local_token(env_file: Path = ENV_FILE) -> str:
    configured = os.environ.get("API_TOKENS") or (
        dotenv_values(env_file).get("API_TOKENS") if env_file.exists() else None
    )
    if configured:
        return _first_token(configured)
    token = secrets.token_hex(24)
    entry = f"API_TOKENS={LOCAL_CALLER}={token}"
    lines = env_file.read_text().splitlines() if env_file.exists() else []
    filled = [entry if _EMPTY_LINE.match(line) else line for line in lines]
    if entry not in filled:
        filled.append(entry)
    env_file.write_text("\n".join(filled) + "\n")
    env_file.chmod(0o600)  # a credential: readable by its owner only
    return token


if __name__ == "__main__":
    sys.stdout.write(local_token() + "\n")
