"""The TikTok handle rule, one for every input that names a creator (`creator.handle` of
``POST /api/analyze``, ``tiktok_handle`` of ``PATCH /api/profile``): an optional leading ``@``, then
letters, digits, ``_`` and ``.``, at most `MAX_HANDLE_CHARS` characters."""

from __future__ import annotations

import re

MAX_HANDLE_CHARS = 64
HANDLE_PATTERN = re.compile(r"^[A-Za-z0-9._]+$")


def normalize_handle(value: str) -> str:
    """The handle without a leading ``@`` or surrounding blanks; ValueError when it breaks the rule."""
    handle = value.strip().removeprefix("@").strip()
    if not handle:
        raise ValueError("a handle needs at least one character besides '@'")
    if len(handle) > MAX_HANDLE_CHARS:
        raise ValueError(f"a handle has at most {MAX_HANDLE_CHARS} characters")
    if not HANDLE_PATTERN.match(handle):
        raise ValueError("a TikTok handle holds only letters, digits, '_' and '.'")
    return handle


def handle_key(handle: str) -> str:
    """How handles compare: case-insensitively, without a leading ``@``."""
    return handle.strip().removeprefix("@").strip().lower()
