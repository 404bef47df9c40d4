"""Guardrails on the request path: a system that talks to people screens what comes in,
and a rail declared for what goes out is put where the answer passes.

A rail acts on a run where a workflow step ``uses:`` it; a rail no step uses checks nothing.

* ``no-input-rail``: a served workflow of an interaction or hybrid system reaches an LLM
  with no input rail among its steps;
* ``output-rail-unused``: an output rail no step uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from compound.design_review.finding import Hit, Rule
from compound.design_review.paths import llm_steps, served, steps_using

if TYPE_CHECKING:
    from compound.production.spec import RailSpec
    from compound.system import System


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
        if any(s.uses in input_rails for s in workflow.steps):
            continue
        declared = (f"input rails {', '.join(sorted(input_rails))} are declared, but none is a "
                    "step of it" if input_rails else "no input rail is declared")
        yield Hit(("workflows", wf_name),
                  f"served workflow '{wf_name}' passes requests to LLM '{llm}' (step "
                  f"'{step.name}') unscreened: {declared}",
                  "declare an input rail (`guardrails: {injection: {type: injection, stage: "
                  "input}}`) and screen the request with a first step that `uses:` it; run the "
                  "LLM step `when: \"screen.action == 'allow'\"`")


def _output_rail_unused(system: System) -> Iterator[Hit]:
    for name, rail in system.guardrails.items():
        if "output" not in rail_stages(rail) or steps_using(system, name):
            continue
        stage = "stage " + (rail.stage or f"{'/'.join(rail_stages(rail))}, its type's default")
        yield Hit(("guardrails", name),
                  f"output rail '{name}' (type {rail.type}, {stage}) is declared, but no "
                  "workflow step uses it, so answers go out unchecked",
                  f"add a step that `uses: {name}` on the answer before it is returned (e.g. "
                  "`inputs: {text: draft.text}`) and return its checked text; or remove the "
                  "rail")


RULES = (
    Rule("no-input-rail", "error",
         "a system that talks to people screens every request before a model sees it "
         "(prompt injection, personal data, topics it must not touch)", _no_input_rail),
    Rule("output-rail-unused", "warning",
         "a rail protects only the path it is on: a declared output rail that no step uses "
         "reads as protection the system does not have", _output_rail_unused),
)
