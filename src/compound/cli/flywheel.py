"""`compound improve` and `compound export`: the flywheel, from the signals in the store.

Exit codes: 0 a candidate was promoted, or there was nothing to do; 1 a candidate was refused
by the gate (the checks say why); 2 a user error (bad spec, unknown model, bad option).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.cli.scale import ON_OPTION, fanned_out
from compound.console import console, console_err, plain

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]


@app.command()
def improve(
    spec: SPEC_ARG,
    models: Annotated[
        list[str] | None,
        typer.Argument(help="the predictors and LLM steps' prompts (WORKFLOW.STEP) to improve; "
                            "every one with signals when omitted", show_default=False),
    ] = None,
    llm: Annotated[
        bool, typer.Option("--llm", help="only LLM steps' prompts")
    ] = False,
    ml: Annotated[
        bool, typer.Option("--ml", help="only trained models")
    ] = False,
    budget: Annotated[
        int, typer.Option(help="the most model calls the prompt optimiser makes, for all the "
                               "prompts together (stated before the first)", min=1)
    ] = 200,
    min_gain: Annotated[
        float, typer.Option(help="how much the candidate's primary metric must beat "
                                 "production's by (0: not worse; a prompt must do better)",
                            min=0.0)
    ] = 0.0,
    force: Annotated[
        bool, typer.Option(help="retrain even on corrections a version was already trained on")
    ] = False,
    on: ON_OPTION = None,
) -> None:
    """Retrain the trained models that users' corrections and review resolutions touch, and
    optimise the prompts of the LLM steps whose answers users edited, accepted or reviewers
    resolved (few-shot examples and instruction variants, chosen on dev rows within --budget
    model calls); promote each candidate that beats production on held-out rows under the
    spec's criteria (with --on ray, a cross-fitted model's folds are fitted in parallel as Ray
    tasks)."""
    from compound.errors import UserError
    from compound.intelligence.ml.report import gate_table
    from compound.lifecycle.improve import (
        ImproveReport,
        before_after_table,
        origins_text,
        skipped_table,
    )
    from compound.lifecycle.improve import improve as improve_system
    from compound.lifecycle.prompt_opt import improve_prompts, prompts_table
    from compound.orchestration.prompts import spec_prompts
    from compound.store import open_store
    from compound.system import System

    if llm and ml:
        raise UserError("--llm and --ml exclude each other; give neither to improve both")
    system = System.load(spec)
    known_prompts = spec_prompts(system)
    named_prompts = [n for n in models or () if n in known_prompts]
    named_models = [n for n in models or () if n not in known_prompts]
    do_models = not llm and (models is None or bool(named_models))
    do_prompts = not ml and (models is None or bool(named_prompts))
    with open_store(system) as store, fanned_out(on) as fan_out:
        report = (improve_system(system, store, models=named_models or None, min_gain=min_gain,
                                 force=force, console=console_err, fan_out=fan_out)
                  if do_models else ImproveReport([], {}, 0.0))
        prompts = (improve_prompts(system, store, names=named_prompts or None, budget=budget,
                                   min_gain=min_gain, console=console_err, progress=True)
                   if do_prompts else [])
    if report.outcomes:
        if (table := skipped_table(report.skipped)) is not None:
            console.print(table)
        for outcome in report.outcomes:
            if outcome.checks:
                table = gate_table(outcome.checks)
                table.title = f"{outcome.name}: promotion gate"
                console.print(table)
        console.print(before_after_table(report))
    for outcome in report.outcomes:
        colour = {"promoted": "green", "refused": "red"}.get(outcome.status, "yellow")
        labelled = (f" ({outcome.rows:,} labelled rows: {origins_text(outcome.origins)}"
                    + (f"; {outcome.conflicts:,} conflicting left out" if outcome.conflicts
                       else "") + ")") if outcome.rows or outcome.conflicts else ""
        console.print(plain(f"{outcome.name}: {outcome.message}", style=colour), plain(labelled),
                      sep="")
        if outcome.rows_read:
            console.print(plain(f"{outcome.name}: {outcome.rows_read}; the gain is measured on "
                                "the final rows"))
    for prompt in prompts:
        if prompt.checks:
            table = gate_table(prompt.checks)
            table.title = f"{prompt.name}: promotion gate (gate rows)"
            console.print(table)
    if prompts:
        console.print(prompts_table(prompts))
    for prompt in prompts:
        colour = {"promoted": "green", "refused": "red"}.get(prompt.status, "yellow")
        console.print(plain(f"{prompt.name}: {prompt.message}", style=colour))
    if report.refused or any(p.status == "refused" for p in prompts):
        raise SystemExit(1)


@app.command()
def export(
    spec: SPEC_ARG,
    format: Annotated[
        str, typer.Option("--format", "-f", help="sft (chat examples) or preference "
                                                 "(chosen/rejected pairs)")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="the JSONL file to write (default: "
                                                      "NAME.FORMAT.jsonl here)")
    ] = None,
    workflow: Annotated[
        str | None, typer.Option(help="only runs of this workflow")
    ] = None,
    min_rating: Annotated[
        int, typer.Option(help="the lowest rating that accepts an answer", min=1, max=5)
    ] = 4,
) -> None:
    """Write fine-tuning data from stored signals: accepted and user-edited answers (sft), or
    chosen/rejected pairs from edits, verdicts and critique steps that revised their draft
    (preference); PII redacted, deduplicated."""
    from rich.table import Table

    from compound.errors import UserError
    from compound.lifecycle.export import FORMATS, Redactor, export_records, write_jsonl
    from compound.store import open_store
    from compound.system import System

    if format not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}; received {format!r}")
    system = System.load(spec)
    if workflow is not None and workflow not in system.workflows:
        raise UserError(f"no workflow '{workflow}' in {system.source}; declared: "
                        f"{', '.join(system.workflows) or 'none'}")
    with open_store(system) as store:
        result = export_records(store, format, workflow=workflow,  # type: ignore[arg-type]
                                redactor=Redactor.for_system(system), min_rating=min_rating)
    table = Table(title=f"export {format}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for source, count in result.sources.items():
        table.add_row(f"records from {source}", f"{count:,}")
    table.add_row("duplicates dropped", f"{result.duplicates:,}")
    table.add_row("texts redacted (PII, secrets)", f"{result.redacted:,}")
    for reason, count in result.skipped.items():
        table.add_row(f"skipped: {reason}", f"{count:,}")
    console_err.print(table)
    if not result.records:
        wanted = "accepted or edited answers" if format == "sft" else "preference pairs"
        console.print(f"nothing to export: no {wanted} in the store")
        return
    target = out or Path(f"{system.name}.{format}.jsonl")
    written = write_jsonl(result.records, target)
    console.print(f"wrote {written:,} {format} records to {target}")
