"""Anthropic's Messages API through the ``anthropic`` SDK.

JSON-schema output is asked for the way the API supports it reliably: a single forced tool
whose input schema is the requested schema; its input is the answer. The SDK version pinned
here takes no sampling settings (temperature, top_p, seed), so those are not sent.

As for the OpenAI-compatible provider, ``timeout_s`` bounds the whole call (see
:mod:`~compound.intelligence.llm.bounded_http`), and bytes that are not a Messages API answer
raise :class:`InvalidResponse`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from compound.errors import require
from compound.intelligence.llm.base import LLM, RawResult
from compound.intelligence.llm.bounded_http import bounded_client
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import (
    ContextOverflow,
    InvalidResponse,
    LLMError,
    LLMTimeout,
    MissingCredentials,
    ProviderUnavailable,
    RateLimited,
)
from compound.intelligence.llm.types import GenerationParams, Message, ToolCall, Usage

_OUTPUT_TOOL = "output"


class AnthropicLLM(LLM):
    """A Claude model.

    Args:
        model: e.g. ``claude-haiku-4-5``.
        api_key_env: the environment variable holding the key (``ANTHROPIC_API_KEY``).
        base_url: another endpoint speaking the same API.
        http_client: an ``httpx.Client`` to use (tests pass one replaying recorded responses); its
            transport is wrapped so that each call's deadline holds.

    Example:
        >>> AnthropicLLM(model="claude-haiku-4-5").provider
        'anthropic'
    """

    provider = "anthropic"

    def __init__(
        self,
        *,
        model: str = "claude-haiku-4-5",
        api_key_env: str = "ANTHROPIC_API_KEY",
        base_url: str | None = None,
        defaults: GenerationParams | None = None,
        timeout_s: float = 60.0,
        price_per_mtok: Mapping[str, float] | None = None,
        http_client: Any = None,
    ) -> None:
        super().__init__(model=model, defaults=defaults, timeout_s=timeout_s,
                         price_per_mtok=price_per_mtok)
        self.api_key_env = api_key_env
        self.base_url = base_url
        self.http_client = http_client
        self._client: Any = None

    def load(self) -> None:
        if self._client is not None:
            return
        anthropic = require("anthropic", extra="anthropic", what="the Anthropic provider")
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MissingCredentials(
                f"the anthropic provider needs an API key in ${self.api_key_env}; set it"
            )
        from compound.intelligence.llm.openai_compat import http_module

        self._client = anthropic.Anthropic(  # type: ignore[attr-defined]
            api_key=key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0,
            http_client=bounded_client(http_module(self.http_client), self.http_client,
                                       timeout_s=self.timeout_s),
        )

    def count_tokens(self, text: str) -> int:
        """Approximate (about 3.5 characters a token); exact counts need an API call."""
        return max(1, round(len(text) / 3.5)) if text else 0

    def _request(self, messages: tuple[Message, ...], params: GenerationParams) -> dict[str, Any]:
        system = "\n".join(m.content for m in messages if m.role == "system")
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "messages": _to_anthropic(messages),
        }
        if system:
            request["system"] = system
        if params.stop:
            request["stop_sequences"] = list(params.stop)
        if params.tools:
            request["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                for t in params.tools
            ]
            if params.tool_choice == "required":
                request["tool_choice"] = {"type": "any"}
        elif params.json_schema is not None:
            request["tools"] = [{"name": _OUTPUT_TOOL, "description": "Give the answer.",
                                 "input_schema": dict(params.json_schema)}]
            request["tool_choice"] = {"type": "tool", "name": _OUTPUT_TOOL}
        return request

    def _complete_raw(self, messages: tuple[Message, ...], params: GenerationParams) -> RawResult:
        with _ErrorMap(self.provider, self.model):
            response = self._client.messages.create(**self._request(messages, params))
            return self._result(getattr(response, "content", None), response.usage,
                                response.stop_reason, params)

    def _stream_raw(
        self, messages: tuple[Message, ...], params: GenerationParams
    ) -> Iterator[str | RawResult]:
        request = self._request(messages, params)
        errors = _ErrorMap(self.provider, self.model)
        with errors, self._client.messages.stream(**request) as stream:
            for text in stream.text_stream:
                if not isinstance(text, str):
                    raise TypeError(f"a text delta is {type(text).__name__}, not text")
                yield text
            final = stream.get_final_message()
            result = self._result(final.content, final.usage, final.stop_reason, params)
        yield result

    def _result(
        self, content: Any, usage: Any, stop_reason: str | None, params: GenerationParams
    ) -> RawResult:
        if content is None:
            raise InvalidResponse("the response has no content", provider=self.provider,
                                  model=self.model)
        text = "".join(block.text for block in content if getattr(block, "type", "") == "text")
        uses = [block for block in content if getattr(block, "type", "") == "tool_use"]
        tokens = Usage(getattr(usage, "input_tokens", 0) or 0,
                       getattr(usage, "output_tokens", 0) or 0)
        if params.json_schema is not None and not params.tools:
            output = next((u for u in uses if u.name == _OUTPUT_TOOL), None)
            if output is None:
                raise InvalidResponse(
                    "asked for JSON output, but the model did not return it",
                    raw=text, provider=self.provider, model=self.model,
                )
            return RawResult(json.dumps(output.input), tokens, "stop")
        if uses:
            calls = tuple(ToolCall(u.name, dict(u.input or {}), id=u.id) for u in uses)
            return RawResult(text, tokens, "tool_calls", tool_calls=calls)
        finish = "length" if stop_reason == "max_tokens" else "stop"
        return RawResult(text, tokens, finish)


class _ErrorMap:
    """Translate the SDK's exceptions into compound's typed LLM errors."""

    def __init__(self, provider: str, model: str) -> None:
        self.kw = {"provider": provider, "model": model}

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if not isinstance(exc, Exception):  # none, or a generator closed / a task cancelled
            return
        deadline = Deadline.current()
        if deadline is not None and deadline.done():  # whatever broke, the deadline did it
            raise deadline.error(**self.kw) from exc
        if isinstance(exc, LLMError):
            return
        import anthropic

        message = str(exc)
        if isinstance(exc, UnicodeError | json.JSONDecodeError):
            raise InvalidResponse(f"malformed response: the API sent bytes that are not UTF-8 "
                                  f"JSON ({exc})",
                                  **self.kw) from exc
        if isinstance(exc, AttributeError | TypeError | KeyError | IndexError):
            raise InvalidResponse(f"malformed response: the answer is not shaped like a message "
                                  f"({type(exc).__name__}: {exc})", **self.kw) from exc
        if isinstance(exc, anthropic.APITimeoutError):
            raise LLMTimeout(message, **self.kw) from exc
        if isinstance(exc, anthropic.RateLimitError):
            raise RateLimited(message, **self.kw) from exc
        if isinstance(exc, anthropic.APIConnectionError):
            raise ProviderUnavailable(f"cannot reach the API: {message}", **self.kw) from exc
        if isinstance(exc, anthropic.BadRequestError) and "prompt is too long" in message:
            raise ContextOverflow(message, **self.kw) from exc
        if isinstance(exc, anthropic.APIStatusError) and exc.status_code >= 500:
            raise ProviderUnavailable(message, **self.kw) from exc
        if isinstance(exc, anthropic.APIResponseValidationError | json.JSONDecodeError):
            raise InvalidResponse(f"malformed response: {message}", **self.kw) from exc
        if isinstance(exc, anthropic.APIStatusError):
            raise LLMError(f"HTTP {exc.status_code}: {message}", **self.kw) from exc


def _to_anthropic(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id or "",
                     "content": message.content}
            out.append({"role": "user", "content": [block]})
        elif message.tool_calls:
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": message.content}] if message.content else []
            )
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name,
                        "input": dict(c.arguments)} for c in message.tool_calls]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": message.role, "content": message.content})
    return out
