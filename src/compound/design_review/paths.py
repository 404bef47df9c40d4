"""The request paths of a spec as the review rules read them: which workflows are served,
which steps call an LLM, and what stands in front of a step.

Example:
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Answer.
    ... models: {llm: {provider: scripted}}
    ... workflows:
    ...   answer:
    ...     steps:
    ...       - {name: draft, uses: llm}
    ... ''')
    >>> [(wf, step.name, llm) for wf, _, step, llm in llm_steps(system)]
    [('answer', 'draft', 'llm')]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compound.system import System
    from compound.workflow.spec import StepSpec, WorkflowSpec


def served(system: System) -> dict[str, WorkflowSpec]:
    """The workflows `compound serve` exposes (``serve.workflows``, every one when empty)."""
    chosen = system.serve.workflows
    return {name: wf for name, wf in system.workflows.items() if not chosen or name in chosen}


def llm_steps(system: System, workflows: dict[str, WorkflowSpec] | None = None
              ) -> Iterator[tuple[str, int, StepSpec, str]]:
    """``(workflow, index, step, llm)`` for each step that calls an LLM directly."""
    llms = system.llms()
    for wf_name, workflow in (system.workflows if workflows is None else workflows).items():
        for index, step in enumerate(workflow.steps):
            if step.uses in llms:
                yield wf_name, index, step, step.uses


def steps_using(system: System, component: str, workflows: dict[str, WorkflowSpec] | None = None
                ) -> list[tuple[str, StepSpec]]:
    """``(workflow, step)`` for each step that ``uses:`` ``component``."""
    found = system.workflows if workflows is None else workflows
    return [(name, step) for name, wf in found.items() for step in wf.steps
            if step.uses == component]


def upstream(workflow: WorkflowSpec, step: str) -> list[StepSpec]:
    """``step`` and every step it needs, directly or not."""
    needs = workflow.effective_needs()
    by_name = {s.name: s for s in workflow.steps}
    seen: list[str] = []
    todo = [step]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.append(name)
        todo.extend(needs.get(name, ()))
    return [by_name[name] for name in seen]


def gated(workflow: WorkflowSpec, step: str) -> StepSpec | None:
    """The step with a ``when:`` on the way to ``step`` (itself included), if any: a request
    that does not meet it never reaches ``step``."""
    return next((s for s in upstream(workflow, step) if s.when), None)
