"""The Gemini judge: `generateContent` with a JSON schema for the answer.

    POST {base}/v1beta/models/{model}:generateContent      header x-goog-api-key: <key>

The key goes in the header, never in a `?key=` query, so no URL (ours, httpx's logs, a proxy's)
carries it. The answer is asked for as `application/json` constrained by JudgeVerdict's JSON
schema, and is still validated here: a schema-constrained model can be cut off or answer blank.
"""

from __future__ import annotations

import re
from typing import Any

from viral_pipeline.llm.judge import (
    BaseJudge,
    JudgeFailed,
    TokenUsage,
    token_count,
    verdict_json_schema,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class GeminiJudge(BaseJudge):
    provider = "gemini"
    key_env = "GEMINI_API_KEY"

    def _url(self) -> str:
        return f"{self.base_url}/v1beta/models/{self.model}:generateContent"

    def _headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key}

    def _body(self, system: str, user: str) -> dict[str, Any]:
        return {
            "systemInstruction": {"parts": [{"text": system}]},
            "contents": [{"role": "user", "parts": [{"text": user}]}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseJsonSchema": verdict_json_schema(),
                "temperature": 0,
            },
        }

    def _usage(self, payload: dict[str, Any]) -> TokenUsage:
        usage = payload.get("usageMetadata")
        if not isinstance(usage, dict):
            return TokenUsage()
        # promptTokenCount includes the cached part; thoughts are billed as output.
        return TokenUsage(
            input_tokens=token_count(usage.get("promptTokenCount", 0)),
            cached_input_tokens=token_count(usage.get("cachedContentTokenCount", 0)),
            output_tokens=token_count(usage.get("candidatesTokenCount", 0))
            + token_count(usage.get("thoughtsTokenCount", 0)),
        )

    def _answer(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        candidates = payload.get("candidates")
        if (
            not isinstance(candidates, list)
            or not candidates
            or not isinstance(candidates[0], dict)
        ):
            feedback = payload.get("promptFeedback")
            block = feedback.get("blockReason") if isinstance(feedback, dict) else None
            if block:
                raise JudgeFailed(
                    self.provider, f"the prompt was blocked ({block})", kind="blocked"
                )
            raise JudgeFailed(self.provider, "the response has no candidate", kind="bad_response")
        candidate = candidates[0]
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        texts = [
            part["text"]
            for part in (parts if isinstance(parts, list) else [])
            if isinstance(part, dict)
            and isinstance(part.get("text"), str)
            and not part.get("thought")
        ]
        finish = candidate.get("finishReason")
        return ("".join(texts) if texts else None), (str(finish) if finish else None)

    def _body_retry_after(self, payload: Any) -> float | None:
        # A 429 from Gemini carries google.rpc.RetryInfo: {"retryDelay": "17s"} in error.details.
        error = payload.get("error") if isinstance(payload, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        for detail in details if isinstance(details, list) else []:
            delay = detail.get("retryDelay") if isinstance(detail, dict) else None
            match = _DURATION.match(delay) if isinstance(delay, str) else None
            if match:
                return float(match.group(1))
        return None
