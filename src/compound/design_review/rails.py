"""Guardrails on the request path: a system that talks to people screens what comes in,
and a rail declared for what goes out is put where the answer passes.

A rail acts on a workflow in one of two ways: a step ``uses:`` it (and the workflow branches
on its verdict), or it guards the whole run (input rails before, output rails after) when it
guards the workflow (its ``workflows:``, every one when empty) and no step of it uses it.

* ``no-input-rail``: a served workflow of an interaction or hybrid system reaches an LLM
  with no input rail acting on it;
* ``output-rail-unused``: an output rail that acts on no served workflow (its ``workflows:``
  names only workflows that are not served, and no served step uses it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from compound.design_review.finding import Hit, Rule
from compound.design_review.paths import llm_steps, served

if TYPE_CHECKING:
    from compound.production.spec import RailSpec
    from compound.system import System
    from compound.workflow.spec import WorkflowSpec


def rail_stages(rail: RailSpec) -> tuple[str, ...]:
    """Where a rail runs: its ``stage:``, else its type's default stages.

    Example:
        >>> from compound.production.spec import RailSpec
        >>> rail_stages(RailSpec(type="pii")), rail_stages(RailSpec(type="pii", stage="input"))
        (('input', 'output'), ('input',))
    """
    stages = rail.stages()
    if stages is not None:
        return stages
    from compound.errors import UserError
    from compound.plugins import load

    try:
        return tuple(load("compound.rails", rail.type).default_stages)
    except (UserError, AttributeError):
        return ("input",)  # a rail's default (compound.production.rails.base.BaseRail)


def acts_on(name: str, rail: RailSpec, wf_name: str, workflow: WorkflowSpec) -> bool:
    """Whether rail ``name`` checks runs of ``workflow``: as a step, or around the run."""
    return rail.guards(wf_name) or any(step.uses == name for step in workflow.steps)


def _no_input_rail(system: System) -> Iterator[Hit]:
    if system.loop not in ("interaction", "hybrid"):
        return
    input_rails = {name for name, rail in system.guardrails.items()
                   if "input" in rail_stages(rail)}
    reported: set[str] = set()
    for wf_name, _, step, llm in llm_steps(system, served(system)):
        if wf_name in reported:
            continue
        reported.add(wf_name)
        workflow = system.workflows[wf_name]
        if any(acts_on(name, system.guardrails[name], wf_name, workflow)
               for name in input_rails):
            continue
        declared = (f"input rails {', '.join(sorted(input_rails))} are declared, but none "
                    "guards it (their `workflows:` leave it out) or is a step of it"
                    if input_rails else "no input rail is declared")
        yield Hit(("workflows", wf_name),
                  f"served workflow '{wf_name}' passes requests to LLM '{llm}' (step "
                  f"'{step.name}') unscreened: {declared}",
                  "declare an input rail (`guardrails: {injection: {type: injection, stage: "
                  "input}}`): it guards every workflow's runs unless its `workflows:` says "
                  "otherwise; or screen the request with a first step that `uses:` it and run "
                  "the LLM step `when: \"screen.action == 'allow'\"`")


def _output_rail_unused(system: System) -> Iterator[Hit]:
    workflows = served(system)
    for name, rail in system.guardrails.items():
        if "output" not in rail_stages(rail) or any(
                acts_on(name, rail, wf_name, wf) for wf_name, wf in workflows.items()):
            continue
        stage = "stage " + (rail.stage or f"{'/'.join(rail_stages(rail))}, its type's default")
        where = ", ".join(rail.workflows)
        yield Hit(("guardrails", name),
                  f"output rail '{name}' (type {rail.type}, {stage}) guards only workflows "
                  f"that are not served ({where}) and no served step uses it, so served answers "
                  "go out unchecked",
                  f"add the served workflows to guardrails.{name}.workflows (or leave "
                  "`workflows:` out: every workflow), or remove the rail")


RULES = (
    Rule("no-input-rail", "error",
         "a system that talks to people screens every request before a model sees it "
         "(prompt injection, personal data, topics it must not touch)", _no_input_rail),
    Rule("output-rail-unused", "warning",
         "a rail protects only the runs it guards: a declared output rail that guards no "
         "served workflow reads as protection the system does not have", _output_rail_unused),
)
