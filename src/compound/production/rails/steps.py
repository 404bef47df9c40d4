"""Rails in workflows: guarding a whole run, or a rail as one step of the graph.

* :func:`guarded_run` (and :func:`aguarded_run` on the event loop) runs a workflow behind its
  guard: the input rails check each text field of the input before any step runs (redacted
  fields go on redacted; a block or an escalation stops the run before a model sees
  anything), then the output rails check the answer, with the passages retrieval steps
  returned, before it is handed back. Every verdict is traced in the run's trace, and a run
  record in the context's store keeps the decision (``guard``) and the checked output. A run
  the rails *escalate* goes to the human review queue when one is given (``review``): the
  input or the answer that escalated, the rails' reasons and the run id, as any escalation
  (:class:`~compound.strategy.review.ReviewQueue`); the decision then names the item
  (``review_id``). The run itself is the workflow's by default; resuming or replaying a
  recorded run passes its engine (``execute``, from :func:`~compound.workflow.runs.resuming`
  or :func:`~compound.workflow.runs.replaying`), so every way of running goes through here.
* :func:`run_guard` is the guard of one workflow of a spec: the rails that guard it
  (``workflows:``, all by default) *and that no step of it uses*. A rail a step ``uses:``
  screens the value that step is given, and only there: it is not run a second time around
  the run. Serving, ``compound run``, ``resume`` and ``replay``, and workflow eval targets
  all run workflows through it, so an eval measures what is served.
* :func:`rail_step` is the ``rail`` adapter of the ``compound.steps`` entry point group: a
  step ``uses:`` a rail and outputs its :class:`GuardResult`, so that later steps can read
  ``check.text`` (redacted) or run ``when: "check.allowed"``.

Example:
    >>> from compound.workflow.graph import Workflow
    >>> from compound.production.rails.engine import Guard
    >>> from compound.production.rails.pii import PIIRail
    >>> def answer(question: str) -> str:
    ...     return f"You asked: {question}"
    >>> run = guarded_run(Workflow([answer]), {"question": "is ada@example.com mine?"},
    ...                   Guard([PIIRail()]))
    >>> run.output, run.action
    ('You asked: is <EMAIL_ADDRESS> mine?', 'redact')
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compound.production.rails.verdict import Action, GuardResult, RailInput, most_severe
from compound.workflow.context import RunContext  # at run time: steps read the annotations

if TYPE_CHECKING:
    from compound.production.rails.engine import Guard
    from compound.store import Store
    from compound.strategy.review import ReviewQueue
    from compound.system import System
    from compound.workflow.adapters import AdapterRequest
    from compound.workflow.engine import RunResult
    from compound.workflow.graph import Workflow


@dataclass(frozen=True)
class GuardedRun:
    """A run behind a guard.

    Attributes:
        output: the checked (possibly redacted) answer; None when the run was stopped.
        action: the most severe decision over input and output.
        input_checks: the input rails' result per checked input field.
        output_check: the output rails' result (None when the run never started).
        run: the workflow's run (None when the input rails stopped it).
        review_id: the review queue's item for an escalated run (None when not queued).
    """

    output: Any
    action: Action
    input_checks: dict[str, GuardResult]
    output_check: GuardResult | None
    run: RunResult | None
    review_id: int | None = None

    @property
    def allowed(self) -> bool:
        return self.action in ("allow", "redact")

    @property
    def reasons(self) -> list[str]:
        checks = [*self.input_checks.values(), *([self.output_check] if self.output_check
                                                 else [])]
        return [reason for check in checks for reason in check.reasons]

    def summary(self) -> dict[str, Any]:
        """The decision as a response and a run record report it: ``{"action", "reasons"}``,
        and ``review_id`` when the run was queued for review."""
        found: dict[str, Any] = {"action": self.action, "reasons": self.reasons}
        if self.review_id is not None:
            found["review_id"] = self.review_id
        return found


def rails_around(system: System, workflow: str) -> list[str]:
    """The rails that guard ``workflow``'s whole run: those whose ``workflows:`` name it (or
    that name none) and that no step of it ``uses:``."""
    used = {step.uses for step in system.workflows[workflow].steps}
    return [name for name, spec in system.guardrails.items()
            if spec.guards(workflow) and name not in used]


def run_guard(system: System, workflow: str, *, store: Store | None = None,
              shared: dict[str, Any] | None = None) -> Guard | None:
    """The guard around every run of ``workflow`` (:func:`rails_around`), or None when no rail
    guards it that way. Nothing is loaded yet.

    Args:
        system: the loaded spec.
        workflow: a workflow under ``workflows:``.
        store: where rails keep their models (the system's store, opened on first use, when
            None).
        shared: objects shared with the workflow's steps (one LLM object per model name).
    """
    from compound.production.rails.engine import Guard

    names = rails_around(system, workflow)
    if not names:
        return None
    return Guard.from_system(system, workflow=workflow, store=store, names=names, shared=shared)


def guarded_run(flow: Workflow, input: Any, guard: Guard, *, ctx: RunContext | None = None,
                execute: Callable[[Any, RunContext], RunResult] | None = None,
                review: ReviewQueue | None = None) -> GuardedRun:
    """Run ``flow`` on ``input`` with ``guard``'s input rails before and output rails after.

    Args:
        flow: the workflow.
        input: its input (a mapping, a dataclass, or a string for a one-field input).
        guard: the rails (:func:`run_guard`, or ``Guard.from_system(system, workflow=name)``).
        ctx: the run context (a tracer there records the verdicts in the run's trace; a store
            there keeps the decision in the run's record).
        execute: runs the workflow on the checked input (``flow.run`` by default; a
            :class:`~compound.workflow.runs.Rerun`'s ``execute`` resumes or replays).
        review: where an escalated run goes for a person's decision (not queued when None).
    """
    ctx = _run_context(ctx)
    fields = _text_fields(input)
    checks = {field: guard.check(RailInput(text, stage="input"), ctx=ctx)
              for field, text in fields.items()}
    guarded = _stopped(checks)
    if guarded is None:
        run = (execute or _flow_run(flow))(_replace_fields(input, _changed(checks, fields)), ctx)
        subject = _answer_subject(run, fields)
        answer = None if subject is None else guard.check(subject, ctx=ctx)
        guarded = _finished(run, checks, answer)
    return _settle(flow, input, guarded, ctx, review)


async def aguarded_run(flow: Workflow, input: Any, guard: Guard, *,
                       ctx: RunContext | None = None, review: ReviewQueue | None = None
                       ) -> GuardedRun:
    """:func:`guarded_run` on the event loop: the rails run on the guard's threads, the
    workflow with :meth:`~compound.workflow.graph.Workflow.arun`, and what is written to the
    store (the decision, a review item) on a thread."""
    ctx = _run_context(ctx)
    fields = _text_fields(input)
    checks = {field: await guard.acheck(RailInput(text, stage="input"), ctx=ctx)
              for field, text in fields.items()}
    guarded = _stopped(checks)
    if guarded is None:
        run = await flow.arun(_replace_fields(input, _changed(checks, fields)), ctx=ctx)
        subject = _answer_subject(run, fields)
        answer = None if subject is None else await guard.acheck(subject, ctx=ctx)
        guarded = _finished(run, checks, answer)
    queued = guarded.action == "escalate" and review is not None
    if guarded.action == "allow" or (ctx.store is None and not queued):
        return guarded  # nothing to write: stay on the loop
    return await asyncio.to_thread(_settle, flow, input, guarded, ctx, review)


def _flow_run(flow: Workflow) -> Callable[[Any, RunContext], RunResult]:
    def run(input: Any, ctx: RunContext) -> RunResult:
        return flow.run(input, ctx=ctx)
    return run


def _run_context(ctx: RunContext | None) -> RunContext:
    ctx = ctx if ctx is not None else RunContext()
    if not ctx.run_id:
        ctx.run_id = RunContext.new_run_id()
    return ctx


def _changed(checks: Mapping[str, GuardResult], fields: Mapping[str, str]) -> dict[str, str]:
    return {f: c.text for f, c in checks.items() if c.text != fields[f]}


def _stopped(checks: dict[str, GuardResult]) -> GuardedRun | None:
    """The run stopped by its input rails, or None when they let it start."""
    action = most_severe(c.action for c in checks.values())
    if action not in ("block", "escalate"):
        return None
    return GuardedRun(None, action, checks, None, None)


def _answer_subject(run: RunResult, fields: Mapping[str, str]) -> RailInput | None:
    text = output_text(run.output)
    if text is None:
        return None
    return RailInput(text, stage="output", documents=tuple(documents_of(run)),
                     data=getattr(run.output, "data", None),
                     prompt=next(iter(fields.values()), None))


def _finished(run: RunResult, checks: dict[str, GuardResult], answer: GuardResult | None
              ) -> GuardedRun:
    action = most_severe([*(c.action for c in checks.values()),
                          *([answer.action] if answer is not None else [])])
    if answer is None:
        output = run.output
    elif not answer.allowed:
        output = None
    elif answer.action == "allow":
        output = run.output
    else:
        output = _with_text(run.output, answer.text)
    return GuardedRun(output, action, checks, answer, run)


def _settle(flow: Workflow, input: Any, guarded: GuardedRun, ctx: RunContext,
            review: ReviewQueue | None) -> GuardedRun:
    """Queue an escalated run for review, and keep the decision in the run's record."""
    if guarded.action == "escalate" and review is not None:
        guarded = dataclasses.replace(guarded, review_id=_submit(flow, input, guarded, ctx,
                                                                 review))
    if ctx.store is None or guarded.action == "allow":
        return guarded
    from compound.workflow.state import RUNS

    if guarded.run is None:  # stopped before any step: the record is the guard's to write
        import time

        now = time.time()
        ctx.store.put(RUNS, ctx.run_id, {
            "workflow": flow.name, "target": flow.source, "status": "completed",
            "input": _plain(input, "the input"), "output": None,
            "guard": guarded.summary(), "started": now, "ended": now, "tokens": 0,
            "cost_usd": 0.0})
        return guarded
    # the engine recorded the output the workflow made; keep the one the user got
    record = ctx.store.get(RUNS, guarded.run.run_id)
    if record is not None:
        ctx.store.put(RUNS, guarded.run.run_id, {
            **record, "output": _plain(guarded.output, "the output"),
            "guard": guarded.summary()})
    return guarded


def _submit(flow: Workflow, input: Any, guarded: GuardedRun, ctx: RunContext,
            review: ReviewQueue) -> int:
    """Put an escalated run in the review queue: the request (as the input rails let it
    through, redacted), the answer that escalated (for the reviewer to approve or correct),
    the escalating rails' reasons and the run id. The queue's store redacts the item as it
    redacts any record."""
    checks = dict(guarded.input_checks)
    request = _replace_fields(input, {f: c.text for f, c in checks.items() if c.allowed})
    at_output = guarded.run is not None and guarded.output_check is not None
    stage = "output" if at_output else "input"
    results = [guarded.output_check] if at_output else list(checks.values())
    escalating = [v for r in results if r is not None for v in r.verdicts
                  if v.action == "escalate"]
    proposed = guarded.output_check.text if at_output and guarded.output_check else None
    item = review.submit(
        _plain(request, "the input"), proposed=proposed,
        reason="flagged: " + "; ".join(f"{v.rail}: {v.reason}" for v in escalating),
        source=flow.name, run_id=ctx.run_id or None,
        context={"stage": stage, "workflow": flow.name,
                 "rails": [v.rail for v in escalating]})
    return item.id


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON for a run record (its repr when it is not JSON)."""
    from compound.json_values import NotJSONError, to_json

    try:
        return to_json(value, where=where)
    except (NotJSONError, TypeError):
        return repr(value)[:2000]


def output_text(value: Any) -> str | None:
    """The text of a workflow's output: a string, or an object's ``text``/``answer`` field."""
    if isinstance(value, str):
        return value
    for name in ("text", "answer", "content"):
        found = value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
        if isinstance(found, str):
            return found
    return None


def documents_of(run: RunResult) -> list[str]:
    """The passages retrieval steps of a run returned (search results, lists of hits)."""
    found: list[str] = []
    for value in run.outputs.values():
        hits = getattr(value, "hits", value)
        if isinstance(hits, list | tuple):
            found += [h.text for h in hits if isinstance(getattr(h, "text", None), str)
                      and hasattr(h, "doc_id")]
    return found


def _text_fields(input: Any) -> dict[str, str]:
    if isinstance(input, str):
        return {"input": input}
    if isinstance(input, Mapping):
        return {k: v for k, v in input.items() if isinstance(v, str)}
    if dataclasses.is_dataclass(input) and not isinstance(input, type):
        return {f.name: getattr(input, f.name) for f in dataclasses.fields(input)
                if isinstance(getattr(input, f.name), str)}
    return {}


def _replace_fields(input: Any, changed: Mapping[str, str]) -> Any:
    if not changed:
        return input
    if isinstance(input, str):
        return changed["input"]
    if isinstance(input, Mapping):
        return {**input, **changed}
    return dataclasses.replace(input, **changed)


def _with_text(value: Any, text: str) -> Any:
    if isinstance(value, str):
        return text
    for name in ("text", "answer", "content"):
        if isinstance(value, Mapping) and isinstance(value.get(name), str):
            return {**value, name: text}
        if dataclasses.is_dataclass(value) and isinstance(getattr(value, name, None), str):
            return dataclasses.replace(value, **{name: text})  # type: ignore[type-var]
    return text


class RailStep:
    """One rail as a workflow step: ``run(text, documents) -> GuardResult``.

    Args:
        guard: a guard holding the rail (for its time limit, failure handling and trace).
        stage: the stage the text is checked at.
    """

    def __init__(self, guard: Guard, *, stage: str = "input") -> None:
        self.guard = guard
        self.stage = stage

    def run(self, text: str, documents: list[str] | None = None,
            ctx: RunContext | None = None) -> GuardResult:
        subject = RailInput(text, stage="output" if self.stage == "output" else "input",
                            documents=tuple(documents or ()))
        return self.guard.check(subject, ctx=ctx, rails=self.guard.rails)


def rail_step(request: AdapterRequest) -> RailStep:
    """The ``rail`` step adapter: a step using a rail checks its ``text`` input."""
    from compound.errors import UserError
    from compound.production.rails.base import RailRequest, build_rail
    from compound.production.rails.engine import Guard

    options = dict(request.step.options)
    stage = options.pop("stage", None)
    if options:
        raise UserError(f"step '{request.step.name}': options {sorted(options)} are not rail "
                        "step options; allowed: stage")
    rail = build_rail(RailRequest(request.component, request.spec, request.system,
                                  shared=request.shared))
    if stage is None:
        stage = rail.stages[0]
    if stage not in ("input", "output"):
        raise UserError(f"step '{request.step.name}': stage must be input or output; "
                        f"received {stage!r}")
    return RailStep(Guard([rail]), stage=stage)
