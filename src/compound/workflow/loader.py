"""Building runnable workflows: from a `compound.yaml`, or from a Python ``module:attribute``.

A workflow built here remembers where it came from (``Workflow.source``), and the run record
keeps it, so that ``compound resume`` and ``compound replay`` can rebuild the same workflow in
another process.

Example:
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Echo.
    ... models:
    ...   llm: {kind: llm, provider: scripted, options: {replies: ["Hi there."]}}
    ... workflows:
    ...   greet:
    ...     input: {name: str}
    ...     steps:
    ...       - {name: hello, uses: llm, options: {template: "Greet {name}."}}
    ... ''')
    >>> build_workflow(system, "greet").run(name="Ada").output.text
    'Hi there.'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.specfile import did_you_mean
from compound.workflow.adapters import (
    AdapterRequest,
    OptionError,
    adapter_for,
    component_kind,
)
from compound.workflow.graph import WiringError, Workflow
from compound.workflow.spec import parse_type
from compound.workflow.step import Loop, Step

if TYPE_CHECKING:
    from compound.system import System
    from compound.workflow.spec import StepSpec


_BUILDING = "workflows:building"  # in `shared`: the workflows being built, to catch a cycle


def build_workflow(system: System, name: str, *, shared: dict[str, Any] | None = None
                   ) -> Workflow:
    """The runnable workflow ``name`` of ``system``, wired and type-checked.

    Args:
        system: the loaded spec.
        name: a workflow under ``workflows:``.
        shared: objects shared between steps (e.g. ``{"llm:llm": an LLM}`` to substitute a
            model); filled by the adapters as they build.

    Raises:
        UserError: an unknown workflow or component, or a mis-wired graph (naming the file).
    """
    if name not in system.workflows:
        raise UserError(
            f"no workflow '{name}' in {system.source or 'the spec'}"
            f"{did_you_mean(name, system.workflows)}; declared: "
            f"{', '.join(system.workflows) or 'none'}"
        )
    shared = shared if shared is not None else {}
    building: list[str] = shared.setdefault(_BUILDING, [])  # outermost first
    if name in building:
        cycle = " -> ".join([*building[building.index(name):], name])
        raise UserError(f"workflow '{name}' uses itself ({cycle}); a workflow cannot contain "
                        "itself: loop a step (loop: {max_iterations: N}) instead")
    building.append(name)
    try:
        return _build(system, name, shared)
    finally:
        building.pop()


def _build(system: System, name: str, shared: dict[str, Any]) -> Workflow:
    spec = system.workflows[name]
    input_type = None
    if spec.input:
        fields = [(field, parse_type(text, where=f"workflows.{name}.input.{field}"))
                  for field, text in spec.input.items()]
        input_type = dataclasses.make_dataclass(f"{name}_input", fields, frozen=True)
    needs = spec.effective_needs()
    steps = [_step(system, step_spec, needs[step_spec.name], shared, name)
             for step_spec in spec.steps]
    try:
        flow = Workflow(steps, name=name, input=input_type, output=spec.output,
                        description=spec.description)
    except WiringError as exc:
        raise WiringError(name, exc.problems, source=str(system.source or "<spec>")) from None
    flow.source = {"spec": str(system.source) if system.source else None, "workflow": name}
    return flow


def _step(system: System, step_spec: StepSpec, needs: list[str], shared: dict[str, Any],
          workflow: str) -> Step:
    kind, component_spec = component_kind(system, step_spec.uses)
    request = AdapterRequest(system, step_spec, step_spec.uses, kind, component_spec, shared,
                             workflow)
    target = adapter_for(kind)(request)
    if isinstance(target, Step):
        return target
    loop = None
    if step_spec.loop is not None:
        loop = Loop(step_spec.loop.max_iterations, step_spec.loop.until)
    return Step(
        target, name=step_spec.name, needs=needs, inputs=step_spec.inputs,
        when=step_spec.when, timeout_s=step_spec.timeout_s, retries=step_spec.retries,
        retry_delay_s=step_spec.retry_delay_s, loop=loop, map_over=step_spec.for_each,
        concurrency=step_spec.concurrency,
    )


def workflow_step(request: AdapterRequest) -> Workflow:
    """``uses: NAME`` of another workflow under ``workflows:``: that workflow, built with the
    same shared objects (one model per name), run as one step of this one (its input fields
    are the step's inputs; looped, an input field ``previous`` receives its last output).

    Raises:
        UserError: the workflow uses itself, directly or through others.
    """
    return build_workflow(request.system, request.component, shared=request.shared)


def build_problems(system: System, *, run_code: bool = False) -> list[str]:
    """What ``compound check`` finds beyond loading the spec, without running anything: every
    problem building the workflows would meet (each step's component and options, its
    template, the typed wiring between steps: a template field that does not flow in, a
    structured value a template cannot render), and eval prompts checked against the fields
    of their dataset file. One line per problem, ``file:line: workflows.NAME.steps[i]: ...``.

    The steps' code in the spec's folder is read, not imported (:mod:`compound.code.guard`),
    unless ``run_code``; a step whose code cannot be verified by reading is noted, and its
    workflow's wiring is left to the run.
    """
    import contextlib

    from compound.code.guard import reading_only

    context = contextlib.nullcontext() if run_code else reading_only(system.base_dir)
    with context:
        return _build_problems(system)


def _build_problems(system: System) -> list[str]:
    from compound.code.guard import UnverifiedReference, active
    from compound.orchestration.context.template_checks import dataset_template_problems
    from compound.specfile import PositionedYAML, dotted, load_yaml

    label = str(system.source or "<spec>")
    doc = PositionedYAML(data=None)
    if system.source is not None:
        doc = load_yaml(system.source.read_text(encoding="utf-8"), source=label)
    problems: list[str] = []

    def report(loc: tuple[str | int, ...], message: str) -> None:
        line = doc.line_of(loc)
        problems.append(f"{label}:{line}: {dotted(loc)}: {message}" if line
                        else f"{label}: {dotted(loc)}: {message}")

    for name, spec in system.workflows.items():
        index_of = {step.name: index for index, step in enumerate(spec.steps)}
        failed = False
        for index, step_spec in enumerate(spec.steps):
            try:
                _step(system, step_spec, [], {}, name)
            except UnverifiedReference as exc:
                failed = True  # its inputs and output are not known: the wiring is not checked
                reading = active()
                if reading is not None:
                    reading.note(("workflows", name, "steps", index, "uses"), str(exc))
            except UserError as exc:
                failed = True
                where = "template" if "template" in str(exc).split(":", 1)[0] else None
                if isinstance(exc, OptionError):  # a missing one: the line of `options:`
                    where = exc.option
                loc = ("workflows", name, "steps", index, *(("options", where) if where else ()))
                report(loc, str(exc))
            except Exception as exc:  # the user's own code failed while being imported
                failed = True
                report(("workflows", name, "steps", index, "uses"),
                       f"step '{step_spec.name}' could not be built: {type(exc).__name__}: "
                       f"{exc}; fix the component '{step_spec.uses}' so that it imports")
        if failed:
            continue
        try:
            build_workflow(system, name)
        except WiringError as exc:
            for problem in exc.problems:
                step = problem.split("'")[1] if problem.startswith("step '") else None
                loc: tuple[str | int, ...] = ("workflows", name)
                if step in index_of:
                    loc = (*loc, "steps", index_of[step])
                    if " template field " in problem:
                        loc = (*loc, "options", "template")
                report(loc, problem)
        except UserError as exc:
            report(("workflows", name), str(exc))
    for loc, message in dataset_template_problems(
        system.evals, predictors=set(system.predictors()), resolve_path=system.resolve_path
    ):
        report(loc, message)
    return problems


def load_target(target: Mapping[str, Any] | str, workflow: str | None = None, *,
                shared: dict[str, Any] | None = None) -> Workflow:
    """A workflow from where it came from: a spec path plus a workflow name, or a Python
    ``module:attribute`` naming a :class:`Workflow` or a function returning one.

    Args:
        target: a run record's ``target`` mapping, a spec path, or ``module:attribute``.
        workflow: the workflow name, for a spec path.
        shared: objects shared between the steps of a spec's workflow (as for
            :func:`build_workflow`).
    """
    if isinstance(target, str):
        from pathlib import Path

        if ":" in target and not Path(target).exists():
            target = {"python": target}
        else:
            target = {"spec": target, "workflow": workflow}
    if target.get("python"):
        return _python_workflow(str(target["python"]))
    spec_path = target.get("spec")
    if not spec_path:
        raise UserError(
            "this run's workflow was built in Python without a source, so it cannot be "
            "rebuilt here; run it with 'compound run module:attribute' (or set "
            "Workflow.source) to make it resumable from the command line"
        )
    from compound.system import System

    system = System.load(spec_path)
    name = target.get("workflow")
    if not name:
        if len(system.workflows) == 1:
            name = next(iter(system.workflows))
        else:
            raise UserError(
                f"{spec_path} declares {len(system.workflows)} workflows "
                f"({', '.join(system.workflows) or 'none'}); name the one to run"
            )
    return build_workflow(system, str(name), shared=shared)


def _python_workflow(reference: str) -> Workflow:
    import os

    from compound.code.references import resolve

    # like `python -m`, the current folder is importable (appended, as a spec's folder is)
    obj = resolve(reference, base=os.getcwd(), what="workflow")
    if not isinstance(obj, Workflow) and callable(obj):
        obj = obj()
    if not isinstance(obj, Workflow):
        raise UserError(f"{reference} is a {type(obj).__name__}, not a Workflow or a function "
                        "returning one")
    obj.source = {"python": reference}
    return obj
