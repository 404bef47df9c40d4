"""The guard: runs a system's rails on requests and answers, concurrently, each within its
time limit, and records every verdict in the run's trace.

* :meth:`Guard.check_input` runs the input rails before a model sees a request;
  :meth:`Guard.check_output` runs the output rails before a user sees an answer;
  :meth:`Guard.stream` checks a streamed answer as it goes (see
  :mod:`~compound.production.rails.stream`).
* Rails are independent, so they run at the same time (threads; :meth:`Guard.acheck` for
  async code). A rail that raises, or has not decided within its ``timeout_s``, gets its
  ``on_error`` decision (``escalate`` by default) with the reason: a broken rail never lets a
  text through silently.
* With a run context that has a tracer, the guard records a ``guard`` span per check and a
  ``rail`` span per rail (attributes ``compound.rail.*``: name, type, stage, action, reason,
  score, details). The text it records is redacted with every span any rail found, whatever
  the rail's action.

Example:
    >>> from compound.production.rails.pii import PIIRail
    >>> from compound.production.rails.secrets import SecretsRail
    >>> with Guard([PIIRail(), SecretsRail()]) as guard:
    ...     result = guard.check_input("mail ada@example.com, key ghp_" + "a" * 36)
    >>> result.action, result.text
    ('redact', 'mail <EMAIL_ADDRESS>, key <TOKEN>')
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.intelligence.llm.deadline import Deadline
from compound.production.rails.base import Rail, RailRequest, build_rail
from compound.production.rails.verdict import (
    GuardResult,
    RailInput,
    Stage,
    Verdict,
    apply_redactions,
)

if TYPE_CHECKING:
    from rich.console import Console

    from compound.production.rails.stream import GuardedStream
    from compound.store import Store
    from compound.system import System
    from compound.workflow.context import RunContext
    from compound.workflow.tracing import Span


class Guard:
    """A set of rails, run together.

    Args:
        rails: the rails, in the order their verdicts are reported.
        max_workers: threads running rails at the same time (twice the number of rails, at
            least 4, by default, so that concurrent checks rarely queue: a rail's time limit
            counts from when its check started, waiting included).
    """

    def __init__(self, rails: Sequence[Rail], *, max_workers: int | None = None) -> None:
        names = [rail.name for rail in rails]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UserError(f"two rails are named '{twice[0]}'; rail names must be unique")
        self.rails = list(rails)
        self.max_workers = max_workers or max(4, 2 * len(self.rails))
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._loaded = False
        self._lock = threading.Lock()

    @classmethod
    def from_system(
        cls,
        system: System,
        *,
        workflow: str | None = None,
        store: Store | None = None,
        names: Sequence[str] | None = None,
        console: Console | None = None,
        shared: dict[str, Any] | None = None,
    ) -> Guard:
        """The rails ``system`` declares under ``guardrails:`` (no loading yet).

        Args:
            system: the loaded spec.
            workflow: keep only the rails that guard this workflow (all when None).
            store: where the rails keep models (the system's store, opened on first use,
                when None).
            names: keep only these rails.
            console: where rails that train on first use show progress.
            shared: objects shared with the workflow (one LLM object per model name).
        """
        from compound.specfile import did_you_mean

        if workflow is not None and workflow not in system.workflows:
            raise UserError(f"no workflow '{workflow}' in {system.source or 'the spec'}"
                            f"{did_you_mean(workflow, system.workflows)}")
        for wanted in names or ():
            if wanted not in system.guardrails:
                raise UserError(f"no rail '{wanted}' under 'guardrails'"
                                f"{did_you_mean(wanted, system.guardrails)}; declared: "
                                f"{', '.join(system.guardrails) or 'none'}")
        shared = shared if shared is not None else {}
        rails = []
        for name, spec in system.guardrails.items():
            if names is not None and name not in names:
                continue
            if not spec.guards(workflow):
                continue
            for other in spec.workflows:
                if other not in system.workflows:
                    raise UserError(f"guardrails.{name}.workflows: no workflow '{other}'"
                                    f"{did_you_mean(other, system.workflows)}")
            rail = build_rail(RailRequest(name, spec, system, store, shared))
            if console is not None and hasattr(rail, "console"):
                rail.console = console
            rails.append(rail)
        return cls(rails)

    # -- lifecycle --------------------------------------------------------------------------

    def load(self) -> None:
        """Load every rail (models, data; the injection rail may train on first use)."""
        if self._loaded:
            return
        with self._lock:  # concurrent first requests load (and train) once
            if not self._loaded:
                for rail in self.rails:
                    rail.load()
                self._loaded = True

    def close(self) -> None:
        """Release the worker threads (a rail still running past its limit is not waited
        for)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rails_for(self, stage: Stage) -> list[Rail]:
        """The rails that run at ``stage``, in order."""
        return [rail for rail in self.rails if stage in rail.stages]

    # -- checking ---------------------------------------------------------------------------

    def check_input(self, text: str, *, ctx: RunContext | None = None) -> GuardResult:
        """Run the input rails on a request."""
        return self.check(RailInput(text, stage="input"), ctx=ctx)

    def check_output(self, text: str, *, documents: Sequence[str] = (), data: Any = None,
                     prompt: str | None = None, ctx: RunContext | None = None) -> GuardResult:
        """Run the output rails on an answer (with the retrieved passages, for groundedness)."""
        return self.check(RailInput(text, stage="output", documents=tuple(documents), data=data,
                                    prompt=prompt), ctx=ctx)

    def check(self, subject: RailInput, *, ctx: RunContext | None = None,
              rails: Sequence[Rail] | None = None) -> GuardResult:
        """Run ``rails`` (the stage's rails by default) on ``subject`` at the same time."""
        chosen = self.rails_for(subject.stage) if rails is None else list(rails)
        self.load()
        guard_span, rail_spans = self._start_spans(subject.stage, chosen, ctx)
        pool = self._executor()
        started = time.perf_counter()
        scopes = [_scope(rail) for rail in chosen]
        futures = [pool.submit(contextvars.copy_context().run, _in_scope, scope, self._run_one,
                               rail, subject, self._child(ctx, rail, span))
                   for rail, span, scope in zip(chosen, rail_spans, scopes, strict=True)]
        verdicts = []
        for rail, future, scope in zip(chosen, futures, scopes, strict=True):
            left = rail.timeout_s - (time.perf_counter() - started)
            try:
                verdicts.append(future.result(timeout=max(left, 0.0)))
            except concurrent.futures.TimeoutError:
                future.cancel()
                scope.cancel(f"rail '{rail.name}' passed its timeout_s")  # stop its model call
                verdicts.append(self._timed_out(rail, subject, started))
            finally:
                scope.finish()
        result = GuardResult.of(subject.stage, subject.text, verdicts)
        self._end_spans(subject, result, guard_span, rail_spans, ctx)
        return result

    async def acheck(self, subject: RailInput, *, ctx: RunContext | None = None) -> GuardResult:
        """:meth:`check` without blocking the event loop."""
        chosen = self.rails_for(subject.stage)
        await asyncio.to_thread(self.load)
        guard_span, rail_spans = self._start_spans(subject.stage, chosen, ctx)
        started = time.perf_counter()

        async def one(rail: Rail, span: Span | None) -> Verdict:
            # a rail past its time limit has its model calls stopped, not left running
            scope = _scope(rail)
            call = asyncio.to_thread(_in_scope, scope, self._run_one, rail, subject,
                                     self._child(ctx, rail, span))
            try:
                return await asyncio.wait_for(call, timeout=rail.timeout_s)
            except TimeoutError:
                scope.cancel(f"rail '{rail.name}' passed its timeout_s")
                return self._timed_out(rail, subject, started)
            except asyncio.CancelledError:
                scope.cancel("the request was cancelled")
                raise
            finally:
                scope.finish()

        verdicts = await asyncio.gather(*(one(r, s) for r, s in
                                          zip(chosen, rail_spans, strict=True)))
        result = GuardResult.of(subject.stage, subject.text, list(verdicts))
        self._end_spans(subject, result, guard_span, rail_spans, ctx)
        return result

    def stream(self, pieces: Iterable[str], *, documents: Sequence[str] = (),
               prompt: str | None = None, ctx: RunContext | None = None, hold: bool = False,
               check_every: int = 160) -> GuardedStream:
        """Check a streamed answer as it goes (see
        :class:`~compound.production.rails.stream.GuardedStream`)."""
        from compound.production.rails.stream import GuardedStream

        return GuardedStream(self, pieces, documents=documents, prompt=prompt, ctx=ctx,
                             hold=hold, check_every=check_every)

    def record(self, subject: RailInput, result: GuardResult, ctx: RunContext) -> None:
        """Trace a decision made without a run context (e.g. mid-stream) under ``ctx``."""
        by_name = {rail.name: rail for rail in self.rails}
        rails = [by_name[v.rail] for v in result.verdicts if v.rail in by_name]
        if len(rails) != len(result.verdicts):
            return
        guard_span, rail_spans = self._start_spans(subject.stage, rails, ctx)
        self._end_spans(subject, result, guard_span, rail_spans, ctx)

    # -- internals --------------------------------------------------------------------------

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix="compound-rail")
            return self._pool

    @staticmethod
    def _run_one(rail: Rail, subject: RailInput, ctx: RunContext | None) -> Verdict:
        started = time.perf_counter()
        try:
            verdict = rail.run(subject, ctx)
        except Exception as exc:
            return Verdict(rail.name, subject.stage, rail.on_error,
                           f"the rail failed ({type(exc).__name__}: {exc}); "
                           f"'{rail.on_error}' is its on_error decision",
                           details={"error": type(exc).__name__},
                           ms=(time.perf_counter() - started) * 1000)
        return replace(verdict, ms=(time.perf_counter() - started) * 1000)

    @staticmethod
    def _timed_out(rail: Rail, subject: RailInput, started: float) -> Verdict:
        return Verdict(rail.name, subject.stage, rail.on_error,
                       f"the rail did not decide within {rail.timeout_s:g}s; "
                       f"'{rail.on_error}' is its on_error decision",
                       details={"error": "timeout"}, ms=(time.perf_counter() - started) * 1000)

    @staticmethod
    def _child(ctx: RunContext | None, rail: Rail, span: Span | None) -> RunContext | None:
        return None if ctx is None else ctx.child(f"rail:{rail.name}", parent_span=span)

    @staticmethod
    def _start_spans(stage: Stage, rails: Sequence[Rail], ctx: RunContext | None
                     ) -> tuple[Span | None, list[Span | None]]:
        if ctx is None or ctx.tracer is None:
            return None, [None] * len(rails)
        guard_span = ctx.start_span(f"guard {stage}", "guard", {"compound.guard.stage": stage})
        assert guard_span is not None
        spans: list[Span | None] = [
            ctx.tracer.start(f"rail {rail.name}", "rail", trace_id=guard_span.trace_id,
                             parent_id=guard_span.span_id,
                             attributes={"compound.rail.name": rail.name,
                                         "compound.rail.type": getattr(rail, "type", ""),
                                         "compound.rail.stage": stage})
            for rail in rails
        ]
        return guard_span, spans

    @staticmethod
    def _end_spans(subject: RailInput, result: GuardResult, guard_span: Span | None,
                   rail_spans: Sequence[Span | None], ctx: RunContext | None) -> None:
        if guard_span is None or ctx is None:
            return
        for verdict, span in zip(result.verdicts, rail_spans, strict=True):
            if span is None:
                continue
            for key, value in verdict.to_dict().items():
                if key not in ("rail", "stage", "redactions"):
                    span.set(f"compound.rail.{key}", value)
            if verdict.stops:
                span.status = verdict.action
            ctx.end_span(span)
        found = [r for v in result.verdicts for r in v.redactions]
        guard_span.set("compound.guard.action", result.action)
        guard_span.set("compound.input", _clip(apply_redactions(subject.text, found)))
        if result.reasons:
            guard_span.set("compound.guard.reasons", result.reasons)
        if not result.allowed:
            guard_span.status = result.action
        ctx.end_span(guard_span)


def _clip(text: str, limit: int = 4000) -> str:
    """At most ``limit`` characters of ``text`` for a trace (it may be megabytes)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters]"


def _scope(rail: Rail) -> Deadline:
    return Deadline(rail.timeout_s, label=f"rail '{rail.name}' timeout_s of {rail.timeout_s:g}s")


def _in_scope(scope: Deadline, function: Any, *args: Any) -> Any:
    with scope.entered():
        return function(*args)
