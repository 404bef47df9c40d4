"""`compound init` and `compound check`: the system spec (steps 1 and 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.console import console, console_err, styled

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]

@app.command()
def init(
    folder: Annotated[Path, typer.Argument(
        help="the new system's folder (created); its name is the system's name",
        show_default=False)],
    loop: Annotated[
        str, typer.Option(help="interaction (LLM-centred), prediction (ML) or hybrid")
    ] = "interaction",
    name: Annotated[
        str | None, typer.Option(help="the system's name; default: the folder's name")
    ] = None,
) -> None:
    """Create a new system: FOLDER/compound.yaml, commented, with example documents and data.

    `compound up FOLDER --no-serve` passes as generated, with the embedded LLM (no API key,
    no download); then replace the example documents and data with your own. An existing
    folder that holds files is never touched.
    """
    from rich.text import Text

    from compound.scaffolds import FIRST_REQUEST, create

    made = create(folder, loop=loop, name=name)
    console.print(Text.assemble("created ", (str(made.folder), "bold"),
                                f" ({made.loop} system '{made.name}'):"))
    for path in made.files:
        console.print(f"  {path.relative_to(made.folder)}", markup=False)
    workflow, example = FIRST_REQUEST[made.loop]
    console.print(f"next:\n  compound up {made.folder} --no-serve    train/index, evaluate, "
                  f"scorecard\n  compound run {made.folder} {workflow} -i '{example}'",
                  markup=False)


@app.command()
def check(
    spec: SPEC_ARG,
    run_code: Annotated[bool, typer.Option(
        "--import",
        help="import the Python files in the spec's folder for deeper checks: this RUNS "
             "that code, as 'compound run' does; use it only on code you trust")] = False,
    review: Annotated[bool, typer.Option(
        "--review",
        help="also review the design against the framework's principles: each finding with "
             "where it is, why it matters and the fix")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict",
        help="with --review (implied): exit 1 on any finding the spec does not silence, "
             "for CI")] = False,
) -> None:
    """Validate a compound.yaml: types, references between components, cycles, templates,
    the typed wiring of each workflow (built, not run), the Python code it names, metric
    names, and each eval's target against what its metrics compare.

    The Python files in the spec's folder are read, never run (like a linter), so checking a
    downloaded system is safe; installed packages it names are imported. What only running
    the code can tell is shown as a note.

    --review adds the design review (docs/design_review.md): an LLM doing a classifier's
    job, missing rails, fallbacks, timeouts and budgets, criteria without an eval or with too
    few rows, a trained model without a feedback path, a latency target with nothing in front
    of the LLM. A spec accepts a finding under 'design_review: {silence: {ID: reason}}'.
    """
    from rich.table import Table

    from compound.checking import check_all
    from compound.errors import SpecError
    from compound.evaluation.gates import declared_direction
    from compound.loop_defaults import default_criteria
    from compound.system import System

    system = System.load(spec)
    problems, notes = check_all(system, run_code=run_code)
    for note in notes:
        console_err.print(f"note: {note}", markup=False, highlight=False)
    if problems:
        raise SpecError(problems, path=str(system.source))
    table = Table(title=f"{system.name} ({system.loop})", title_justify="left")
    table.add_column("section")
    table.add_column("name")
    table.add_column("what")
    for name, criterion in system.criteria.items():
        op = ">=" if declared_direction(system, name) == "higher" else "<="
        tol = f" (tolerance {criterion.tolerance:g})" if criterion.tolerance else ""
        rule = f"{criterion.metric or name} {op} {criterion.threshold:g}{tol}"
        table.add_row("criteria", name, rule)
    for default in default_criteria(system):
        table.add_row("default criteria", default.component,
                      f"{default.name} {default.rule} ({default.where})")
    for name, model in system.models.items():
        what = (
            f"llm via {model.provider}" if model.kind == "llm" else f"predictor: {model.task}"
        )
        table.add_row("models", name, what)
    for section in ("retrievers", "tools", "guardrails", "workflows"):
        for name in getattr(system, section):
            table.add_row(section, name, "")
    console.print(table)
    console.print(styled("[green]ok[/]: {source} is a valid {loop} system",
                         source=system.source, loop=system.loop))
    if review or strict:
        from compound.cli.design_review import print_review
        from compound.design_review import review as design_review

        found = design_review(system)
        print_review(console, found)
        if strict and found.open:
            raise typer.Exit(1)
