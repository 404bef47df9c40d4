"""The LLM interface: messages in; text, token usage, latency and cost out; streaming too.

A provider implements two methods, :meth:`LLM._stream_raw` and :meth:`LLM.count_tokens`
(and may override :meth:`LLM._complete_raw` when it has a cheaper non-streaming path). The
base class does the rest once for all of them: merging call settings with the spec's
defaults, timing, cost, and checking JSON output against the requested schema.
"""

from __future__ import annotations

import abc
import asyncio
import contextvars
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

from compound.datafiles import NotJSON, parse_json
from compound.errors import UserError
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import InvalidResponse
from compound.intelligence.llm.pricing import cost_usd
from compound.intelligence.llm.types import (
    TOOL_CHOICES,
    Completion,
    FinishReason,
    GenerationParams,
    Message,
    Prompt,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    Usage,
    as_messages,
)

_T = TypeVar("_T")


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
        timeout_s: the longest a call may take, all of it: connecting, the first token and
            the whole answer (see :mod:`~compound.intelligence.llm.deadline`).

    Example:
        >>> from compound.intelligence.llm import ScriptedLLM
        >>> llm = ScriptedLLM(["Paris."])
        >>> llm.complete("What is the capital of France?").text
        'Paris.'
    """

    provider: ClassVar[str] = "abstract"
    #: threads for calls awaited with acomplete/astream: each model has its own, so a model
    #: that stalls cannot take the threads other models (or the event loop's) need
    max_threads: int = 32

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
        self._threads: ThreadPoolExecutor | None = None

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
        deadline = Deadline.current()
        for item in self._stream_raw(messages, params):
            if isinstance(item, RawResult):
                result = item
            elif deadline is not None:
                deadline.check(provider=self.provider, model=self.model)
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
        if changes.get("tool_choice", "auto") not in TOOL_CHOICES:
            raise UserError(f"tool_choice is one of {', '.join(TOOL_CHOICES)}, not "
                            f"{changes['tool_choice']!r}")
        if "json_schema" in changes:  # before the model is called: its patterns run in RE2
            _check_json_schema(changes["json_schema"])
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
        tool_choice: ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
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
            tool_choice: ``"auto"`` (call a tool or answer) or ``"required"`` (call one of
                ``tools``: the answer is a call, never text).
            parallel_tool_calls: the model may make several calls in one answer (the
                embedded model's action becomes ``{"calls": [...]}``).

        Raises:
            LLMError: a typed failure (timeout, rate limit, context overflow, invalid
                response, unavailable).
        """
        messages = as_messages(prompt)
        params = self.params(
            max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop,
            json_schema=json_schema, tools=tools, tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
        )
        self.load()
        start = time.perf_counter()
        with self.deadline().entered() as deadline:
            try:
                raw = self._complete_raw(messages, params)
            except InvalidResponse:
                raise
            except (UnicodeError, json.JSONDecodeError) as exc:  # bytes no provider should send
                raise InvalidResponse(f"the provider's answer cannot be read: {exc}",
                                      provider=self.provider, model=self.model) from exc
            finally:
                deadline.finish()
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
        tool_choice: ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
    ) -> Iterator[StreamEvent]:
        """Like :meth:`complete`, yielding :class:`TextDelta` pieces, then the Completion."""
        messages = as_messages(prompt)
        params = self.params(
            max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop,
            json_schema=json_schema, tools=tools, tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
        )
        self.load()
        start = time.perf_counter()
        ttft: float | None = None
        deadline = self.deadline()
        with deadline.entered():
            raw = self._stream_raw(messages, params)
        try:
            while True:
                with deadline.entered():
                    item = next(raw, None)
                if item is None:
                    break
                if isinstance(item, RawResult):
                    yield self._finish(item, params, start, ttft_s=ttft)
                    return
                deadline.check(provider=self.provider, model=self.model)
                if ttft is None:
                    ttft = time.perf_counter() - start
                yield TextDelta(item)
        except (UnicodeError, json.JSONDecodeError) as exc:  # bytes no provider should send
            raise InvalidResponse(f"the provider's stream cannot be read: {exc}",
                                  provider=self.provider, model=self.model) from exc
        finally:
            with deadline.entered():
                raw.close()  # type: ignore[attr-defined]
            deadline.finish()
        raise InvalidResponse(
            "the stream ended without a final result (dropped connection?)",
            provider=self.provider, model=self.model,
        )

    def deadline(self) -> Deadline:
        """A deadline for one call: ``timeout_s`` from now, and never later than the
        deadline the caller runs under (a served run's, a fallback chain's)."""
        return Deadline(self.timeout_s,
                        label=f"the model's timeout_s of {self.timeout_s:g}s")

    async def acomplete(self, prompt: Prompt, **kwargs: Any) -> Completion:
        """:meth:`complete` without blocking the event loop, on this model's own threads.

        Cancelling the awaiting task stops the call: its connection is closed (or its
        generation stopped) at once, and the thread is free again.
        """
        scope = Deadline(None, label="the caller's time limit")
        try:
            return await self._on_thread(scope, self.complete, prompt, **kwargs)
        except asyncio.CancelledError:
            scope.cancel("the request was cancelled or timed out")
            raise
        finally:
            scope.finish()

    async def astream(self, prompt: Prompt, **kwargs: Any) -> AsyncIterator[StreamEvent]:
        """:meth:`stream` without blocking the event loop; closing it early (or cancelling
        the task reading it) stops the call."""
        scope = Deadline(None, label="the caller's time limit")
        iterator = self.stream(prompt, **kwargs)
        running = False
        try:
            while True:
                running = True
                item = await self._on_thread(scope, next, iterator, None)
                running = False
                if item is None:
                    return
                yield item
        except BaseException:
            scope.cancel("the stream's reader went away")
            raise
        finally:
            scope.finish()
            if not running:
                iterator.close()  # type: ignore[attr-defined]

    async def _on_thread(self, scope: Deadline, function: Callable[..., _T], *args: Any,
                         **kwargs: Any) -> _T:
        if getattr(self, "_threads", None) is None:
            self._threads = ThreadPoolExecutor(
                self.max_threads, thread_name_prefix=f"compound-llm-{self.provider}")
        context = contextvars.copy_context()

        def call() -> _T:
            with scope.entered():
                return function(*args, **kwargs)

        assert self._threads is not None
        return await asyncio.get_running_loop().run_in_executor(self._threads, context.run,
                                                                call)

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


