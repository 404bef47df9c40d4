"""What `compound check` adds to loading a spec: it runs what loading leaves for later.

Loading a `compound.yaml` checks its types and the references between its components;
:func:`compound.workflow.loader.build_problems` builds every workflow (reading its steps'
code). This check reads the rest of the Python code the spec names (tools, eval targets and
metrics, dataset build hooks: :mod:`compound.code.references`), looks up every metric, and
matches each eval's target with what its metrics compare (:mod:`compound.evaluation.checks`).
Every problem comes back at once, each with the file, line and field.

The spec folder's own Python is read with :mod:`ast`, never imported
(:mod:`compound.code.guard`): checking a downloaded folder runs none of its code. What reading
cannot tell comes back as a note (:func:`check_all`).

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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from compound.code import guard as code_guard
from compound.code.guard import UnverifiedReference, reading_only
from compound.code.references import resolve
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


def check_problems(system: System, *, run_code: bool = False) -> list[str]:
    """The problems of a loaded spec that only show when its code runs, formatted as
    ``file:line: field: message``.

    Args:
        system: the loaded spec.
        run_code: import the spec folder's own Python (which runs it) instead of reading it
            (:mod:`compound.code.guard`); installed packages are imported either way.
    """
    from compound.evaluation.checks import metric_problems, target_problems
    from compound.plugins import conflicts_in

    with _reading(system, run_code):
        # steps' code is loaded when the workflows are built, which build_problems reports
        found: list[tuple[Location, str]] = [
            (loc, message) for loc, message in _reference_problems(system)
            if loc[0] != "workflows"
        ]
        workflows: dict[str, Any] = {}
        for name in system.workflows:
            try:
                workflows[name] = _build(system, name)
            except (UserError, UnverifiedReference):
                continue  # reported by build_problems; its eval targets cannot be typed
        found.extend(metric_problems(system))
        found.extend(target_problems(system, workflows))
    return _formatted(system, found) + conflicts_in(system.base_dir)


def check_all(system: System, *, run_code: bool = False) -> tuple[list[str], list[str]]:
    """What ``compound check`` reports: the problems (building the workflows, then
    :func:`check_problems`), and the notes on what reading the code could not verify.

    Args:
        system: the loaded spec.
        run_code: import the spec folder's own Python instead of reading it.
    """
    from compound.workflow.loader import build_problems

    with _reading(system, run_code) as reading:
        problems = (build_problems(system, run_code=run_code)
                    + check_problems(system, run_code=run_code))
    notes = _formatted(system, reading.notes) if reading is not None else []
    return problems, notes


def _reading(system: System, run_code: bool) -> Any:
    """The check's mode: the folder's code read, not imported (unless ``run_code``)."""
    if run_code:
        return contextlib.nullcontext(None)
    return reading_only(system.base_dir)


def _formatted(system: System, found: list[tuple[Location, str]]) -> list[str]:
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


def _reference_problems(system: System) -> Iterator[tuple[Location, str]]:
    """Each reference that does not import, or does not name something callable."""
    base = system.base_dir
    for ref in system.code_references():
        try:
            obj = resolve(ref.reference, base=base, what=ref.what)
        except UserError as exc:  # BadReference, or what reading the folder's code found
            yield ref.loc, str(exc)
            continue
        except UnverifiedReference as exc:
            reading = code_guard.active()
            if reading is not None:
                reading.note(ref.loc, str(exc))
            continue
        if not callable(obj):
            yield ref.loc, (
                f"{ref.what} '{ref.reference}' is a {type(obj).__name__}, not a function or a "
                "class; point it at a function"
            )
