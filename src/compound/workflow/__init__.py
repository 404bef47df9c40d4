"""The runtime workflow: typed step graphs, the agent loop, state, tracing and replay.

Modules, by concept:

* :mod:`~compound.workflow.step`, :mod:`~compound.workflow.graph`: steps and the graph,
  checked when built (:mod:`~compound.type_fit` decides which types fit,
  :mod:`~compound.conditions` parses ``when``/``until`` expressions);
* :mod:`~compound.workflow.engine`: running a graph, sync or async, checkpointed and traced;
  :mod:`~compound.workflow.plan` is what it runs (steps with their wiring resolved) and
  :mod:`~compound.workflow.records` what it keeps of a run for the tracer;
* :mod:`~compound.workflow.context`: the run context handed to components;
* :mod:`~compound.workflow.agent`: the plan/act/observe loop with limits and stop reasons;
* :mod:`~compound.workflow.effects`, :mod:`~compound.workflow.state`: model and tool calls
  journaled for resume and replay; run records, checkpoints, sessions;
* :mod:`~compound.workflow.tracing`, :mod:`~compound.workflow.otlp`: spans and export;
* :mod:`~compound.workflow.adapters`, :mod:`~compound.workflow.loader`: workflows from
  `compound.yaml`, with the ``compound.steps`` extension point;
* :mod:`~compound.workflow.runs`: start, resume, replay against a store.

Names are imported on first use, so loading a spec does not load the runtime.
"""

import typing as _typing

from compound.lazy import attach as _attach

_EXPORTS: dict[str, str] = {
    "Workflow": "compound.workflow.graph",
    "WiringError": "compound.workflow.graph",
    "Step": "compound.workflow.step",
    "Loop": "compound.workflow.step",
    "RunContext": "compound.workflow.context",
    "Budget": "compound.workflow.budget",
    "RunResult": "compound.workflow.engine",
    "StepFailed": "compound.workflow.engine",
    "Agent": "compound.workflow.agent",
    "AgentResult": "compound.workflow.agent",
    "Session": "compound.workflow.state",
    "Tracer": "compound.workflow.tracing",
    "StoreSink": "compound.workflow.tracing",
    "ListSink": "compound.workflow.tracing",
    "build_workflow": "compound.workflow.loader",
    "start": "compound.workflow.runs",
    "resume": "compound.workflow.runs",
    "replay": "compound.workflow.runs",
}

__all__ = [
    "Agent",
    "AgentResult",
    "Budget",
    "ListSink",
    "Loop",
    "RunContext",
    "RunResult",
    "Session",
    "Step",
    "StepFailed",
    "StoreSink",
    "Tracer",
    "WiringError",
    "Workflow",
    "build_workflow",
    "replay",
    "resume",
    "start",
]

if _typing.TYPE_CHECKING:
    from compound.workflow.agent import Agent, AgentResult
    from compound.workflow.budget import Budget
    from compound.workflow.context import RunContext
    from compound.workflow.engine import RunResult, StepFailed
    from compound.workflow.graph import WiringError, Workflow
    from compound.workflow.loader import build_workflow
    from compound.workflow.runs import replay, resume, start
    from compound.workflow.state import Session
    from compound.workflow.step import Loop, Step
    from compound.workflow.tracing import ListSink, StoreSink, Tracer


__getattr__, __dir__ = _attach(__name__, _EXPORTS)
