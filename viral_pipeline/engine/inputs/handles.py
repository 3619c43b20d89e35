"""The TikTok handle rule, one for every input that names a creator (`creator.handle` of
``POST /api/analyze``, ``tiktok_handle`` of ``PATCH /api/profile``): an optional leading ``@``, then
letters, digits, ``_`` and ``.``, at most `MAX_HANDLE_CHARS` characters, with spaces around
allowed. `HANDLE_INPUT_PATTERN` is that rule as the OpenAPI document shows it."""

from __future__ import annotations

import re

MAX_HANDLE_CHARS = 64
HANDLE_PATTERN = re.compile(r"[A-Za-z0-9._]+")
# What a caller may send: exactly what `normalize_handle` accepts. Only spaces surround a handle:
# a tab or a line break is no part of any handle's spelling.
HANDLE_INPUT_PATTERN = rf"^ *@? *[A-Za-z0-9._]{{1,{MAX_HANDLE_CHARS}}} *$"
# The same, where a blank value (or a bare '@') means "no handle".
OPTIONAL_HANDLE_INPUT_PATTERN = rf"^ *@?(?: *[A-Za-z0-9._]{{1,{MAX_HANDLE_CHARS}}})? *$"


def normalize_handle(value: str) -> str:
    """The handle without a leading ``@`` or surrounding blanks; ValueError when it breaks the rule."""
    handle = bare_handle(value)
    if not handle:
        raise ValueError("a handle needs at least one character besides '@'")
    if len(handle) > MAX_HANDLE_CHARS:
        raise ValueError(f"a handle has at most {MAX_HANDLE_CHARS} characters")
    if not HANDLE_PATTERN.fullmatch(handle):
        raise ValueError("a TikTok handle holds only letters, digits, '_' and '.'")
    return handle


def bare_handle(value: str) -> str:
    """`value` without the spaces around it and a leading ``@``; empty for a bare ``@``."""
    return value.strip(" ").removeprefix("@").strip(" ")


def handle_key(handle: str) -> str:
    """How handles compare: case-insensitively, without a leading ``@``."""
    return handle.strip().removeprefix("@").strip().lower()
