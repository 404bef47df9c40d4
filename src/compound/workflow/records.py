"""What the engine keeps of a run while it runs, and hands to the tracer when it ends.

A traced run whose tracer allows it (:attr:`~compound.workflow.tracing.Tracer.deferred`)
makes no span object for itself or its plain steps while it runs: the engine keeps a
:class:`StepRecord` per step it ran (it times every step anyway, for
:attr:`~compound.workflow.engine.RunResult.step_seconds`) and, at the end, hands one
:class:`RunRecord` to :meth:`~compound.workflow.tracing.Tracer.put`. The tracer's background
thread then calls :meth:`RunRecord.spans` to build the spans.

The records are slotted dataclasses: one small object per step, built on the request path,
with nothing on it that the garbage collector has to look at twice.

Example:
    >>> record = RunRecord("answer", "ab" * 16, own_span=True, parent_id=None, start_ns=0,
    ...                    end_ns=2_000, input={"q": "hi"}, output="hello", steps=[
    ...                        StepRecord("draft", 500, 1_500, {"q": "hi"}, None, "hello")])
    >>> [(span.name, span.kind, span.end_ns - span.start_ns) for span in record.spans(0)]
    [('workflow answer', 'run', 2000), ('draft', 'step', 1000)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from compound.workflow.tracing import Span, run_span_id


@dataclass(slots=True)
class StepRecord:
    """One step the engine ran (its retries and loop iterations included).

    Attributes:
        name: the step's name.
        start_ns, end_ns: ``time.perf_counter_ns()`` when it started and ended.
        inputs: the arguments it was called with.
        span: its live span, or None when its span is built from this record after the run.
        output: what it returned (None when it raised).
        error: what it raised, or None.
    """

    name: str
    start_ns: int
    end_ns: int
    inputs: dict[str, Any]
    span: Span | None
    output: Any = None
    error: BaseException | None = None

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(slots=True)
class RunRecord:
    """A finished run (or a nested run's steps), as handed to the tracer.

    Attributes:
        workflow: the workflow's name.
        run_id: the run's id, which is also its trace id.
        own_span: whether the run gets a span of its own (a nested run's steps sit under the
            step that ran it instead).
        parent_id: the span the run's span (or, without one, its steps' spans) sits under.
        start_ns, end_ns: ``time.perf_counter_ns()`` at the run's start and end.
        error: what the run failed with, or None.
        tokens, cost_usd: what the run's model calls consumed.
        input, output: the run's input and output.
        steps: the steps it ran, in the order they ended.
    """

    workflow: str
    run_id: str
    own_span: bool
    parent_id: int | None
    start_ns: int = 0
    end_ns: int = 0
    error: BaseException | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    input: Any = None
    output: Any = None
    steps: list[StepRecord] = field(default_factory=list)

    def spans(self, clock_offset_ns: int) -> Iterator[Span]:
        """The spans of the run and of its steps that have none yet; called on the tracer's
        thread. Adding ``clock_offset_ns`` turns ``perf_counter_ns`` readings into epoch
        time."""
        trace_id = self.run_id or "0" * 32
        parent = self.parent_id
        if self.own_span:
            span_id = run_span_id(trace_id)
            attributes: dict[str, Any] = {
                "compound.workflow": self.workflow, "compound.run.id": trace_id,
                "compound.input": self.input,
                "compound.run.status": "completed" if self.error is None else "failed",
                "gen_ai.usage.input_tokens": self.tokens, "compound.cost_usd": self.cost_usd}
            if self.error is None:
                attributes["compound.output"] = self.output
            yield Span.finished(f"workflow {self.workflow}", "run", trace_id=trace_id,
                                parent_id=parent, span_id=span_id,
                                start_ns=self.start_ns + clock_offset_ns,
                                end_ns=self.end_ns + clock_offset_ns, attributes=attributes,
                                error=self.error)
            parent = span_id
        for step in self.steps:
            if step.span is not None:
                continue  # a step with its own span object ended it already
            attributes = {"compound.step": step.name, "compound.input": step.inputs}
            if step.error is None:
                attributes["compound.output"] = step.output
            yield Span.finished(step.name, "step", trace_id=trace_id, parent_id=parent,
                                start_ns=step.start_ns + clock_offset_ns,
                                end_ns=step.end_ns + clock_offset_ns, attributes=attributes,
                                error=step.error)
