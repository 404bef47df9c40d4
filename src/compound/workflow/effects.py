"""Model and tool calls made through a run context: traced, budgeted and journaled.

These are the only two kinds of calls whose results a workflow cannot recompute for free, so
they are the ones recorded (see :mod:`compound.workflow.state`). On resume a recorded call is
answered from the journal; on replay every model call must be, and a side-effecting tool is
never run again.

While a traced model call runs, :data:`model_span` holds its span, so that a wrapper of the
model (the strategy's cache, :class:`~compound.strategy.cache.llm.CachedLLM`) can note on it
what it did (``compound.cache.hit``) without the run context being passed to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from compound.errors import RuntimeFailure
from compound.intelligence.llm.types import (
    Completion,
    Message,
    ToolDefinition,
    as_messages,
)
from compound.orchestration.tools import ToolResult

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.orchestration.tools import Tool
    from compound.workflow.budget import Budget
    from compound.workflow.state import Journal
    from compound.workflow.tracing import Span, SpanParent, Tracer


class CallContext(Protocol):
    """What a model or tool call reads of its run context. The run context
    (:class:`compound.workflow.context.RunContext`) is the one implementation; it calls the
    functions here, so they name what they need instead of importing it back."""

    budget: Budget
    journal: Journal | None
    tracer: Tracer | None

    def child(self, path: str, parent_span: SpanParent | None = None) -> Any: ...

    def next_key(self) -> str: ...

    def start_span(self, name: str, kind: str, attributes: dict[str, Any] | None = None
                   ) -> Span | None: ...

    def end_span(self, span: Span | None) -> None: ...


#: the span of the traced model call in progress in this context (None: none, or untraced)
model_span: ContextVar[Span | None] = ContextVar("compound_model_span", default=None)


class ReplayDiverged(RuntimeFailure):
    """A replay asked for a model call the original run did not make."""


def _error_entry(exc: BaseException) -> dict[str, Any]:
    return {"kind": "model", "error": {"type": type(exc).__name__, "message": str(exc),
                                       "raw": getattr(exc, "raw", "")}}


def _raise_recorded(error: Mapping[str, Any], llm: LLM) -> None:
    from compound.intelligence.llm import errors

    cls = getattr(errors, error["type"], None)
    if cls is errors.InvalidResponse:
        raise errors.InvalidResponse(error["message"], raw=error.get("raw", ""))
    if isinstance(cls, type) and issubclass(cls, errors.LLMError):
        raise cls(error["message"])
    raise RuntimeFailure(f"recorded model failure: {error['type']}: {error['message']}")


# -- model calls ----------------------------------------------------------------------------


def _before_model(ctx: CallContext, llm: LLM, messages: tuple[Message, ...],
                  params: dict[str, Any]) -> tuple[str | None, Span | None, Completion | None]:
    key = ctx.next_key() if ctx.journal is not None else None
    span = None
    if ctx.tracer is not None:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": llm.provider,
            "gen_ai.request.model": llm.model, "gen_ai.input.messages": messages,
        }
        if params.get("max_tokens") is not None:
            attributes["gen_ai.request.max_tokens"] = params["max_tokens"]
        if params.get("temperature") is not None:
            attributes["gen_ai.request.temperature"] = params["temperature"]
        span = ctx.start_span(f"chat {llm.model}", "model", attributes)
    recorded = None
    if key is not None and ctx.journal is not None:
        entry = ctx.journal.lookup(key)
        if entry is not None:
            if span is not None:
                span.set("compound.replayed", True)
            if "error" in entry:
                _end_model(ctx, span, None, RuntimeFailure(entry["error"]["message"]))
                _raise_recorded(entry["error"], llm)
            recorded = Completion.from_dict(entry["completion"])
        elif ctx.journal.replay:
            error = ReplayDiverged(
                f"replay has no recorded model output for call {key} of run "
                f"{ctx.journal.run_id}; the workflow took a different path than the original "
                "run (did its code or spec change?)"
            )
            _end_model(ctx, span, None, error)
            raise error
    return key, span, recorded


def _end_model(ctx: CallContext, span: Span | None, completion: Completion | None,
               error: BaseException | None) -> None:
    if completion is not None:
        ctx.budget.charge(tokens=completion.usage.total_tokens, cost_usd=completion.cost_usd)
    if span is None:
        return
    if completion is not None:
        span.set_later(completion_attributes, response_values(completion))
    if error is not None:
        span.fail(error)
        raw = getattr(error, "raw", None)
        if raw:
            span.set("gen_ai.output.messages", [{"role": "assistant", "content": raw}])
    ctx.end_span(span)


def response_values(completion: Completion) -> tuple[Any, ...]:
    """What a model span keeps of a response until it is exported: plain values, so nothing
    for the garbage collector to trace while the span waits (see
    :func:`completion_attributes`)."""
    usage = completion.usage
    return (completion.model, usage.prompt_tokens, usage.completion_tokens,
            completion.finish_reason, completion.cost_usd, completion.latency_s,
            completion.text, completion.tool_calls)


def completion_attributes(response: tuple[Any, ...]) -> dict[str, Any]:
    """A model span's response attributes (GenAI conventions) from
    :func:`response_values`, worked out when exported."""
    model, prompt_tokens, completion_tokens, finish_reason, cost, latency, text, calls = response
    return {
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": prompt_tokens,
        "gen_ai.usage.output_tokens": completion_tokens,
        "gen_ai.response.finish_reasons": [finish_reason],
        "compound.cost_usd": cost,
        "compound.latency_s": latency,
        "gen_ai.output.messages": [{
            "role": "assistant", "content": text,
            "tool_calls": [{"name": c.name, "arguments": c.arguments, "id": c.id}
                           for c in calls],
        }],
    }


def _record_model(ctx: CallContext, key: str | None, completion: Completion | None,
                  error: BaseException | None) -> None:
    if key is None or ctx.journal is None:
        return
    if completion is not None:
        ctx.journal.write(key, {"kind": "model", "completion": completion.to_dict()})
    elif error is not None:
        ctx.journal.write(key, _error_entry(error))


def complete(ctx: CallContext, llm: LLM, prompt: str | Sequence[Message], *,
             tools: Sequence[ToolDefinition] | None = None, **params: Any) -> Completion:
    messages = as_messages(prompt)
    key, span, completion = _before_model(ctx, llm, messages, params)
    if completion is None:
        noted = model_span.set(span)
        try:
            completion = llm.complete(messages, tools=tools, **params)
        except BaseException as exc:  # cancellation too: the span must still end
            from compound.intelligence.llm.errors import InvalidResponse

            if isinstance(exc, InvalidResponse):  # deterministic model output: replayable
                _record_model(ctx, key, None, exc)
            _end_model(ctx, span, None, exc)
            raise
        finally:
            model_span.reset(noted)
        _record_model(ctx, key, completion, None)
    _end_model(ctx, span, completion, None)
    return completion


async def acomplete(ctx: CallContext, llm: LLM, prompt: str | Sequence[Message], *,
                    tools: Sequence[ToolDefinition] | None = None, **params: Any) -> Completion:
    messages = as_messages(prompt)
    key, span, completion = _before_model(ctx, llm, messages, params)
    if completion is None:
        noted = model_span.set(span)
        try:
            completion = await llm.acomplete(messages, tools=tools, **params)
        except BaseException as exc:  # cancellation too: the span must still end
            from compound.intelligence.llm.errors import InvalidResponse

            if isinstance(exc, InvalidResponse):
                _record_model(ctx, key, None, exc)
            _end_model(ctx, span, None, exc)
            raise
        finally:
            model_span.reset(noted)
        _record_model(ctx, key, completion, None)
    _end_model(ctx, span, completion, None)
    return completion


# -- tool calls -----------------------------------------------------------------------------


def _before_tool(ctx: CallContext, tool: Tool, arguments: Mapping[str, Any], call_id: str
                 ) -> tuple[str | None, Span | None, ToolResult | None]:
    key = ctx.next_key() if ctx.journal is not None else None
    span = None
    if ctx.tracer is not None:
        span = ctx.start_span(f"execute_tool {tool.name}", "tool", {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.name,
            "gen_ai.tool.call.id": call_id, "gen_ai.tool.call.arguments": arguments,
            "compound.tool.side_effects": tool.side_effects,
        })
    result = None
    if key is not None and ctx.journal is not None:
        entry = ctx.journal.lookup(key)
        if entry is not None and entry.get("status") == "done":
            result = ToolResult.from_dict(entry["result"])
        elif entry is not None and tool.side_effects:  # started, never finished: a crash
            result = ToolResult(
                tool.name, "interrupted", call_id=call_id,
                error=f"an earlier attempt of this call to '{tool.name}' was cut off by a "
                      "crash and its outcome is unknown; it was not repeated because the tool "
                      "has side effects. Check its effect before calling it again",
            )
        elif ctx.journal.replay and tool.side_effects:
            result = ToolResult(tool.name, "not_recorded", call_id=call_id,
                                error=f"replay has no recording of this call to side-effecting "
                                      f"tool '{tool.name}', so it was not run")
        if result is not None and span is not None:
            span.set("compound.replayed", True)
    if result is None and key is not None and tool.side_effects and ctx.journal is not None:
        ctx.journal.write(key, {"kind": "tool", "status": "started", "tool": tool.name})
    return key, span, result


def _after_tool(ctx: CallContext, key: str | None, span: Span | None, result: ToolResult,
                fresh: bool) -> ToolResult:
    if fresh and key is not None and ctx.journal is not None:
        ctx.journal.write(key, {"kind": "tool", "status": "done", "result": result.to_dict()})
    if span is not None:
        span.set_later(tool_attributes, result)
        if not result.ok:
            span.fail(result.error or result.outcome)
        ctx.end_span(span)
    return result


def tool_attributes(result: ToolResult) -> dict[str, Any]:
    """A tool span's outcome attributes, worked out when exported."""
    return {"compound.tool.outcome": result.outcome,
            "gen_ai.tool.call.result": result.value if result.ok else result.error}


def _tool_context(ctx: CallContext, tool: Tool, key: str | None, span: Span | None
                  ) -> Any:
    if not tool.takes_context:
        return None
    return ctx.child(f"{tool.name}.{(key or '').rpartition('#')[2]}", parent_span=span)


def call_tool(ctx: CallContext, tool: Tool, arguments: Mapping[str, Any], *, call_id: str = ""
              ) -> ToolResult:
    key, span, result = _before_tool(ctx, tool, arguments, call_id)
    fresh = result is None
    if result is None:
        result = tool.call(arguments, ctx=_tool_context(ctx, tool, key, span), call_id=call_id)
    return _after_tool(ctx, key, span, result, fresh)


async def acall_tool(ctx: CallContext, tool: Tool, arguments: Mapping[str, Any], *,
                     call_id: str = "") -> ToolResult:
    key, span, result = _before_tool(ctx, tool, arguments, call_id)
    fresh = result is None
    if result is None:
        result = await tool.acall(arguments, ctx=_tool_context(ctx, tool, key, span),
                                  call_id=call_id)
    return _after_tool(ctx, key, span, result, fresh)
