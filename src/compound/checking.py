"""What `compound check` adds to loading a spec: it runs what loading leaves for later.

Loading a `compound.yaml` checks its types and the references between its components;
:func:`compound.workflow.loader.build_problems` builds every workflow (importing its steps'
code). This check imports the rest of the Python code the spec names (tools, eval targets and
metrics, dataset build hooks: :mod:`compound.code_references`), looks up every metric, and
matches each eval's target with what its metrics compare (:mod:`compound.evaluation.checks`).
Every problem comes back at once, each with the file, line and field.

Example:
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Answer.
    ... models:
    ...   llm: {provider: scripted}
    ... evals:
    ...   qa:
    ...     dataset: {path: qa.jsonl, expected: answer}
    ...     metrics: [acuracy]
    ... ''')
    >>> print(check_problems(system)[0].split(";")[0])
    <spec>: evals.qa.metrics[0]: eval 'qa': no metric named 'acuracy' (did you mean 'accuracy'?)
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from compound.errors import SpecError, UserError
from compound.specfile import PositionedYAML, dotted, load_yaml

if TYPE_CHECKING:
    from compound.system import System

Location = tuple[str | int, ...]


def check_system(system: System) -> None:
    """Raise every problem :func:`check_problems` finds, at once.

    Raises:
        SpecError: one line per problem, with file, line and field.
    """
    problems = check_problems(system)
    if problems:
        raise SpecError(problems, path=str(system.source) if system.source else None)


def check_problems(system: System) -> list[str]:
    """The problems of a loaded spec that only show when its code runs, formatted as
    ``file:line: field: message``."""
    from compound.code_references import reference_problems
    from compound.evaluation.checks import metric_problems, target_problems

    # steps' code is imported when the workflows are built, which build_problems reports
    found: list[tuple[Location, str]] = [
        (loc, message) for loc, message in reference_problems(system) if loc[0] != "workflows"
    ]
    workflows: dict[str, Any] = {}
    for name in system.workflows:
        try:
            workflows[name] = _build(system, name)
        except UserError:
            continue  # reported by build_problems; its eval targets cannot be typed
    found.extend(metric_problems(system))
    found.extend(target_problems(system, workflows))
    label = str(system.source) if system.source else "<spec>"
    doc = PositionedYAML(data=None)
    if system.source is not None:
        with contextlib.suppress(OSError, UserError):  # then problems come without lines
            doc = load_yaml(system.source.read_text(encoding="utf-8"), source=label)
    lines = [(doc.line_of(loc), dotted(loc), message) for loc, message in found]
    return [f"{label}:{line}: {where}: {message}" if line else f"{label}: {where}: {message}"
            for line, where, message in lines]


def _build(system: System, name: str) -> Any:
    """The workflow built as a run would build it, with scripted stand-ins for its LLMs (so
    checking needs no model weights and no API key)."""
    from compound.intelligence.llm import ScriptedLLM
    from compound.workflow.loader import build_workflow

    shared: dict[str, Any] = {f"llm:{llm}": ScriptedLLM([]) for llm in system.llms()}
    return build_workflow(system, name, shared=shared)
