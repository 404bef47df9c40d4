"""Checking a spec's templates before anything runs: each parses, and each field names
something that flows into it.

* :func:`template_problems` runs whenever a spec is loaded (it reads no files): the syntax of
  every LLM step's ``template``, every eval target's ``prompt`` and every confidence router's
  ``template``; an eval prompt's fields against the dataset's declared ``inputs``; a router
  template's fields against its one field, ``{input}``.
* :func:`dataset_template_problems` is for ``compound check``: an eval prompt whose dataset
  declares no ``inputs`` is checked against the fields of the dataset file's first row.

What flows into a workflow step's template (an earlier step, its fields, the workflow's input)
depends on the steps' types, so it is checked when the workflow is built (see
:func:`compound.workflow.loader.workflow_problems`).

Example:
    >>> from compound.system import System
    >>> System.from_yaml('''
    ... name: faq
    ... loop: interaction
    ... task: Answer.
    ... evals:
    ...   qa:
    ...     dataset: {path: qa.jsonl, inputs: [question], expected: answer}
    ...     target: {prompt: "Q: {questoin}"}
    ... ''')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compound.errors.SpecError: <spec>: invalid system spec (1 problem):
      - <spec>:8: evals.qa.target.prompt: the prompt uses '{questoin}'...(did you mean...
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.orchestration.context.template import Template, TemplateError
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.evaluation.spec import EvalSpec
    from compound.workflow.spec import WorkflowSpec

Loc = tuple[str | int, ...]


def template_problems(
    *, workflows: Mapping[str, WorkflowSpec], evals: Mapping[str, EvalSpec],
    routers: Mapping[str, Any], llms: Collection[str], predictors: Collection[str],
) -> Iterator[tuple[Loc, str]]:
    """Template problems found from the spec alone, with where each is in the spec.

    Args:
        workflows, evals, routers: the spec's sections of those names.
        llms, predictors: the names of the declared LLMs and predictors.
    """
    for wf_name, workflow in workflows.items():
        for index, step in enumerate(workflow.steps):
            template = step.options.get("template")
            if step.uses in llms and template is not None:
                loc: Loc = ("workflows", wf_name, "steps", index, "options", "template")
                yield from _syntax(loc, template, f"step '{step.name}' template")
    for name, spec in evals.items():
        if spec.target.kind != "model" or spec.target.model in predictors:
            continue  # a predictor target has no prompt: its features are the inputs
        loc = ("evals", name, "target", "prompt")
        parsed = yield from _syntax(loc, spec.target.prompt, "the prompt")
        if parsed is not None:
            inputs = declared_inputs(spec)
            if inputs is not None:
                yield from _fields(loc, parsed, inputs, "the dataset's inputs", "the prompt")
    for name, router in routers.items():
        template = getattr(router, "template", None)
        if isinstance(template, str):
            loc = ("strategy", "routers", name, "template")
            parsed = yield from _syntax(loc, template, "the router's template")
            if parsed is not None:
                yield from _fields(loc, parsed, ["input"], "the fields of a router's template",
                                   "the template")


def dataset_template_problems(
    evals: Mapping[str, EvalSpec], *, predictors: Collection[str],
    resolve_path: Callable[[str], Path],
) -> Iterator[tuple[Loc, str]]:
    """Eval prompts checked against the first row of their dataset file, for the evals whose
    dataset declares no ``inputs`` (a missing or unreadable file is left to ``eval``).

    Args:
        evals: the spec's evals.
        predictors: the names of the declared predictors (their targets have no prompt).
        resolve_path: the spec's paths to files (``System.resolve_path``).
    """
    for name, spec in evals.items():
        if (spec.target.kind != "model" or spec.target.model in predictors
                or declared_inputs(spec) is not None):
            continue
        fields = _first_row_fields(resolve_path, spec)
        if fields is None:
            continue
        skip = {spec.dataset.id, spec.dataset.split_field, spec.dataset.expected}
        inputs = [f for f in fields if f not in skip]
        try:
            parsed = Template.parse(spec.target.prompt)
        except TemplateError:
            continue  # reported by template_problems
        yield from _fields(("evals", name, "target", "prompt"), parsed, inputs,
                           f"the fields of {spec.dataset.path}", "the prompt")


def declared_inputs(spec: EvalSpec) -> list[str] | None:
    """The names an eval's target receives, when the dataset declares them."""
    inputs = spec.dataset.inputs
    if inputs is None:
        return None
    return list(inputs)


def _syntax(loc: Loc, source: object, where: str
            ) -> Generator[tuple[Loc, str], None, Template | None]:
    """Yield the syntax problem of ``source``, if any; return the parsed template or None."""
    if not isinstance(source, str):
        yield loc, f"{where} must be text; received {type(source).__name__}"
        return None
    try:
        return Template.parse(source, where=where)
    except TemplateError as exc:
        yield loc, str(exc)
        return None


def _fields(loc: Loc, template: Template, available: Sequence[str], what: str, noun: str
            ) -> Iterator[tuple[Loc, str]]:
    for name in template.fields:
        if name not in available:
            yield loc, (
                f"{noun} uses '{{{name}}}', which is not among {what}"
                f"{did_you_mean(name, available)}; the fields that flow in: "
                f"{', '.join(available) or 'none'}. Use one of them, or pass the field "
                "(e.g. list it under dataset.inputs); write '{{' for a literal brace"
            )


def _first_row_fields(resolve_path: Callable[[str], Path], spec: EvalSpec
                      ) -> list[str] | None:
    path_text = spec.dataset.path
    if path_text.startswith("store:"):
        return None
    try:
        path = resolve_path(path_text)
    except Exception:  # an unknown shared dataset: the eval itself says so
        return None
    if not path.is_file():
        return None
    fmt = spec.dataset.format
    if fmt == "auto":
        fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if fmt == "csv":
                return list(next(csv.reader(handle), []))
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    return list(row) if isinstance(row, dict) else None
    except (OSError, ValueError, RecursionError, csv.Error):  # not JSON, too deep, bad CSV
        return None
    return None
