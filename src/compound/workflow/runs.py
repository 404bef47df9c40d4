"""Starting, resuming and replaying runs against a store.

* :func:`start` runs a workflow with checkpoints and a trace in the store.
* :func:`resume` continues a run that was killed or failed: completed steps are restored
  from their checkpoints, and inside the step that was under way every model and tool call
  that completed is answered from the journal, so a side-effecting tool call is never made
  twice.
* :func:`replay` re-runs a workflow with the model outputs recorded by an earlier run (no
  model is called, no side-effecting tool runs): for debugging a run's post-processing and
  wiring without a model. It is itself traced under a new run id.
* :func:`resuming` and :func:`replaying` make the same runs ready without running them
  (a :class:`Rerun`), for a caller that wraps the execution: ``compound resume`` and
  ``compound replay`` run them behind the rails around the run, as ``compound run`` does.

Example:
    >>> from compound.store import MemoryStore
    >>> from compound.workflow.graph import Workflow
    >>> def double(x: int) -> int:
    ...     return 2 * x
    >>> store = MemoryStore()
    >>> first = start(Workflow([double]), {"x": 4}, store=store)
    >>> first.output, replay(Workflow([double]), first.run_id, store=store).output
    (8, 8)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compound.errors import UserError
from compound.json_values import from_json
from compound.store.base import Store
from compound.workflow.budget import Budget
from compound.workflow.context import RunContext
from compound.workflow.engine import Engine, RunResult
from compound.workflow.graph import Workflow
from compound.workflow.state import Checkpoints, Journal, load_run
from compound.workflow.tracing import StoreSink, Tracer


def default_tracer(store: Store, **kwargs: Any) -> Tracer:
    """A tracer writing to ``store``, plus OTLP export when ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (or ``..._TRACES_ENDPOINT``) is set. Inputs and outputs are redacted (PII and secrets) by
    :class:`~compound.privacy.redactor.Redactor` unless ``redact`` is given (for the OTLP
    export: what reaches the store is redacted by the store itself, see
    :mod:`compound.store.redacting`); redaction runs on the tracer's background thread, off
    the request path."""
    import os

    if "redact" not in kwargs:
        from compound.privacy.redactor import Redactor

        kwargs["redact"] = Redactor()

    sinks: list[Any] = [StoreSink(store)]
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"):
        from compound.workflow.otlp import OTLPSink

        sinks.append(OTLPSink())
    return Tracer(*sinks, **kwargs)


def start(flow: Workflow, input: Any, *, store: Store, tracer: Tracer | None = None,
          run_id: str | None = None, budget: Budget | None = None, deps: Any = None
          ) -> RunResult:
    """Run ``flow`` with checkpoints and a trace in ``store``."""
    own = tracer is None
    tracer = tracer if tracer is not None else default_tracer(store)
    ctx = RunContext(store=store, tracer=tracer, budget=budget, deps=deps, run_id=run_id)
    try:
        return flow.run(input, ctx=ctx)
    finally:
        if own:
            tracer.close()


@dataclass
class Rerun:
    """A recorded run made ready to run again (:func:`resuming`, :func:`replaying`): its input,
    the run context (store, tracer, journal) and the engine, for a caller that wraps the
    execution, as :func:`~compound.production.rails.steps.guarded_run` does with the rails
    around the run. Closing it closes the tracer it opened.

    Attributes:
        input: the recorded run's input, as the workflow takes it.
        ctx: the context to run in (the original run id when resuming, a new one replaying).
        engine: the engine restoring checkpoints (resume) or answering from the journal
            (replay).
    """

    input: Any
    ctx: RunContext
    engine: Engine
    own_tracer: bool = False

    def execute(self, input: Any, ctx: RunContext) -> RunResult:
        """Run the engine on ``input`` in ``ctx``."""
        return self.engine.run(input, ctx)

    def close(self) -> None:
        if self.own_tracer and self.ctx.tracer is not None:
            self.ctx.tracer.close()

    def __enter__(self) -> Rerun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resuming(flow: Workflow, run_id: str, *, store: Store, tracer: Tracer | None = None,
             deps: Any = None) -> Rerun:
    """Run ``run_id`` made ready to continue from its last completed step (see
    :func:`resume`).

    Raises:
        UserError: the run completed already, or ran another workflow.
    """
    record = load_run(store, run_id)
    if record.get("status") == "completed":
        raise UserError(f"run {run_id} already completed; nothing to resume (its output is "
                        "in the store: 'compound trace' shows it)")
    if record.get("workflow") != flow.name:
        raise UserError(f"run {run_id} ran workflow '{record.get('workflow')}', not "
                        f"'{flow.name}'")
    restored = Checkpoints(store, run_id).completed()
    own = tracer is None
    tracer = tracer if tracer is not None else default_tracer(store)
    ctx = RunContext(store=store, tracer=tracer, deps=deps, run_id=run_id)
    ctx.budget.tokens = int(record.get("tokens", 0))
    ctx.journal = Journal(store, run_id, recorded=Journal.of_run(store, run_id))
    return Rerun(_input_of(flow, record), ctx, Engine(flow, restored=restored), own)


def resume(flow: Workflow, run_id: str, *, store: Store, tracer: Tracer | None = None,
           deps: Any = None) -> RunResult:
    """Continue run ``run_id`` from its last completed step (see the module docstring)."""
    with resuming(flow, run_id, store=store, tracer=tracer, deps=deps) as again:
        return again.execute(again.input, again.ctx)


def replaying(flow: Workflow, run_id: str, *, store: Store, tracer: Tracer | None = None
              ) -> Rerun:
    """Run ``run_id`` made ready to run again on its recorded model outputs (see
    :func:`replay`); the replay has a new run id and writes no record."""
    record = load_run(store, run_id)
    own = tracer is None
    tracer = tracer if tracer is not None else Tracer(StoreSink(store))
    ctx = RunContext(tracer=tracer, run_id=RunContext.new_run_id())
    ctx.journal = Journal(None, ctx.run_id, recorded=Journal.of_run(store, run_id),
                          replay=True)
    return Rerun(_input_of(flow, record), ctx, Engine(flow), own)


def replay(flow: Workflow, run_id: str, *, store: Store, tracer: Tracer | None = None
           ) -> RunResult:
    """Re-run ``flow`` on run ``run_id``'s input with its recorded model outputs."""
    with replaying(flow, run_id, store=store, tracer=tracer) as again:
        return again.execute(again.input, again.ctx)


def _input_of(flow: Workflow, record: dict[str, Any]) -> Any:
    value = record.get("input")
    return from_json(value, flow.input_type) if flow.input_type else value
