"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp's server) through the
``openai`` SDK.

Set ``base_url`` for a local server (``http://127.0.0.1:8000/v1``); the API key comes from the
environment variable named by ``api_key_env`` (``OPENAI_API_KEY`` by default), and a local
server without keys gets a placeholder. The SDK's own retries are off: retrying is a strategy
decision (see ``compound.strategy``), made on the typed errors this provider raises.

``timeout_s`` bounds the whole call, not each read: the SDK's HTTP client is wrapped by
:mod:`~compound.intelligence.llm.bounded_http`, so a server that trickles its answer or
stalls is given up at the deadline and its connection closed. Bytes that are not a chat
completion (not UTF-8, not JSON, not shaped like one) raise :class:`InvalidResponse`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from compound.datafiles import NotJSON, parse_json
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
from compound.intelligence.llm.types import (
    GenerationParams,
    Message,
    ToolCall,
    Usage,
)


class OpenAICompatibleLLM(LLM):
    """A model served behind the OpenAI chat-completions API.

    Args:
        model: the served model id.
        base_url: the server's ``/v1`` URL; OpenAI's when unset.
        api_key_env: the environment variable holding the key.
        http_client: an ``httpx.Client`` to use (tests pass one with a mock transport); its
            transport is wrapped so that each call's deadline holds.

    Example:
        >>> llm = OpenAICompatibleLLM(model="gemma", base_url="http://127.0.0.1:8080/v1")
        >>> llm.provider
        'openai'
    """

    provider = "openai"

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        defaults: GenerationParams | None = None,
        timeout_s: float = 60.0,
        price_per_mtok: Mapping[str, float] | None = None,
        http_client: Any = None,
    ) -> None:
        super().__init__(model=model, defaults=defaults, timeout_s=timeout_s,
                         price_per_mtok=price_per_mtok)
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.http_client = http_client
        self._client: Any = None

    def load(self) -> None:
        if self._client is not None:
            return
        openai = require("openai", extra="openai", what="the OpenAI-compatible provider")
        key = os.environ.get(self.api_key_env)
        if not key:
            if self.base_url is None:
                raise MissingCredentials(
                    f"the openai provider needs an API key in ${self.api_key_env}; set it, or "
                    "set 'base_url' to a local OpenAI-compatible server"
                )
            key = "not-needed"
        self._client = openai.OpenAI(  # type: ignore[attr-defined]
            api_key=key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0,
            http_client=bounded_client(http_module(self.http_client), self.http_client,
                                       timeout_s=self.timeout_s),
        )

    def count_tokens(self, text: str) -> int:
        """Approximate: about four characters a token for English text.

        Exact counts need the server's tokenizer, which an OpenAI-compatible API does not
        expose; budgets built on this estimate keep a margin.
        """
        return max(1, (len(text) + 3) // 4) if text else 0

    def _request(self, messages: tuple[Message, ...], params: GenerationParams) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [_to_openai(m) for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        if params.stop:
            request["stop"] = list(params.stop)
        if params.tools:
            request["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": dict(t.parameters)}}
                for t in params.tools
            ]
            if params.tool_choice == "required":
                request["tool_choice"] = "required"
            if params.parallel_tool_calls:
                request["parallel_tool_calls"] = True
        elif params.json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": dict(params.json_schema)},
            }
        return request

    def _complete_raw(self, messages: tuple[Message, ...], params: GenerationParams) -> RawResult:
        with self._errors():
            response = self._client.chat.completions.create(**self._request(messages, params))
            choices = getattr(response, "choices", None)
            if not choices:
                raise InvalidResponse(
                    f"the response has no choices: {str(response)[:200]!r}",
                    raw=str(response), provider=self.provider, model=self.model,
                )
            choice = choices[0]
            message = choice.message
            calls = tuple(self._tool_call(c) for c in (message.tool_calls or ()))
            usage = response.usage
            text = message.content or ""
            if not isinstance(text, str):
                raise TypeError(f"message content is {type(text).__name__}, not text")
            return RawResult(
                text=text,
                usage=Usage(getattr(usage, "prompt_tokens", 0) or 0,
                            getattr(usage, "completion_tokens", 0) or 0),
                finish_reason="tool_calls" if calls else _finish(choice.finish_reason),
                tool_calls=calls,
            )

    def _stream_raw(
        self, messages: tuple[Message, ...], params: GenerationParams
    ) -> Iterator[str | RawResult]:
        request = self._request(messages, params)
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
        pieces: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish = "stop"
        usage = Usage()
        ended = False
        with self._errors(), self._client.chat.completions.create(**request) as stream:
            for chunk in stream:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens or 0,
                                  chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None and delta.content:
                        if not isinstance(delta.content, str):
                            raise TypeError(f"a delta's content is {type(delta.content).__name__}")
                        pieces.append(delta.content)
                        yield delta.content
                    for call in (delta.tool_calls or ()) if delta is not None else ():
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "args": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["args"] += call.function.arguments or ""
                    if choice.finish_reason:
                        finish = choice.finish_reason
                        ended = True
        if not ended:
            raise InvalidResponse(
                "the stream ended before the model finished (no finish_reason): the connection "
                "was probably dropped", raw="".join(pieces), provider=self.provider,
                model=self.model,
            )
        tool_calls = tuple(
            ToolCall(s["name"], self._arguments(s["args"]), id=s["id"]) for s in calls.values()
        )
        yield RawResult(
            "".join(pieces), usage,
            "tool_calls" if tool_calls else _finish(finish), tool_calls=tool_calls,
        )

    def _tool_call(self, call: Any) -> ToolCall:
        return ToolCall(call.function.name, self._arguments(call.function.arguments), id=call.id)

    def _arguments(self, raw: str) -> dict[str, Any]:
        try:  # parse_json: arguments may nest too deeply or hold a huge number
            value = parse_json(raw or "{}")
        except NotJSON as exc:
            raise InvalidResponse(
                f"tool call arguments are not JSON ({exc.msg}): {raw[:200]!r}",
                raw=raw, provider=self.provider, model=self.model,
            ) from None
        if not isinstance(value, dict):
            raise InvalidResponse(f"tool call arguments must be an object, received {raw[:200]!r}",
                                  raw=raw, provider=self.provider, model=self.model)
        return value

    def _errors(self) -> _ErrorMap:
        return _ErrorMap(self.provider, self.model)


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
        import openai

        message = str(exc)
        if isinstance(exc, UnicodeError):
            raise InvalidResponse(f"malformed response: the server sent bytes that are not "
                                  f"UTF-8 text ({exc}); "
                                  "is base_url an OpenAI-compatible server?",
                                  **self.kw) from exc
        if isinstance(exc, json.JSONDecodeError):
            raise InvalidResponse(f"malformed response: the server's answer is not JSON ({exc}); "
                                  "is base_url an OpenAI-compatible server?",
                                  **self.kw) from exc
        if isinstance(exc, AttributeError | TypeError | KeyError | IndexError):
            raise InvalidResponse(f"malformed response: the answer is not shaped like a chat "
                                  f"completion "
                                  f"({type(exc).__name__}: {exc})", **self.kw) from exc
        if isinstance(exc, openai.APITimeoutError):
            raise LLMTimeout(message, **self.kw) from exc
        if isinstance(exc, openai.RateLimitError):
            retry = exc.response.headers.get("retry-after") if exc.response is not None else None
            raise RateLimited(message, retry_after_s=_seconds(retry), **self.kw) from exc
        if isinstance(exc, openai.APIConnectionError):
            raise ProviderUnavailable(f"cannot reach the server: {message}", **self.kw) from exc
        if isinstance(exc, openai.BadRequestError) and (
            getattr(exc, "code", None) == "context_length_exceeded"
            or "context_length" in message or "maximum context" in message
        ):
            raise ContextOverflow(message, **self.kw) from exc
        if isinstance(exc, openai.InternalServerError):
            raise ProviderUnavailable(message, **self.kw) from exc
        if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
            raise ProviderUnavailable(message, **self.kw) from exc
        if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
            raise InvalidResponse(f"malformed response: {message}", **self.kw) from exc
        if isinstance(exc, openai.APIStatusError):
            raise LLMError(f"HTTP {exc.status_code}: {message}", **self.kw) from exc


def http_module(client: Any) -> Any:
    """The ``httpx``-style module of ``client``, or the one the SDKs use by default."""
    import importlib

    if client is not None:
        # security: the package of a client object the caller passed in, already imported
        return importlib.import_module(type(client).__module__.split(".")[0])
    try:
        return importlib.import_module("httpx2")
    except ImportError:
        return importlib.import_module("httpx")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _finish(reason: str | None) -> Any:
    return {"length": "length", "tool_calls": "tool_calls"}.get(reason or "stop", "stop")


def _to_openai(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    return out
