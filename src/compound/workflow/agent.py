"""The agent loop: plan, act (call a tool), observe, repeat, within explicit limits.

Each iteration asks the model for its next action with the tools offered. A chat model
answers with native tool calls (OpenAI-compatible ``tools``); the embedded base model answers
with a JSON action constrained by a grammar (``{"tool": ..., "arguments": ...}`` or
``{"answer": ...}``); both arrive as ``Completion.tool_calls``. Each call runs through the run
context (validated, time-limited, traced, journaled) and its observation goes back to the
model. The loop ends with an explicit :data:`StopReason`:

* ``answer``: the model answered without calling a tool;
* ``max_steps``: the iteration limit was reached (a model that loops forever ends here);
* ``token_budget`` / ``cost_budget``: the agent's or the run's budget is spent;
* ``time_budget``: ``max_time_s`` passed (a model call still running is stopped at it, its
  connection closed);
* ``repeated_action``: the model made the same call with the same arguments
  ``max_repeats`` times in a row.

A model reply that is not a valid action (malformed tool JSON) gets one repair attempt: the
error is shown to the model and it is asked again. If the second reply is also invalid, the
error becomes an observation and the loop goes on (counting the iteration).

Example:
    >>> from compound.intelligence.llm import ScriptedLLM, ToolCall
    >>> from compound.orchestration.tools import tool
    >>> @tool
    ... def weather(city: str) -> str:
    ...     '''Current weather in a city.'''
    ...     return f"sunny in {city}"
    >>> llm = ScriptedLLM([ToolCall("weather", {"city": "Oslo"}, id="c1"), "Sunny."])
    >>> result = Agent(llm=llm, tools=[weather]).run("Weather in Oslo?")
    >>> result.answer, result.stop_reason, result.iterations
    ('Sunny.', 'answer', 2)
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import InvalidResponse, LLMTimeout
from compound.intelligence.llm.types import (
    TOOL_CHOICES,
    Completion,
    Message,
    ToolCall,
    ToolChoice,
    ToolDefinition,
)
from compound.orchestration.context.template import Template
from compound.orchestration.tools import Tool, ToolResult
from compound.specfile import did_you_mean
from compound.workflow.context import RunContext
from compound.workflow.effects import completion_attributes, response_values, tool_attributes
from compound.workflow.state import Session
from compound.workflow.tracing import Span, SpanRef

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM

_MODEL, _TOOL = 0, 1  # the kinds of call the loop asks its driver for
_DONE: tuple[Any, ...] = ()  # what _resume returns once the loop has ended

StopReason = Literal["answer", "max_steps", "token_budget", "cost_budget", "repeated_action",
                     "time_budget"]

REPAIR_PROMPT = (
    "Your last reply was not a valid action: {error}. Reply again with exactly one action: "
    "call one of the tools ({tools}) with arguments matching its schema, or give the final "
    "answer."
)


@dataclass
class AgentResult:
    """How an agent run ended.

    Attributes:
        answer: the final answer ("" when the loop stopped for another reason).
        stop_reason: why the loop ended (see the module docstring).
        iterations: model turns taken.
        tool_results: every tool call's result, in order.
        prompt_tokens, completion_tokens, cost_usd: what the model calls consumed.
        messages: the whole conversation, for inspection or a session.
    """

    answer: str
    stop_reason: StopReason
    iterations: int
    tool_results: list[ToolResult] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    messages: list[Message] = field(default_factory=list)


class Agent:
    """An LLM that calls tools in a loop until it answers or a limit stops it.

    Args:
        llm: the model choosing actions.
        tools: the tools it may call (:class:`Tool` objects or functions).
        instructions: the system message.
        max_steps: most model turns.
        max_tokens: most tokens across the agent's model calls (None: only the run's budget).
        max_cost_usd: most dollars across the agent's model calls.
        max_tokens_per_call: ``max_tokens`` for each model call.
        max_repeats: stop after the same call with the same arguments this many times in a
            row (None: never).
        max_time_s: most seconds for the whole loop, model calls included (None: only the
            deadline the caller runs under, a served run's).
        tool_choice: ``"required"`` makes the model call a tool until it has called one (a
            weak model that would answer from memory searches first), then it may answer;
            ``"auto"`` (the default) lets it answer at once.
        name: the agent's name in traces.

    Example:
        >>> from compound.intelligence.llm import ScriptedLLM, ToolCall
        >>> looping = ScriptedLLM([ToolCall("noop", {})])
        >>> def noop() -> str:
        ...     '''Do nothing.'''
        ...     return "ok"
        >>> Agent(llm=looping, tools=[noop], max_steps=3, max_repeats=None).run("go").stop_reason
        'max_steps'
    """

    def __init__(
        self,
        *,
        llm: LLM,
        tools: Sequence[Tool | Any] = (),
        instructions: str | None = None,
        max_steps: int = 10,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        max_tokens_per_call: int | None = None,
        max_repeats: int | None = 3,
        max_time_s: float | None = 600.0,
        tool_choice: ToolChoice = "auto",
        name: str = "agent",
    ) -> None:
        if max_steps < 1:
            raise UserError(f"agent '{name}': max_steps must be at least 1; received {max_steps}")
        if max_time_s is not None and not max_time_s > 0:
            raise UserError(f"agent '{name}': max_time_s must be more than 0; received "
                            f"{max_time_s}")
        self.llm = llm
        self.tools = {t.name: t for t in (x if isinstance(x, Tool) else Tool(x) for x in tools)}
        self.instructions = instructions
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.max_tokens_per_call = max_tokens_per_call
        self.max_repeats = max_repeats
        self.max_time_s = max_time_s
        if tool_choice not in TOOL_CHOICES:
            raise UserError(f"agent '{name}': tool_choice is one of {', '.join(TOOL_CHOICES)}; "
                            f"received {tool_choice!r}")
        if tool_choice == "required" and not self.tools:
            raise UserError(f"agent '{name}': tool_choice 'required' needs tools to call")
        self.tool_choice: ToolChoice = tool_choice
        self.name = name

    @cached_property
    def _definitions(self) -> tuple[ToolDefinition, ...]:
        # on first use: an MCP server's tool reads its schema from the server, which is
        # started when the agent first runs, not when it is built
        return tuple(t.definition for t in self.tools.values())

    def run(self, task: str, ctx: RunContext | None = None, *, session: Session | None = None
            ) -> AgentResult:
        """Work on ``task`` until an answer or a limit; see :class:`AgentResult`."""
        loop = _Loop(self, ctx or RunContext(), task, session)
        turns = self._turns(loop)
        request = _resume(turns, None)
        while request is not _DONE:
            try:
                outcome = (loop.complete(request[1]) if request[0] == _MODEL
                           else loop.call_tool(request[1], request[2]))
            except BaseException as exc:
                request = _resume(turns, exc, error=True)
            else:
                request = _resume(turns, outcome)
        return loop.result

    async def arun(self, task: str, ctx: RunContext | None = None, *,
                   session: Session | None = None) -> AgentResult:
        """:meth:`run` on the event loop."""
        loop = _Loop(self, ctx or RunContext(), task, session)
        turns = self._turns(loop)
        request = _resume(turns, None)
        while request is not _DONE:
            try:
                outcome = (await loop.acomplete(request[1]) if request[0] == _MODEL
                           else await loop.acall_tool(request[1], request[2]))
            except BaseException as exc:
                request = _resume(turns, exc, error=True)
            else:
                request = _resume(turns, outcome)
        return loop.result

    def _turns(self, loop: _Loop) -> Generator[tuple[Any, ...], Any, None]:
        """Every decision of the loop, for both :meth:`run` and :meth:`arun`: yields each call
        to make, ``(_MODEL, messages)`` or ``(_TOOL, tool, call)``, and is sent its result or
        thrown its exception; leaves the result in ``loop.result``."""
        try:
            with self._deadline(loop):
                while (reason := loop.should_stop()) is None:
                    loop.iterations += 1
                    first: InvalidResponse | None = None
                    try:
                        completion = yield (_MODEL, loop.messages)
                    except InvalidResponse as exc:  # one repair attempt
                        first = exc
                    if first is not None:
                        repair = loop.repair_messages(first)
                        try:
                            completion = yield (_MODEL, repair)
                        except InvalidResponse as second:
                            loop.invalid(first, second)
                            continue
                    calls = loop.take(completion)
                    if not calls:
                        loop.finish("answer", completion.text.strip())
                        return
                    for call in calls:
                        tool = self.tools.get(call.name)
                        result = ((yield (_TOOL, tool, call)) if tool is not None
                                  else loop.unknown(call))
                        loop.observe(call, result)
        except LLMTimeout as exc:  # a model call cut by the loop's own deadline ends the loop
            if not loop.out_of_time():
                loop.fail(exc)
                raise
            reason = "time_budget"
        except BaseException as exc:
            loop.fail(exc)
            raise
        loop.finish(reason, "")

    def _deadline(self, loop: _Loop) -> contextlib.AbstractContextManager[Deadline]:
        """The loop's own deadline: model calls inside it never run past ``max_time_s``."""
        if self.max_time_s is None:
            return contextlib.nullcontext(Deadline(None))
        loop.until = time.monotonic() + self.max_time_s
        return Deadline.scope(self.max_time_s,
                              label=f"agent '{self.name}''s max_time_s of {self.max_time_s:g}s")

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, tools={list(self.tools)})"


