"""The error answers the OpenAPI document lists, declared once: every status an operation can
answer is in its `responses`, with the body it carries.

A refusal by a handler or a guard answers `{"detail": "<reason>"}` (`Problem`); a 422 answers
FastAPI's validation shape, `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`, which FastAPI
documents on every operation with an input.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from viral_pipeline.api.guards import MAX_BODY_BYTES


class Problem(BaseModel):
    detail: str


Responses = dict[int | str, dict[str, Any]]


def problem(description: str) -> dict[str, Any]:
    """A documented refusal whose body is a `Problem`."""
    return {"model": Problem, "description": description}


INVALID_INPUT = (
    "invalid input: the field named by `loc` breaks its rule, or the body is not strict JSON "
    "(NaN, Infinity, a number beyond a double, a NUL, a lone surrogate, nesting deeper than 32)"
)

# Every operation that takes a body (api/guards.py reads it before any handler).
BODY_ERRORS: Responses = {
    413: problem(f"request body larger than {MAX_BODY_BYTES} bytes"),
    422: {"description": INVALID_INPUT},
}

# Every operation that requires a caller's token (api/deps.py `require_caller`).
CALLER_ERRORS: Responses = {
    401: problem("missing or wrong caller token"),
    503: problem("API_TOKENS not set: caller endpoints disabled"),
}

# Every admin operation (api/deps.py `require_admin_token`).
ADMIN_ERRORS: Responses = {
    401: problem("missing or wrong admin token"),
    503: problem("ADMIN_TOKEN not set: admin endpoints disabled"),
}

# Every operation with a rate limit (api/limits.py `rate_limit`).
RATE_LIMITED: Responses = {
    429: {
        **problem(
            "over the caller's rate limit for this endpoint (RATE_LIMIT_<GROUP>_PER_MINUTE); "
            "nothing was stored"
        ),
        "headers": {
            "Retry-After": {
                "description": "whole seconds until the caller's window frees",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}
