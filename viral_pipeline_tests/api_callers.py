"""The API callers the tests configure (API_TOKENS): `api_client` calls as CALLER; OTHER is a second
product whose requests CALLER must not see."""

from __future__ import annotations

CALLER, TOKEN = "backend", "backend-token-0123456789abcdef"
OTHER, OTHER_TOKEN = "studio", "studio-token-fedcba9876543210"
API_TOKENS = f"{CALLER}={TOKEN},{OTHER}={OTHER_TOKEN}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