def _resume(turns: Generator[tuple[Any, ...], Any, None], outcome: Any, *, error: bool = False
            ) -> tuple[Any, ...]:
    """Hand a call's result (or, with ``error``, its exception) to the loop; the next call it
    asks for, or :data:`_DONE`."""
    try:
        return turns.throw(outcome) if error else turns.send(outcome)
    except StopIteration:
        return _DONE


class _Loop:
    """The state of one agent run: messages, counters, the span.

    Traced, with a tracer that allows it (``Tracer.deferred``) and no journal, the loop makes
    no span objects while it runs: it times each model and tool call into ``log`` and hands
    the log, with the conversation, to the tracer at the end; the tracer's thread builds the
    agent's, model calls' and tool calls' spans (:class:`AgentRecord`). A tool that takes the
    run context still gets a live span (its own spans nest under it).
    """

    __slots__ = ("agent", "completion_tokens", "cost_usd", "ctx", "iterations", "last_call",
                 "log", "messages", "outer", "parent_id", "prompt_tokens", "repeats",
                 "result", "results", "session", "span", "span_id", "start_count", "started",
                 "task", "tracer", "until")

    def __init__(self, agent: Agent, ctx: RunContext, task: str, session: Session | None):
        self.agent = agent
        self.until = float("inf")  # set when the loop starts, from max_time_s
        self.session = session
        self.outer = ctx
        self.task = task
        self.span: Span | None = None
        self.log: list[ModelCall | ToolRun | Note] | None = None
        tracer = self.tracer = ctx.tracer
        if tracer is None:
            self.ctx = ctx
        else:
            if tracer.deferred and ctx.journal is None:
                self.started = time.perf_counter_ns()
                self.log = []
                self.parent_id = ctx.parent_id()
                ref = SpanRef()
                self.span_id = ref.span_id
                self.ctx = ctx.child("", ref)
                self.ctx.tracer = None  # calls are logged here; see call_tool for the others
            else:
                self.span = ctx.start_span(f"invoke_agent {agent.name}", "agent", {
                    "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent.name,
                    "compound.input": task})
                self.ctx = ctx.child("", self.span)
            self.ctx.path = ctx.path
            self.ctx._calls = ctx._calls
        self.messages: list[Message] = []
        if agent.instructions:
            self.messages.append(Message("system", agent.instructions))
        if session is not None:
            self.messages.extend(session.messages())
        self.messages.append(Message("user", task))
        self.start_count = len(self.messages) - 1
        self.iterations = 0
        self.results: list[ToolResult] = []
        self.prompt_tokens = self.completion_tokens = 0
        self.cost_usd = 0.0
        self.last_call: tuple[str, str] | None = None
        self.repeats = 0

    # -- model and tool calls, logged when the spans come later -----------------------------

    def options(self) -> dict[str, Any]:
        """A model call's settings: a ``required`` tool choice holds until the first call."""
        agent = self.agent
        return {"tools": agent._definitions, "max_tokens": agent.max_tokens_per_call,
                "tool_choice": "auto" if self.results else agent.tool_choice}

    def complete(self, messages: list[Message]) -> Completion:
        agent = self.agent
        log = self.log
        if log is None:
            return self.ctx.complete(agent.llm, messages, **self.options())
        start = time.perf_counter_ns()
        sent = len(messages) if messages is self.messages else tuple(messages)
        try:
            completion = self.ctx.complete(agent.llm, messages, **self.options())
        except BaseException as exc:
            log.append(ModelCall(start, time.perf_counter_ns(), sent, exc))
            raise
        log.append(ModelCall(start, time.perf_counter_ns(), sent, response_values(completion)))
        return completion

    async def acomplete(self, messages: list[Message]) -> Completion:
        agent = self.agent
        log = self.log
        if log is None:
            return await self.ctx.acomplete(agent.llm, messages, **self.options())
        start = time.perf_counter_ns()
        sent = len(messages) if messages is self.messages else tuple(messages)
        try:
            completion = await self.ctx.acomplete(agent.llm, messages, **self.options())
        except BaseException as exc:
            log.append(ModelCall(start, time.perf_counter_ns(), sent, exc))
            raise
        log.append(ModelCall(start, time.perf_counter_ns(), sent, response_values(completion)))
        return completion

    def call_tool(self, tool: Tool, call: ToolCall) -> ToolResult:
        log = self.log
        if log is None:
            return self.ctx.call_tool(tool, call.arguments, call_id=call.id)
        if tool.takes_context:  # a live span, for the spans the tool makes itself
            self.ctx.tracer = self.tracer
            try:
                return self.ctx.call_tool(tool, call.arguments, call_id=call.id)
            finally:
                self.ctx.tracer = None
        start = time.perf_counter_ns()
        result = self.ctx.call_tool(tool, call.arguments, call_id=call.id)
        log.append(ToolRun(start, time.perf_counter_ns(), tool, call, result))
        return result

    async def acall_tool(self, tool: Tool, call: ToolCall) -> ToolResult:
        log = self.log
        if log is None:
            return await self.ctx.acall_tool(tool, call.arguments, call_id=call.id)
        if tool.takes_context:
            self.ctx.tracer = self.tracer
            try:
                return await self.ctx.acall_tool(tool, call.arguments, call_id=call.id)
            finally:
                self.ctx.tracer = None
        start = time.perf_counter_ns()
        result = await self.ctx.acall_tool(tool, call.arguments, call_id=call.id)
        log.append(ToolRun(start, time.perf_counter_ns(), tool, call, result))
        return result

    # -- the loop's state -----------------------------------------------------------------

    def out_of_time(self) -> bool:
        """Whether the agent's own ``max_time_s`` has passed."""
        return time.monotonic() >= self.until

    def should_stop(self) -> StopReason | None:
        agent = self.agent
        if self.out_of_time():
            return "time_budget"
        if agent.max_repeats is not None and self.repeats >= agent.max_repeats:
            return "repeated_action"
        if self.iterations >= agent.max_steps:
            return "max_steps"
        if agent.max_tokens is not None and (
                self.prompt_tokens + self.completion_tokens >= agent.max_tokens):
            return "token_budget"
        if agent.max_cost_usd is not None and self.cost_usd >= agent.max_cost_usd:
            return "cost_budget"
        return self.ctx.budget.exceeded()

    def take(self, completion: Completion) -> tuple[ToolCall, ...]:
        """Account for a model turn; the tool calls it asks for (none means an answer)."""
        self.prompt_tokens += completion.usage.prompt_tokens
        self.completion_tokens += completion.usage.completion_tokens
        self.cost_usd += completion.cost_usd
        calls = tuple(
            c if c.id else ToolCall(c.name, c.arguments, f"call_{self.iterations}_{i}")
            for i, c in enumerate(completion.tool_calls)
        )
        if calls:
            self.messages.append(Message("assistant", completion.text, tool_calls=calls))
        else:
            self.messages.append(Message("assistant", completion.text))
        return calls

    def observe(self, call: ToolCall, result: ToolResult) -> None:
        self.results.append(result)
        self.messages.append(Message("tool", result.observation(), tool_call_id=call.id,
                                     name=call.name))
        signature = (call.name, json.dumps(dict(call.arguments), sort_keys=True, default=str))
        self.repeats = self.repeats + 1 if signature == self.last_call else 1
        self.last_call = signature

    def unknown(self, call: ToolCall) -> ToolResult:
        tools = self.agent.tools
        return ToolResult(call.name, "unknown_tool", call_id=call.id, error=(
            f"there is no tool named '{call.name}'{did_you_mean(call.name, tools)}; "
            f"available tools: {', '.join(tools) or 'none'}"))

    def repair_messages(self, error: InvalidResponse) -> list[Message]:
        self._note("compound.agent.repairs", 1)
        tools = ", ".join(self.agent.tools) or "none"
        reason = str(error).split(": ", 1)[-1]
        repair = Template.parse(REPAIR_PROMPT).render({"error": reason, "tools": tools})
        return [*self.messages, Message("assistant", error.raw or "(empty)"),
                Message("user", repair)]

    def invalid(self, first: InvalidResponse, second: InvalidResponse) -> None:
        self._note("compound.agent.invalid_actions", 1)
        self.messages.append(Message("assistant", second.raw or "(empty)"))
        reason = str(second).split(": ", 1)[-1]
        self.messages.append(Message("user", (
            f"Observation: your reply was not a valid action twice in a row ({reason}). "
            f"Use one of the tools ({', '.join(self.agent.tools) or 'none'}) with JSON "
            "arguments, or give the final answer.")))

    def _note(self, key: str, amount: int) -> None:
        if self.span is not None:
            self.span.set(key, self.span.attributes.get(key, 0) + amount)
        elif self.log is not None:
            self.log.append(Note(key, amount))

    def _submit(self, reason: StopReason | None, answer: str, error: BaseException | None
                ) -> None:
        assert self.tracer is not None and self.log is not None
        agent = self.agent
        self.tracer.put(AgentRecord(
            agent.name, self.ctx.run_id, self.span_id, self.parent_id, self.started,
            time.perf_counter_ns(), self.task, reason, answer, error, self.iterations,
            self.prompt_tokens, self.completion_tokens, self.cost_usd, agent.llm.provider,
            agent.llm.model, agent.max_tokens_per_call, self.messages, self.log))

    def fail(self, exc: BaseException) -> None:
        self.outer._calls = self.ctx._calls
        if self.log is not None:
            self._submit(None, "", exc)
        if self.span is not None:
            self.span.set("compound.agent.iterations", self.iterations)
            self.span.fail(exc)
            self.ctx.end_span(self.span)

    def finish(self, reason: StopReason, answer: str) -> AgentResult:
        self.outer._calls = self.ctx._calls
        result = self.result = AgentResult(
            answer, reason, self.iterations, self.results, self.prompt_tokens,
            self.completion_tokens, self.cost_usd, self.messages)
        if self.session is not None:
            self.session.append(*self.messages[self.start_count:])
        if self.log is not None:
            self._submit(reason, answer, None)
        if self.span is not None:
            span = self.span
            span.set("compound.agent.stop_reason", reason)
            span.set("compound.agent.iterations", self.iterations)
            span.set("gen_ai.usage.input_tokens", self.prompt_tokens)
            span.set("gen_ai.usage.output_tokens", self.completion_tokens)
            span.set("compound.cost_usd", self.cost_usd)
            span.set("compound.output", answer)
            if reason != "answer":
                span.status = "stopped"
                span.error = f"stopped: {reason} after {self.iterations} iterations"
            self.ctx.end_span(span)
        return result


