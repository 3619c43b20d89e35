"""The DeepSeek judge: OpenAI-compatible chat completions in JSON mode.

    POST {base}/chat/completions      header Authorization: Bearer <key>

Any OpenAI-compatible server (a local model server, say) can stand in: point `base_url` at it.
JSON mode (`response_format: json_object`) needs the word "json" in the prompt, which
`build_prompt` contains. DeepSeek may still answer an empty `content`: that is a failure.
"""

from __future__ import annotations

from typing import Any

from viral_pipeline.llm.judge import BaseJudge, JudgeFailed, TokenUsage, token_count

MAX_TOKENS = 400


class DeepSeekJudge(BaseJudge):
    provider = "deepseek"
    key_env = "DEEPSEEK_API_KEY"

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    def _body(self, system: str, user: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": {"type": "json_object"},
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
            "stream": False,
        }

    def _usage(self, payload: dict[str, Any]) -> TokenUsage:
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            return TokenUsage()
        hits = usage.get("prompt_cache_hit_tokens")
        misses = usage.get("prompt_cache_miss_tokens")
        if "prompt_tokens" in usage:
            prompt = token_count(usage["prompt_tokens"])
        else:
            prompt = token_count(hits or 0) + token_count(misses or 0)
        if hits is not None:
            cached = token_count(hits)
        else:
            # A generic OpenAI-compatible server reports cache hits here, if at all.
            details = usage.get("prompt_tokens_details")
            cached = (
                token_count(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
            )
        return TokenUsage(
            input_tokens=prompt,
            cached_input_tokens=min(cached, prompt),
            output_tokens=token_count(usage.get("completion_tokens", 0)),
        )

    def _answer(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise JudgeFailed(self.provider, "the response has no choice", kind="bad_response")
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        finish = choice.get("finish_reason")
        return (content if isinstance(content, str) else None), (str(finish) if finish else None)
