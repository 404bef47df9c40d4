"""Rails in workflows: guarding a whole run, or a rail as one step of the graph.

* :func:`guarded_run` runs a workflow behind its guard: the input rails check each text
  field of the input before any step runs (redacted fields go on redacted; a block or an
  escalation stops the run before a model sees anything), then the output rails check the
  answer, with the passages retrieval steps returned, before it is handed back. Every verdict
  is traced in the run's trace.
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

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compound.production.rails.verdict import Action, GuardResult, RailInput, most_severe
from compound.workflow.context import RunContext  # at run time: steps read the annotations

if TYPE_CHECKING:
    from compound.production.rails.engine import Guard
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
    """

    output: Any
    action: Action
    input_checks: dict[str, GuardResult]
    output_check: GuardResult | None
    run: RunResult | None

    @property
    def allowed(self) -> bool:
        return self.action in ("allow", "redact")

    @property
    def reasons(self) -> list[str]:
        checks = [*self.input_checks.values(), *([self.output_check] if self.output_check
                                                 else [])]
        return [reason for check in checks for reason in check.reasons]


def guarded_run(flow: Workflow, input: Any, guard: Guard, *, ctx: RunContext | None = None
                ) -> GuardedRun:
    """Run ``flow`` on ``input`` with ``guard``'s input rails before and output rails after.

    Args:
        flow: the workflow.
        input: its input (a mapping, a dataclass, or a string for a one-field input).
        guard: the rails (``Guard.from_system(system, workflow=name)``).
        ctx: the run context (a tracer there records the verdicts in the run's trace).
    """
    ctx = ctx if ctx is not None else RunContext()
    if not ctx.run_id:
        ctx.run_id = RunContext.new_run_id()
    checks: dict[str, GuardResult] = {}
    fields = _text_fields(input)
    for field, text in fields.items():
        checks[field] = guard.check(RailInput(text, stage="input"), ctx=ctx)
    action = most_severe(c.action for c in checks.values())
    if action in ("block", "escalate"):
        return GuardedRun(None, action, checks, None, None)
    changed = {f: c.text for f, c in checks.items() if c.text != fields[f]}
    run = flow.run(_replace_fields(input, changed), ctx=ctx)
    text = output_text(run.output)
    if text is None:
        return GuardedRun(run.output, action, checks, None, run)
    answer = guard.check(RailInput(text, stage="output", documents=tuple(documents_of(run)),
                                   data=getattr(run.output, "data", None),
                                   prompt=next(iter(fields.values()), None)), ctx=ctx)
    action = most_severe([action, answer.action])
    if not answer.allowed:
        return GuardedRun(None, action, checks, answer, run)
    output = run.output if answer.text == text else _with_text(run.output, answer.text)
    return GuardedRun(output, action, checks, answer, run)


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
