"""Running served workflows: one call per request, with a time limit, a trace, a run record in
the store, and (for streams) live events.

The HTTP layer talks to a :class:`Runner`; :class:`WorkflowRunner` is the one backed by the
workflow runtime (:meth:`Workflow.arun <compound.workflow.graph.Workflow.arun>` with a
:class:`~compound.workflow.context.RunContext` holding the store and the serving tracer).
Listeners hear about every finished run (:class:`RunEnd`): the metrics, the rollups, the
input log for drift and the online evaluators are listeners.

A workflow with a guard (:func:`~compound.production.rails.steps.run_guard`: the rails that
guard it and that none of its steps uses) runs behind it: input rails before the first step,
output rails on the answer; a block or an escalation answers with no output and the decision
(:attr:`RunOutcome.guard`), and an escalation goes to the human review queue (``review``), its
item's id in the decision. A streamed run's tokens pass through the output rails as they
come (:class:`~compound.production.rails.stream.GuardedStream`), so a redacted value is never
shown, and a stream the rails stop shows nothing more.

Example:
    >>> import asyncio
    >>> from compound.store import MemoryStore
    >>> from compound.workflow import Workflow
    >>> from compound.workflow.tracing import Tracer
    >>> def shout(text: str) -> str:
    ...     return text.upper()
    >>> store = MemoryStore()
    >>> runner = WorkflowRunner({"shout": Workflow([shout], name="shout")}, store=store,
    ...                         tracer=Tracer())
    >>> outcome = asyncio.run(runner.run("shout", {"text": "hi"}))
    >>> outcome.output, runner.record_of(outcome.run_id)["status"]
    ('HI', 'completed')
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from compound.errors import RuntimeFailure, StoreError, UserError
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import LLMTimeout
from compound.json_values import NotJSONError, to_json
from compound.privacy.errors import error_ref, error_text
from compound.production.serving.events import RunChannel, current_channel
from compound.production.serving.recorder import RunRecorder
from compound.store.redacting import redacted
from compound.workflow.context import RunContext
from compound.workflow.state import RUNS

if TYPE_CHECKING:
    from compound.production.rails.engine import Guard
    from compound.production.serving.screening import TokenScreen
    from compound.store.base import Store
    from compound.strategy.review import ReviewQueue
    from compound.workflow.graph import Workflow
    from compound.workflow.tracing import Tracer


class RunFailed(RuntimeFailure):
    """A step failed; the run's trace has the details."""

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class RunTimeout(RunFailed):
    """The run passed the server's time limit; it was cancelled."""


@dataclass
class RunOutcome:
    """A completed run, as a response reports it."""

    run_id: str
    workflow: str
    output: Any
    duration_s: float
    tokens: int = 0
    cost_usd: float = 0.0
    guard: dict[str, Any] | None = None  # the run rails' decision: {"action", "reasons"}


@dataclass
class RunEnd:
    """What listeners hear when a run ends (completed or not)."""

    workflow: str
    run_id: str
    input: Mapping[str, Any]
    duration_s: float
    output: Any = None
    error: str | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Runner(Protocol):
    """What the HTTP layer needs from a workflow runtime."""

    workflows: Mapping[str, Workflow]

    async def run(self, workflow: str, input: Mapping[str, Any], *, run_id: str | None = None,
                  channel: RunChannel | None = None) -> RunOutcome: ...

    def stream(self, workflow: str, input: Mapping[str, Any], *, tokens: bool = True
               ) -> AsyncIterator[tuple[str, dict[str, Any]]]: ...