@dataclass(slots=True)
class ModelCall:
    """A model call in an agent's log: ``time.perf_counter_ns()`` at its start and end, what
    it was sent (the first ``sent`` messages of the conversation, or the messages themselves
    for a repair attempt) and its outcome (the response's values, or the exception)."""

    start_ns: int
    end_ns: int
    sent: int | tuple[Message, ...]
    outcome: Any


@dataclass(slots=True)
class ToolRun:
    """A tool call in an agent's log."""

    start_ns: int
    end_ns: int
    tool: Tool
    call: ToolCall
    result: ToolResult


@dataclass(slots=True)
class Note:
    """A count to add to the agent span's attribute ``key`` (repairs, invalid actions)."""

    key: str
    amount: int


@dataclass(slots=True)
class AgentRecord:
    """A finished agent run traced after the fact (see :class:`_Loop`): what the tracer's
    thread builds the agent's, model calls' and tool calls' spans from
    (:meth:`spans`)."""

    name: str
    run_id: str
    span_id: int
    parent_id: int | None
    start_ns: int  # time.perf_counter_ns()
    end_ns: int
    task: str
    stop_reason: StopReason | None  # None when the loop raised
    answer: str
    error: BaseException | None
    iterations: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    provider: str
    model: str
    max_tokens: int | None
    messages: list[Message]  # the final conversation
    log: list[ModelCall | ToolRun | Note]  # in the order they happened

    def spans(self, clock_offset_ns: int) -> Iterator[Span]:
        """The spans of the agent run; on the tracer's thread.

        A model call's input is the conversation as it was when the call was made: the first
        ``n`` messages of the final conversation (or, for a repair attempt, the messages
        sent).
        """
        trace_id = self.run_id or "0" * 32
        reason, error, iterations = self.stop_reason, self.error, self.iterations
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": self.name,
            "compound.input": self.task, "compound.agent.iterations": iterations}
        for entry in self.log:
            if isinstance(entry, Note):
                attributes[entry.key] = attributes.get(entry.key, 0) + entry.amount
        if error is None:
            attributes.update({
                "compound.agent.stop_reason": reason,
                "gen_ai.usage.input_tokens": self.prompt_tokens,
                "gen_ai.usage.output_tokens": self.completion_tokens,
                "compound.cost_usd": self.cost_usd, "compound.output": self.answer})
        span_id = self.span_id
        agent = Span.finished(f"invoke_agent {self.name}", "agent", trace_id=trace_id,
                              parent_id=self.parent_id, span_id=span_id,
                              start_ns=self.start_ns + clock_offset_ns,
                              end_ns=self.end_ns + clock_offset_ns, attributes=attributes,
                              error=error)
        if error is None and reason != "answer":
            agent.status = "stopped"
            agent.error = f"stopped: {reason} after {iterations} iterations"
        yield agent
        model, messages = self.model, self.messages
        for entry in self.log:
            if isinstance(entry, ModelCall):
                sent, outcome = entry.sent, entry.outcome
                call: dict[str, Any] = {
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": self.provider,
                    "gen_ai.request.model": model,
                    "gen_ai.input.messages": tuple(messages[:sent]) if isinstance(sent, int)
                    else sent}
                if self.max_tokens is not None:
                    call["gen_ai.request.max_tokens"] = self.max_tokens
                failed = outcome if isinstance(outcome, BaseException) else None
                if failed is None:
                    call.update(completion_attributes(outcome))
                elif getattr(failed, "raw", None):
                    call["gen_ai.output.messages"] = [{"role": "assistant",
                                                       "content": failed.raw}]
                yield Span.finished(f"chat {model}", "model", trace_id=trace_id,
                                    parent_id=span_id, start_ns=entry.start_ns + clock_offset_ns,
                                    end_ns=entry.end_ns + clock_offset_ns, attributes=call,
                                    error=failed)
            elif isinstance(entry, ToolRun):
                tool, tool_call, result = entry.tool, entry.call, entry.result
                call = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.name,
                        "gen_ai.tool.call.id": tool_call.id,
                        "gen_ai.tool.call.arguments": tool_call.arguments,
                        "compound.tool.side_effects": tool.side_effects,
                        **tool_attributes(result)}
                yield Span.finished(f"execute_tool {tool.name}", "tool", trace_id=trace_id,
                                    parent_id=span_id, start_ns=entry.start_ns + clock_offset_ns,
                                    end_ns=entry.end_ns + clock_offset_ns, attributes=call,
                                    error=None if result.ok else (result.error
                                                                  or result.outcome))
