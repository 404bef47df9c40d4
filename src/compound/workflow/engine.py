"""Running a built workflow: steps level by level, sync or async, checkpointed and traced.

Steps at the same level of the graph do not depend on each other; :meth:`Engine.run` runs
them on threads (up to the workflow's ``max_parallel``) and :meth:`Engine.arun` on the event
loop. A linear workflow never touches a thread.

With a store in the run context, the run's record is written when it starts and ends and a
checkpoint after each step, so a run killed midway resumes from the last completed step
(:func:`compound.workflow.runs.resume`). With a tracer, the run and each step are spans.

Every step is timed (:attr:`RunResult.step_seconds`) into a
:class:`~compound.workflow.records.StepRecord`. A plain step (no context, retries, loop,
fan-out or side effects) needs no span object while it runs: a traced run hands its
:class:`~compound.workflow.records.RunRecord` to the tracer once, at the end, and the
tracer's background thread builds the run's and those steps' spans. Steps that open spans
of their own (model and tool calls, retries, loops) get their span when they start.

Sync and async runs share every decision (conditions, skips, loop ends, failures, what is
recorded); they differ only in how calls are made: a looping or fanning-out step is a
generator of batches of calls (:meth:`Engine._calls`) that :meth:`Engine._drive` runs on
threads and :meth:`Engine._adrive` on the event loop.

The engine reads the workflow through :class:`~compound.workflow.plan.Plan` and never
imports the graph module (which imports this one to run).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from compound.conditions import read_field
from compound.errors import RuntimeFailure, UserError
from compound.json_values import from_json, to_json
from compound.privacy.errors import error_text
from compound.workflow.context import RunContext
from compound.workflow.plan import Node, Plan
from compound.workflow.records import RunRecord, StepRecord
from compound.workflow.state import Checkpoints, Journal
from compound.workflow.tracing import RUN_SPAN, Span

# one call of a step: its arguments and its context
Call = tuple[dict[str, Any], RunContext | None]


class StepFailed(RuntimeFailure):
    """A step raised (after its retries); the run stopped there and can be resumed."""

    def __init__(self, message: str, *, run_id: str, step: str) -> None:
        self.run_id = run_id
        self.step = step
        super().__init__(message)


class StepInterrupted(RuntimeFailure):
    """A side-effecting step was cut off by a crash; it is not run again automatically."""


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        run_id: the run's id (also its trace id); use it with ``compound trace``.
        output: the output of the workflow's output step (None if that step was skipped).
        outputs: every step's output, by step name.
        skipped: steps that did not run, with the reason.
        duration_s: the run's wall time.
    """

    run_id: str
    output: Any
    outputs: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    steps: list[StepRecord] = field(default_factory=list, repr=False)

    @property
    def step_seconds(self) -> dict[str, float]:
        """Seconds each step that ran took (its retries included), in the order they ended."""
        return {step.name: step.seconds for step in self.steps}


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class Engine:
    """Runs one workflow; a new engine per run keeps runs apart.

    Args:
        flow: the built workflow.
        restored: outputs (as JSON) of steps completed by an earlier attempt of this run.
    """

    __slots__ = ("checkpoints", "ctx", "defer", "flow", "parent_id", "restored", "results",
                 "run_span", "skipped", "steps")

    def __init__(self, flow: Plan, *, restored: Mapping[str, Any] | None = None) -> None:
        self.flow = flow
        self.restored = restored or {}
        self.results: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.steps: list[StepRecord] = []
        self.checkpoints: Checkpoints | None = None
        self.ctx: RunContext = RunContext()
        self.defer = False  # traced, with the run's and plain steps' spans built after it
        self.run_span: Span | None = None  # when traced live
        self.parent_id: int | None = None  # the span the run (or nested run) sits under

    # -- whole runs -------------------------------------------------------------------------

    def _begin(self, input: Any, ctx: RunContext | None) -> None:
        base = ctx if ctx is not None else RunContext()
        run_ctx = base.child("")
        run_ctx.path = ""
        run_ctx.run_id = base.run_id or RunContext.new_run_id()
        self.ctx = run_ctx
        self.results["input"] = input
        store = run_ctx.store
        if store is not None:
            if run_ctx.journal is None:
                run_ctx.journal = Journal(store, run_ctx.run_id)
            self.checkpoints = Checkpoints(store, run_ctx.run_id)
            self.checkpoints.begin({
                "workflow": self.flow.name, "target": self.flow.source,
                "input": _json_or_repr(input, "the input"),
            })
        tracer = run_ctx.tracer
        if tracer is None:
            return
        if tracer.deferred:
            self.defer = True
            if run_ctx.parent_span is not None:  # e.g. a served request's span
                self.parent_id = run_ctx.parent_id()
            run_ctx.parent_span = RUN_SPAN  # its id comes from the run id: nothing to make
        else:
            self.run_span = run_ctx.parent_span = run_ctx.start_span(
                f"workflow {self.flow.name}", "run", {
                    "compound.workflow": self.flow.name, "compound.run.id": run_ctx.run_id,
                    "compound.input": input})

    def _end(self, error: BaseException | None, start: int) -> RunResult:
        ctx = self.ctx
        output = self.results.get(self.flow.output_step)
        status = "completed" if error is None else "failed"
        end = time.perf_counter_ns()
        if self.defer:
            assert ctx.tracer is not None
            budget = ctx.budget
            ctx.tracer.put(RunRecord(self.flow.name, ctx.run_id, True, self.parent_id, start,
                                     end, error, budget.tokens, budget.cost_usd,
                                     self.results["input"], output, self.steps))
        elif self.run_span is not None:
            span = self.run_span
            span.set("compound.run.status", status)
            span.set("gen_ai.usage.input_tokens", ctx.budget.tokens)
            span.set("compound.cost_usd", ctx.budget.cost_usd)
            if error is None:
                span.set("compound.output", output)
            else:
                span.fail(error)
            ctx.end_span(span)
        if self.checkpoints is not None:
            fields: dict[str, Any] = {"status": status, "tokens": ctx.budget.tokens,
                                      "cost_usd": ctx.budget.cost_usd}
            if error is None:
                fields["output"] = _json_or_repr(output, "the output")
            else:
                fields["error"] = error_text(error)  # the detail goes to the log, by id
                fields["failed_step"] = getattr(error, "step", None)
            self.checkpoints.finish(**fields)
        return RunResult(ctx.run_id, output, {k: v for k, v in self.results.items()
                                              if k != "input"}, dict(self.skipped),
                         (end - start) / 1e9, self.steps)

    def run(self, input: Any, ctx: RunContext | None) -> RunResult:
        start = time.perf_counter_ns()
        self._begin(input, ctx)
        try:
            for level in self.flow.levels:
                if len(level) == 1:
                    self._node(level[0])
                else:
                    self._parallel(level)
        except BaseException as exc:
            error = self._stop(exc, start)
            if error is exc:
                raise
            raise error from exc
        return self._end(None, start)

    async def arun(self, input: Any, ctx: RunContext | None) -> RunResult:
        start = time.perf_counter_ns()
        self._begin(input, ctx)
        try:
            for level in self.flow.levels:
                if len(level) == 1:
                    await self._anode(level[0])
                else:
                    await asyncio.gather(*(self._anode(node) for node in level))
        except BaseException as exc:
            error = self._stop(exc, start)
            if error is exc:
                raise
            raise error from exc
        return self._end(None, start)

    def run_nested(self, input: Any, ctx: RunContext | None) -> Any:
        """Run as a step of another workflow, inside that run (no record of its own)."""
        self._begin_nested(input, ctx)
        try:
            for level in self.flow.levels:
                for node in level:
                    self._node(node)
        finally:
            self._end_nested()
        return self.results.get(self.flow.output_step)

    async def arun_nested(self, input: Any, ctx: RunContext | None) -> Any:
        self._begin_nested(input, ctx)
        try:
            for level in self.flow.levels:
                await asyncio.gather(*(self._anode(node) for node in level))
        finally:
            self._end_nested()
        return self.results.get(self.flow.output_step)

    def _begin_nested(self, input: Any, ctx: RunContext | None) -> None:
        self.ctx = ctx if ctx is not None else RunContext()
        self.results["input"] = input
        if self.ctx.tracer is not None and self.ctx.tracer.deferred:
            self.defer = True
            self.parent_id = self.ctx.parent_id()

    def _end_nested(self) -> None:
        ctx = self.ctx
        if self.defer and self.steps:
            assert ctx.tracer is not None
            ctx.tracer.put(RunRecord(self.flow.name, ctx.run_id, False, self.parent_id,
                                     steps=self.steps))

    def _stop(self, exc: BaseException, start: int) -> BaseException:
        """End a run that raised ``exc``; what the run raises (a step's runtime failure
        becomes :class:`StepFailed`, naming the step)."""
        error = self._wrap(exc)
        self._end(error, start)
        return error

    def _wrap(self, exc: BaseException) -> BaseException:
        if not isinstance(exc, Exception) or isinstance(exc, StepFailed | UserError):
            return exc
        step = getattr(exc, "_compound_step", "?")
        hint = (f". Fix the cause and continue with 'compound resume {self.ctx.run_id}'"
                if self.checkpoints is not None else "")
        failed = StepFailed(
            f"workflow '{self.flow.name}' run {self.ctx.run_id}: step '{step}' failed: "
            f"{type(exc).__name__}: {exc}{hint}", run_id=self.ctx.run_id, step=step,
        )
        failed.__cause__ = exc  # before the run's record names it: one error id for both
        return failed

    def _parallel(self, level: list[Node]) -> None:
        executor = self.flow.executor()
        # each step in a copy of this thread's context: the deadline the run is under
        # (a step's time limit, a served run's) reaches the steps' model calls
        futures = [executor.submit(contextvars.copy_context().run, self._node, node)
                   for node in level]
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    # -- one step ---------------------------------------------------------------------------

    def _prepare(self, node: Node) -> tuple[dict[str, Any], Span | None, RunContext | None
                                            ] | None:
        """Arguments, span and context for ``node``; None when it is restored or skipped."""
        name = node.step.name
        if name in self.restored:
            self._restore(node)
            return None
        step = node.step
        results = self.results
        try:
            if step.when is not None and not self._holds(node, step.when, results, "when"):
                raise _Skip(f"its condition {getattr(step.when, 'source', '(function)')!r} "
                            "was false")
            kwargs: dict[str, Any] = {}
            for arg in node.args:
                source = arg.source
                if source is None:
                    kwargs[arg.param] = arg.default
                    continue
                if source in self.skipped:
                    if arg.accepts_none:
                        kwargs[arg.param] = None
                        continue
                    raise _Skip(f"it needs '{source}', which was skipped")
                value = results[source]
                try:
                    for part in arg.path:
                        value = read_field(value, part)
                except (KeyError, AttributeError) as exc:
                    if source != "input":  # a step's output without it: the system's fault
                        raise
                    raise UserError(  # the caller's (an untyped input without the field)
                        f"step '{name}' reads input.{'.'.join(arg.path)}, which the input "
                        f"does not have ({exc}); send it as a field of the input") from None
                kwargs[arg.param] = value
        except _Skip as skip:
            self._skip(node, skip.reason)
            return None
        ctx = self.ctx
        span = None
        if ctx.tracer is not None and not (node.span_after and self.defer):
            span = ctx.start_span(name, "step", {"compound.step": name, "compound.input": kwargs})
        step_ctx = None
        if step.context_param is not None or ctx.journal is not None:
            step_ctx = ctx.child(name, span)
        if step.side_effects and step_ctx is not None and step_ctx.journal is not None:
            self._guard_side_effects(node, step_ctx)
        return kwargs, span, step_ctx

    def _guard_side_effects(self, node: Node, ctx: RunContext) -> None:
        assert ctx.journal is not None
        key = f"{ctx.path}#step"
        if ctx.journal.lookup(key) is not None:
            raise StepInterrupted(
                f"step '{node.name}' runs a side-effecting tool and was cut off by a crash in "
                f"an earlier attempt of run {ctx.run_id}; its outcome is unknown, so it is "
                "not repeated. Check its effect, then rerun the workflow"
            )
        ctx.journal.write(key, {"kind": "step", "status": "started"})

    def _done(self, node: Node, kwargs: dict[str, Any], span: Span | None, start: int,
              value: Any) -> None:
        name = node.step.name
        self.steps.append(StepRecord(name, start, time.perf_counter_ns(), kwargs, span, value))
        self.results[name] = value
        if self.checkpoints is not None:
            try:
                data = to_json(value, where=f"the output of step '{name}'")
            except TypeError as exc:
                raise UserError(f"{exc}; a checkpointed run needs JSON-able step outputs"
                                ) from None
            self.checkpoints.step_done(name, data)
        if span is not None:
            span.set("compound.output", value)
            self.ctx.end_span(span)

    def _failed(self, node: Node, kwargs: dict[str, Any], span: Span | None, start: int,
                exc: BaseException) -> None:
        self.steps.append(StepRecord(node.name, start, time.perf_counter_ns(), kwargs, span,
                                     None, exc))
        if isinstance(exc, Exception) and not hasattr(exc, "_compound_step"):
            with contextlib.suppress(AttributeError):
                exc._compound_step = node.name  # type: ignore[attr-defined]
            if isinstance(exc, UserError):
                exc.add_note(f"(in step '{node.name}' of workflow '{self.flow.name}', run "
                             f"{self.ctx.run_id})")
        if span is not None:
            span.fail(exc)
            self.ctx.end_span(span)

    def _skip(self, node: Node, reason: str) -> None:
        self.skipped[node.name] = reason
        self.results[node.name] = None
        if self.checkpoints is not None:
            self.checkpoints.step_done(node.name, {"__skipped__": reason})
        span = self.ctx.start_span(node.name, "step", {"compound.step": node.name,
                                                       "compound.step.skipped": reason})
        self.ctx.end_span(span)

    def _restore(self, node: Node) -> None:
        data = self.restored[node.name]
        if isinstance(data, dict) and "__skipped__" in data and len(data) == 1:
            self.skipped[node.name] = data["__skipped__"]
            self.results[node.name] = None
            return
        self.results[node.name] = from_json(data, node.output_type)
        span = self.ctx.start_span(node.name, "step", {"compound.step": node.name,
                                                       "compound.step.restored": True})
        self.ctx.end_span(span)

    def _node(self, node: Node) -> None:
        prepared = self._prepare(node)
        if prepared is None:
            return
        kwargs, span, ctx = prepared
        step = node.step
        start = time.perf_counter_ns()
        try:
            if step.map_over is None and step.loop is None:
                value = step.call(kwargs, ctx, span)
            else:
                value = self._drive(node, self._calls(node, kwargs, ctx, span), span)
        except BaseException as exc:
            self._failed(node, kwargs, span, start, exc)
            raise
        self._done(node, kwargs, span, start, value)

    async def _anode(self, node: Node) -> None:
        prepared = self._prepare(node)
        if prepared is None:
            return
        kwargs, span, ctx = prepared
        step = node.step
        start = time.perf_counter_ns()
        try:
            if step.map_over is None and step.loop is None:
                value = await step.acall(kwargs, ctx, span)
            else:
                value = await self._adrive(node, self._calls(node, kwargs, ctx, span), span)
        except BaseException as exc:
            self._failed(node, kwargs, span, start, exc)
            raise
        self._done(node, kwargs, span, start, value)

    # -- loops and fan-out ------------------------------------------------------------------

    def _calls(self, node: Node, kwargs: dict[str, Any], ctx: RunContext | None,
               span: Span | None) -> Generator[list[Call], list[Any], Any]:
        """The calls of a looping or fanning-out step, for either driver: yields each batch
        of calls (run concurrently, up to the step's ``concurrency``), is sent their
        outputs, and returns the step's output."""
        step = node.step
        if step.map_over is not None:
            calls = self._item_calls(node, kwargs, ctx)
            if span is not None:
                span.set("compound.fanout.items", len(calls))
            return (yield calls)
        assert step.loop is not None
        output: Any = None
        for iteration in range(1, step.loop.max_iterations + 1):
            call = dict(kwargs)
            if step.takes_previous:
                call["previous"] = output
            (output,) = yield [(call, ctx)]
            if self._until(node, output):
                self._loop_end(span, iteration, True)
                return output
        self._loop_end(span, step.loop.max_iterations, step.until is None)
        return output

    def _drive(self, node: Node, calls: Generator[list[Call], list[Any], Any],
               span: Span | None) -> Any:
        """Run a step's calls (:meth:`_calls`) on this thread, a batch on threads."""
        step = node.step
        batch = next(calls)
        while True:
            if step.concurrency == 1 or len(batch) < 2:
                outputs = [step.call(call, item_ctx, span) for call, item_ctx in batch]
            else:
                with ThreadPoolExecutor(min(step.concurrency, len(batch))) as pool:
                    contexts = [contextvars.copy_context() for _ in batch]
                    outputs = list(pool.map(
                        lambda c, context: context.run(step.call, c[0], c[1], span),
                        batch, contexts))
            try:
                batch = calls.send(outputs)
            except StopIteration as done:
                return done.value

    async def _adrive(self, node: Node, calls: Generator[list[Call], list[Any], Any],
                      span: Span | None) -> Any:
        """Run a step's calls (:meth:`_calls`) on the event loop."""
        step = node.step
        limit = asyncio.Semaphore(step.concurrency)

        async def one(call: dict[str, Any], item_ctx: RunContext | None) -> Any:
            async with limit:
                return await step.acall(call, item_ctx, span)

        batch = next(calls)
        while True:
            if len(batch) == 1:
                outputs = [await step.acall(batch[0][0], batch[0][1], span)]
            else:
                outputs = list(await asyncio.gather(*(one(c, x) for c, x in batch)))
            try:
                batch = calls.send(outputs)
            except StopIteration as done:
                return done.value

    def _until(self, node: Node, output: Any) -> bool:
        until = node.step.until
        return until is not None and self._holds(node, until, {**self.results, "output": output},
                                                 "until")

    def _holds(self, node: Node, condition: Any, values: Mapping[str, Any], clause: str) -> bool:
        """Whether a step's ``when:``/``until:`` holds; a condition that raises names the step
        and the expression (it runs outside the step's own error handling)."""
        try:
            return bool(condition(values))
        except Exception as exc:
            source = getattr(condition, "source", None)
            shown = f"{source!r}" if source is not None else f"(function {condition!r})"
            raise StepFailed(
                f"workflow '{self.flow.name}' run {self.ctx.run_id}: step '{node.name}': its "
                f"condition {clause}: {shown} raised {type(exc).__name__}: {exc}; fix the "
                "expression, or the step outputs it reads", run_id=self.ctx.run_id,
                step=node.name) from exc

    @staticmethod
    def _loop_end(span: Span | None, iterations: int, met: bool) -> None:
        if span is None:
            return
        span.set("compound.loop.iterations", iterations)
        span.set("compound.loop.stop_reason", "until" if met else "max_iterations")

    def _item_calls(self, node: Node, kwargs: dict[str, Any], ctx: RunContext | None
                    ) -> list[Call]:
        step = node.step
        assert step.map_over is not None
        calls = []
        for index, item in enumerate(kwargs[step.map_over]):
            call = dict(kwargs)
            call[step.map_over] = item
            item_ctx = ctx.child(f"[{index}]") if ctx is not None else None
            calls.append((call, item_ctx))
        return calls


def _json_or_repr(value: Any, where: str) -> Any:
    try:
        return to_json(value, where=where)
    except TypeError:
        return repr(value)[:2000]
