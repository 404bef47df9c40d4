"""The run context: the typed object that carries dependencies into components.

A component never reaches for a module global to find the store, the tracer or the budget;
it declares a ``ctx: RunContext`` parameter and reads them from there (STYLE principle 3).
The workflow engine makes one context per run and gives each step that asks for it a child
that knows the step's path, so that model and tool calls made through it are traced under
the step, charged to the run's budget and recorded for resume and replay.

What a context carries:

* ``store``: the :class:`~compound.store.Store`, or None for a run that keeps nothing;
* ``tracer``: the :class:`~compound.workflow.tracing.Tracer`, or None for no spans;
* ``budget``: token and dollar limits for the whole run (:class:`Budget`);
* ``settings``: read-only settings by name (from the spec or the caller);
* ``deps``: anything else the caller wants steps to have (a database client, a user id);
* ``run_id``, ``path``: which run and which step this is (set by the engine).

Other areas use three methods: :meth:`RunContext.span` to trace an operation (retrieval,
context building), :meth:`RunContext.complete` to call a model, :meth:`RunContext.call_tool`
to call a tool.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> ctx = RunContext(budget=Budget(max_tokens=1000))
    >>> ctx.complete(ScriptedLLM(["Paris."]), "Capital of France?").text
    'Paris.'
    >>> ctx.budget.tokens
    4
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from compound.workflow.budget import Budget
from compound.workflow.tracing import RUN_SPAN, Span, run_span_id

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM, Completion, Message, ToolDefinition
    from compound.orchestration.tools import Tool, ToolResult
    from compound.store.base import Store
    from compound.workflow.state import Journal
    from compound.workflow.tracing import SpanParent, Tracer

_NO_TRACE = "0" * 32  # the trace id of spans outside any run


class RunContext:
    """Dependencies and run identity handed to every step that declares ``ctx: RunContext``.

    Args:
        store: where checkpoints, sessions and spans go; None keeps nothing.
        tracer: makes spans; None records none.
        budget: token/dollar limits for the run.
        settings: read-only settings by name.
        deps: anything else steps need, typed by the caller.
        run_id: the run's id; the engine sets a new one when not given.

    Example:
        >>> ctx = RunContext(settings={"tone": "brief"})
        >>> ctx.settings["tone"]
        'brief'
    """

    __slots__ = ("_calls", "budget", "deps", "journal", "parent_span", "path", "run_id",
                 "settings", "store", "tracer")

    def __init__(
        self,
        *,
        store: Store | None = None,
        tracer: Tracer | None = None,
        budget: Budget | None = None,
        settings: Mapping[str, Any] | None = None,
        deps: Any = None,
        run_id: str | None = None,
    ) -> None:
        self.store = store
        self.tracer = tracer
        self.budget = budget if budget is not None else Budget()
        self.settings: Mapping[str, Any] = MappingProxyType(dict(settings or {}))
        self.deps = deps
        self.run_id = run_id or ""
        self.path = ""
        self.journal: Journal | None = None
        self.parent_span: SpanParent | None = None
        self._calls = 0

    @staticmethod
    def new_run_id() -> str:
        """A fresh run id (32 hex digits, which is also the OpenTelemetry trace id)."""
        return uuid.uuid4().hex

    def child(self, path: str, parent_span: SpanParent | None = None) -> RunContext:
        """The context for one step (or one fan-out item): same dependencies, own path."""
        child = RunContext.__new__(RunContext)
        child.store, child.tracer, child.budget = self.store, self.tracer, self.budget
        child.settings, child.deps, child.run_id = self.settings, self.deps, self.run_id
        child.journal = self.journal
        child.path = f"{self.path}/{path}" if self.path else path
        child.parent_span = parent_span if parent_span is not None else self.parent_span
        child._calls = 0
        return child

    def next_key(self) -> str:
        """A key naming the next model or tool call of this step, stable across reruns."""
        self._calls += 1
        return f"{self.path or '_'}#{self._calls:04d}"

    # -- tracing ----------------------------------------------------------------------------

    def start_span(self, name: str, kind: str, attributes: dict[str, Any] | None = None
                   ) -> Span | None:
        """Start a span under the current step (None when tracing is off). End it with
        :meth:`end_span`; prefer :meth:`span` unless the span outlives a ``with`` block."""
        if self.tracer is None:
            return None
        return self.tracer.start(name, kind, trace_id=self.run_id or _NO_TRACE,
                                 parent_id=self.parent_id(), attributes=attributes)

    def parent_id(self) -> int | None:
        """The id of the span new spans here sit under (None: a root span)."""
        parent = self.parent_span
        if parent is None:
            return None
        if parent is RUN_SPAN:
            return run_span_id(self.run_id)
        return parent.span_id

    def annotate(self, key: str, value: Any) -> None:
        """Set attribute ``key`` on the span of the current step (an LLM step's
        ``compound.prompt``); nothing when the step has no span of its own."""
        if isinstance(self.parent_span, Span):
            self.parent_span.set(key, value)

    def end_span(self, span: Span | None) -> None:
        if span is not None and self.tracer is not None:
            self.tracer.end(span)

    @contextmanager
    def span(self, name: str, *, kind: str = "internal", **attributes: Any
             ) -> Iterator[Span | None]:
        """Trace an operation: ``with ctx.span("retrieve", kind="retrieval") as span: ...``.

        Yields the span (None when tracing is off) so the block can add attributes, e.g.
        ``span.set("compound.context.dropped", [...])``. An exception marks it failed.
        """
        span = self.start_span(name, kind, dict(attributes) if attributes else None)
        if span is None:
            yield None
            return
        saved, self.parent_span = self.parent_span, span
        try:
            yield span
        except BaseException as exc:
            span.fail(exc)
            raise
        finally:
            self.parent_span = saved
            self.end_span(span)

    # -- model and tool calls ---------------------------------------------------------------

    def complete(
        self, llm: LLM, prompt: str | Sequence[Message], *,
        tools: Sequence[ToolDefinition] | None = None, **params: Any,
    ) -> Completion:
        """Call ``llm`` traced, charged to the budget, and recorded for resume/replay.

        Takes the same arguments as :meth:`LLM.complete`.
        """
        from compound.workflow.effects import complete

        return complete(self, llm, prompt, tools=tools, **params)

    async def acomplete(
        self, llm: LLM, prompt: str | Sequence[Message], *,
        tools: Sequence[ToolDefinition] | None = None, **params: Any,
    ) -> Completion:
        """:meth:`complete` without blocking the event loop."""
        from compound.workflow.effects import acomplete

        return await acomplete(self, llm, prompt, tools=tools, **params)

    def call_tool(self, tool: Tool, arguments: Mapping[str, Any], *, call_id: str = ""
                  ) -> ToolResult:
        """Call ``tool``: validated, traced, recorded; errors come back as a result value."""
        from compound.workflow.effects import call_tool

        return call_tool(self, tool, arguments, call_id=call_id)

    async def acall_tool(self, tool: Tool, arguments: Mapping[str, Any], *, call_id: str = ""
                         ) -> ToolResult:
        """:meth:`call_tool` without blocking the event loop."""
        from compound.workflow.effects import acall_tool

        return await acall_tool(self, tool, arguments, call_id=call_id)

    def __repr__(self) -> str:
        return f"RunContext(run_id={self.run_id!r}, path={self.path!r})"