class WorkflowRunner:
    """Runs served workflows with the workflow runtime (see the module docstring).

    Args:
        workflows: the served workflows by name.
        store: run records, checkpoints and traces go here.
        tracer: the serving tracer (shared by every run; exports in the background).
        timeout_s: the longest a run may take before it is cancelled.
        checkpoints: ``always`` checkpoints each step (resumable runs); ``never`` leaves one
            record per run, written in batches by a :class:`RunRecorder`; ``auto`` does the
            first for workflows of more than one step, the second for one-step ones.
        listeners: called with a :class:`RunEnd` after every run.
        unlisted: workflows this runner runs that have no endpoint of their own (the chat
            workflows behind the OpenAI-compatible endpoint).
        guards: the guard around each workflow's runs, by workflow name (see the module
            docstring); a workflow without one runs unguarded.
        review: where runs the guards escalate are queued for a person's decision (not
            queued when None).
    """

    def __init__(self, workflows: Mapping[str, Workflow], *, store: Store, tracer: Tracer,
                 timeout_s: float = 30.0, checkpoints: str = "auto",
                 listeners: list[Callable[[RunEnd], None]] | None = None,
                 unlisted: Mapping[str, Workflow] | None = None,
                 guards: Mapping[str, Guard] | None = None,
                 review: ReviewQueue | None = None) -> None:
        self.workflows = dict(workflows)
        self.unlisted = dict(unlisted or {})
        self.guards = {name: guard for name, guard in (guards or {}).items()
                       if guard is not None}
        self._token_guards: dict[str, Guard | None] = {}
        self.review = review
        self.store = store
        self.tracer = tracer
        self.timeout_s = timeout_s
        self.listeners = list(listeners or [])
        self.recorder = RunRecorder(store)
        self.checkpointed = {
            name: checkpoints == "always" or (checkpoints == "auto" and len(flow.steps) > 1)
            for name, flow in {**self.workflows, **self.unlisted}.items()}

    async def run(self, workflow: str, input: Mapping[str, Any], *, run_id: str | None = None,
                  channel: RunChannel | None = None) -> RunOutcome:
        """Run ``workflow`` on ``input`` (a mapping of its input fields).

        Raises:
            UserError: the input does not fit the workflow.
            RunTimeout: the run passed ``timeout_s``.
            RunFailed: a step failed.
        """
        flow = self.workflows.get(workflow) or self.unlisted[workflow]
        checkpointed = self.checkpointed[workflow]
        ctx = RunContext(store=self.store if checkpointed else None, tracer=self.tracer,
                         run_id=run_id or RunContext.new_run_id())
        guard = self.guards.get(workflow)
        token = current_channel.set(channel)
        start = time.perf_counter()
        error: BaseException | None = None
        output: Any = None
        decision: dict[str, Any] | None = None
        try:
            # model calls under the run share its deadline: when the run times out or is
            # cancelled, they stop and close their connections instead of running on
            with Deadline.scope(self.timeout_s,
                                label=f"the run's limit, serve.timeout_s of {self.timeout_s:g}s"):
                if guard is None:
                    result = await asyncio.wait_for(flow.arun(dict(input), ctx=ctx),
                                                    self.timeout_s)
                    output = _jsonable(result.output)
                else:
                    from compound.production.rails.steps import aguarded_run

                    guarded = await asyncio.wait_for(
                        aguarded_run(flow, dict(input), guard, ctx=ctx, review=self.review),
                        self.timeout_s)
                    output, decision = _jsonable(guarded.output), guarded.summary()
            return RunOutcome(ctx.run_id, workflow, output, time.perf_counter() - start,
                              ctx.budget.tokens, ctx.budget.cost_usd, decision)
        except TimeoutError:
            error = RunTimeout(f"workflow '{workflow}' run {ctx.run_id} did not finish within "
                               f"{self.timeout_s:g}s and was cancelled; raise "
                               "'serve.timeout_s' or make the workflow faster",
                               run_id=ctx.run_id)
            raise error from None
        except UserError as exc:
            error = exc
            raise
        except RuntimeFailure as exc:
            error = RunFailed(str(exc), run_id=ctx.run_id)
            raise error from exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            current_channel.reset(token)
            duration = time.perf_counter() - start
            if not checkpointed:
                self._record(ctx, workflow, input, output, error, duration, decision)
            end = RunEnd(workflow, ctx.run_id, input, duration, output,
                         None if error is None else type(error).__name__,
                         ctx.budget.tokens, ctx.budget.cost_usd,
                         {"guard": decision} if decision is not None else {})
            for listener in self.listeners:
                listener(end)

    def _record(self, ctx: RunContext, workflow: str, input: Mapping[str, Any], output: Any,
                error: BaseException | None, duration: float,
                decision: dict[str, Any] | None = None) -> None:
        now = time.time()
        record: dict[str, Any] = {
            "workflow": workflow, "input": _jsonable(dict(input)),
            "status": "completed" if error is None else "failed", "started": now - duration,
            "ended": now, "tokens": ctx.budget.tokens, "cost_usd": ctx.budget.cost_usd,
        }
        if decision is not None:
            record["guard"] = decision
        if error is None:
            record["output"] = output
        else:
            record["error"] = error_text(error)  # type and id; the detail is in the log
        self.recorder.add(ctx.run_id, record)

    def record_of(self, run_id: str) -> dict[str, Any] | None:
        """A run's record: from the store, or still on its way there (redacted as the store
        will keep it)."""
        record: dict[str, Any] | None = self.store.get(RUNS, run_id)
        if record is not None:
            return record
        queued = self.recorder.get(run_id)
        return None if queued is None else redacted(self.store, RUNS, queued)

    async def stream(self, workflow: str, input: Mapping[str, Any], *, tokens: bool = True
                     ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The run's events as ``(event, data)``: ``run``, then ``step`` and ``token`` events
        as they happen, then ``done`` (with the output) or ``error``; ``ping`` every 15 s of
        silence. Closing the iterator early cancels the run and stops its model calls."""
        run_id = RunContext.new_run_id()
        channel = RunChannel(run_id, tokens=tokens)
        screen = self._screen(workflow, channel) if tokens else None
        channel.screen = screen
        task = asyncio.ensure_future(self.run(workflow, input, run_id=run_id, channel=channel))
        queue = channel.queue
        try:
            yield "run", {"run_id": run_id, "workflow": workflow}
            while not task.done():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, task}, timeout=15.0,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                if not done:
                    yield "ping", {}
            if screen is not None:  # the held-back tails the output rails let through
                await asyncio.to_thread(screen.close)
            await asyncio.sleep(0)  # let events published from threads land
            while not queue.empty():
                yield queue.get_nowait()
            try:
                outcome = task.result()
            except Exception as exc:
                yield "error", describe_failure(exc, run_id)
                return
            done_data = {"run_id": outcome.run_id, "output": outcome.output,
                         "duration_ms": round(outcome.duration_s * 1000, 3),
                         "tokens": outcome.tokens, "cost_usd": outcome.cost_usd}
            if outcome.guard is not None:
                done_data["guard"] = outcome.guard
            yield "done", done_data
        finally:
            if not task.done():
                channel.cancelled.set()
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


    def _screen(self, workflow: str, channel: RunChannel) -> TokenScreen | None:
        """A screen of the run's tokens by the output rails that judge partial text, or None
        when the workflow's guard has none."""
        guard = self.guards.get(workflow)
        if guard is None:
            return None
        if workflow not in self._token_guards:
            from compound.production.rails.engine import Guard

            streaming = [rail for rail in guard.rails_for("output") if rail.streams]
            self._token_guards[workflow] = Guard(streaming) if streaming else None
        token_guard = self._token_guards[workflow]
        if token_guard is None:
            return None
        from compound.production.serving.screening import TokenScreen

        return TokenScreen(token_guard, channel)

    def close(self) -> None:
        """Release the guards' threads."""
        for guard in [*self.guards.values(), *self._token_guards.values()]:
            if guard is not None:
                guard.close()


def failure_kind(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and error type for a failed run, looking through wrapped causes (a
    full model queue inside a step still answers 503, not 500)."""
    from compound.production.serving.errors import store_status
    from compound.production.serving.served_llm import Overloaded

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Overloaded):
            return 503, "overloaded"
        if isinstance(seen, RunTimeout | LLMTimeout):  # a model past its deadline too
            return 504, "timeout"
        if isinstance(seen, UserError):
            return 422, "invalid_input"
        if isinstance(seen, StoreError):
            return store_status(seen)
        seen = seen.__cause__
    return 500, "run_failed"


def describe_failure(exc: BaseException, run_id: str) -> dict[str, Any]:
    """An error event for a failed run: its type, status, message and run id. A step's or a
    provider's failure is told by its error id only (:func:`client_message`)."""
    status, kind = failure_kind(exc)
    event = {"type": kind, "status": status, "message": client_message(exc, kind),
             "run_id": getattr(exc, "run_id", run_id)}
    if kind == "run_failed":
        event["id"] = error_ref(exc).id
    return event


def client_message(exc: BaseException, kind: str) -> str:
    """What a client is told of a failed run. compound's own messages (timeout, overloaded,
    invalid input) are shown; a failed step's or provider's text, which may quote a secret,
    is not: the client gets the step, the exception's type and the error id, and the server
    log has the detail under the id."""
    if kind != "run_failed":
        return str(exc)
    from compound.workflow.engine import StepFailed

    ref = error_ref(exc)
    step, cause = None, exc
    # the failure under the wrappers that only say where it happened
    while isinstance(cause, RunFailed | StepFailed) and cause.__cause__ is not None:
        step = step or getattr(cause, "step", None)
        cause = cause.__cause__
    where = f"step '{step}'" if isinstance(step, str) and step != "?" else "a step"
    return (f"the run failed: {where} raised {type(cause).__name__}; the server logged the "
            f"detail under {ref.id}: quote it when reporting this")


def _jsonable(value: Any) -> Any:
    try:
        return to_json(value, where="the output")
    except NotJSONError:
        return repr(value)[:2000]
