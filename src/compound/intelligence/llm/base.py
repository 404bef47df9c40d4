"""The LLM interface: messages in; text, token usage, latency and cost out; streaming too.

A provider implements two methods, :meth:`LLM._stream_raw` and :meth:`LLM.count_tokens`
(and may override :meth:`LLM._complete_raw` when it has a cheaper non-streaming path). The
base class does the rest once for all of them: merging call settings with the spec's
defaults, timing, cost, and checking JSON output against the requested schema.
"""

from __future__ import annotations

import abc
import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from compound.intelligence.llm.errors import InvalidResponse
from compound.intelligence.llm.pricing import cost_usd
from compound.intelligence.llm.types import (
    Completion,
    FinishReason,
    GenerationParams,
    Message,
    Prompt,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolDefinition,
    Usage,
    as_messages,
)


@dataclass(frozen=True, slots=True)
class RawResult:
    """What a provider reports at the end of a call, before the base class adds timing/cost."""

    text: str
    usage: Usage
    finish_reason: FinishReason = "stop"
    tool_calls: tuple[ToolCall, ...] = ()
    data: Any = None


class LLM(abc.ABC):
    """A language model behind one small interface.

    Args:
        model: the provider's model id.
        defaults: generation settings used when a call does not set them.
        timeout_s: the longest a call may take.

    Example:
        >>> from compound.intelligence.llm import ScriptedLLM
        >>> llm = ScriptedLLM(["Paris."])
        >>> llm.complete("What is the capital of France?").text
        'Paris.'
    """

    provider: ClassVar[str] = "abstract"

    def __init__(
        self,
        *,
        model: str,
        defaults: GenerationParams | None = None,
        timeout_s: float = 60.0,
        price_per_mtok: Mapping[str, float] | None = None,
    ) -> None:
        self.model = model
        self.defaults = defaults or GenerationParams()
        self.timeout_s = timeout_s
        self.price_per_mtok = dict(price_per_mtok) if price_per_mtok else None

    # -- what providers implement -----------------------------------------------------------

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load weights or open clients. Idempotent; calls do it on first use."""

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes for this model."""

    @abc.abstractmethod
    def _stream_raw(
        self, messages: tuple[Message, ...], params: GenerationParams
    ) -> Iterator[str | RawResult]:
        """Yield text pieces as they come, then exactly one :class:`RawResult`."""

    def _complete_raw(self, messages: tuple[Message, ...], params: GenerationParams) -> RawResult:
        result: RawResult | None = None
        for item in self._stream_raw(messages, params):
            if isinstance(item, RawResult):
                result = item
        if result is None:
            raise InvalidResponse("the provider ended without a result", provider=self.provider,
                                  model=self.model)
        return result

    # -- the public interface ---------------------------------------------------------------

    def params(self, **overrides: Any) -> GenerationParams:
        """The spec's defaults with this call's non-None overrides applied."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "stop" in changes:
            changes["stop"] = tuple(changes["stop"])
        if "tools" in changes:
            changes["tools"] = tuple(changes["tools"])
        return replace(self.defaults, **changes) if changes else self.defaults

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        tools: Sequence[ToolDefinition] | None = None,
    ) -> Completion:
        """Generate a whole answer.

        Args:
            prompt: a string (one user message) or a sequence of :class:`Message`.
            max_tokens: most tokens to generate.
            temperature: 0 is greedy.
            top_p: nucleus sampling mass.
            seed: for reproducible sampling where the provider supports it.
            stop: strings that end generation (not included in the text).
            json_schema: constrain the answer to JSON matching this schema; the parsed value
                is in ``Completion.data``.
            tools: tools the model may call; calls come back in ``Completion.tool_calls``.

        Raises:
            LLMError: a typed failure (timeout, rate limit, context overflow, invalid
                response, unavailable).
        """
        messages = as_messages(prompt)
        params = self.params(
            max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop,
            json_schema=json_schema, tools=tools,
        )
        self.load()
        start = time.perf_counter()
        raw = self._complete_raw(messages, params)
        return self._finish(raw, params, start, ttft_s=None)

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        json_schema: Mapping[str, Any] | None = None,
        tools: Sequence[ToolDefinition] | None = None,
    ) -> Iterator[StreamEvent]:
        """Like :meth:`complete`, yielding :class:`TextDelta` pieces, then the Completion."""
        messages = as_messages(prompt)
        params = self.params(
            max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop,
            json_schema=json_schema, tools=tools,
        )
        self.load()
        start = time.perf_counter()
        ttft: float | None = None
        for item in self._stream_raw(messages, params):
            if isinstance(item, RawResult):
                yield self._finish(item, params, start, ttft_s=ttft)
                return
            if ttft is None:
                ttft = time.perf_counter() - start
            yield TextDelta(item)
        raise InvalidResponse(
            "the stream ended without a final result (dropped connection?)",
            provider=self.provider, model=self.model,
        )

    async def acomplete(self, prompt: Prompt, **kwargs: Any) -> Completion:
        """:meth:`complete` without blocking the event loop."""
        return await asyncio.to_thread(self.complete, prompt, **kwargs)

    async def astream(self, prompt: Prompt, **kwargs: Any) -> AsyncIterator[StreamEvent]:
        """:meth:`stream` without blocking the event loop."""
        iterator = self.stream(prompt, **kwargs)
        done = object()
        while True:
            item = await asyncio.to_thread(next, iterator, done)
            if item is done:
                return
            yield item  # type: ignore[misc]

    # -- shared post-processing -------------------------------------------------------------

    def _finish(
        self, raw: RawResult, params: GenerationParams, start: float, *, ttft_s: float | None
    ) -> Completion:
        data = raw.data
        if params.json_schema is not None and data is None and not raw.tool_calls:
            data = parse_json_output(raw.text, params.json_schema, provider=self.provider,
                                     model=self.model)
        return Completion(
            text=raw.text,
            provider=self.provider,
            model=self.model,
            usage=raw.usage,
            latency_s=time.perf_counter() - start,
            cost_usd=cost_usd(self.provider, self.model, raw.usage, self.price_per_mtok),
            finish_reason=raw.finish_reason,
            ttft_s=ttft_s,
            tool_calls=raw.tool_calls,
            data=data,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"


def parse_json_output(
    text: str, schema: Mapping[str, Any], *, provider: str, model: str
) -> Any:
    """Parse ``text`` as JSON and validate it against ``schema``.

    Raises:
        InvalidResponse: naming what was wrong, with the raw text attached.
    """
    import jsonschema

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidResponse(
            f"expected JSON matching the schema, received text that is not JSON ({exc.msg} at "
            f"char {exc.pos}): {text[:200]!r}",
            raw=text, provider=provider, model=model,
        ) from None
    try:
        jsonschema.validate(value, dict(schema))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidResponse(
            f"JSON does not match the schema at {where}: {exc.message}",
            raw=text, provider=provider, model=model,
        ) from None
    return value