def _check_json_schema(schema: Mapping[str, Any]) -> None:
    """Raise UserError when a call's json_schema is no valid schema or has a non-RE2 pattern."""
    import jsonschema

    from compound import linear_regex

    try:
        linear_regex.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UserError(f"json_schema is not a valid JSON schema: {exc.message}") from None
    except linear_regex.PatternError as exc:
        raise UserError(f"json_schema: {exc}") from None


def parse_json_output(
    text: str, schema: Mapping[str, Any], *, provider: str, model: str
) -> Any:
    """Parse ``text`` as JSON and validate it against ``schema``.

    Raises:
        InvalidResponse: naming what was wrong, with the raw text attached.
    """
    import jsonschema

    from compound import linear_regex

    try:  # parse_json: a model's output may nest too deeply or hold a huge number
        value = parse_json(text)
    except NotJSON as exc:
        at = "" if exc.pos is None else f" at char {exc.pos}"
        raise InvalidResponse(
            f"expected JSON matching the schema, received text that is not JSON ({exc.msg}"
            f"{at}): {text[:200]!r}",
            raw=text, provider=provider, model=model,
        ) from None
    _check_json_schema(schema)
    try:  # RE2 for the schema's patterns: a model's answer cannot make them backtrack
        linear_regex.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidResponse(
            f"JSON does not match the schema at {where}: {exc.message}",
            raw=text, provider=provider, model=model,
        ) from None
    return value
