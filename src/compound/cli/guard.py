"""`compound guard`: run a system's rails on a text and show each rail's verdict."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compound.cli import app
from compound.console import console, console_err, plain, styled

if TYPE_CHECKING:
    from compound.production.rails import GuardResult
    from compound.production.rails.verdict import Stage
    from compound.system import System

_STYLE = {"allow": "green", "redact": "yellow", "escalate": "magenta", "block": "bold red"}


@app.command()
def guard(
    spec: Annotated[Path, typer.Argument(help="a compound.yaml, or a folder holding one")],
    text: Annotated[str | None, typer.Argument(
        help="the text to check; '-' reads standard input", show_default=False)] = None,
    stage: Annotated[
        str, typer.Option(help="check the text as a request (input), an answer (output), or both")
    ] = "both",
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help="only the rails guarding this workflow")
    ] = None,
    rail: Annotated[
        list[str] | None, typer.Option("--rail", "-r", help="only this rail (repeatable)")
    ] = None,
    document: Annotated[
        list[str] | None,
        typer.Option("--document", "-d",
                     help="a retrieved passage the answer should rest on (repeatable; "
                          "@FILE reads a file)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdicts as JSON")] = False,
    explain: Annotated[bool, typer.Option(
        "--explain", help="show each rail's operating point instead (no TEXT): its threshold, "
        "where it came from (e.g. chosen by cross-validation) and how it did then")] = False,
) -> None:
    """Show each rail's verdict on TEXT: allow, redact, escalate or block, with the reason.

    Exits with 1 when a stage blocks or escalates, so that scripts can use it as a check.
    With --explain, shows each rail's threshold and how it was chosen instead.
    """
    from compound.errors import UserError
    from compound.production.rails import Guard, RailInput
    from compound.system import System

    if explain:
        _explain(System.load(spec), workflow=workflow, rails=rail, as_json=as_json)
        return
    if text is None:
        raise UserError("pass the text to check as the second argument ('-' reads standard "
                        "input), or --explain to see each rail's threshold")
    if stage not in ("input", "output", "both"):
        raise UserError(f"--stage must be input, output or both; received '{stage}'")
    if text == "-":
        text = sys.stdin.read()
    if not text:
        raise UserError("the text is empty; pass the text to check as the second argument "
                        "(or '-' to read it from standard input)")
    system = System.load(spec)
    if not system.guardrails:
        raise UserError(f"{system.source} declares no rails; add some under 'guardrails' "
                        "(e.g. 'injection: {type: injection}')")
    documents = tuple(_read_document(d) for d in document or ())
    stages: tuple[Stage, ...] = ("input", "output") if stage == "both" else (
        ("input",) if stage == "input" else ("output",))
    results: list[GuardResult] = []
    with Guard.from_system(system, workflow=workflow, names=rail, console=console_err) as found:
        found.load()
        for name in stages:
            if found.rails_for(name):
                results.append(found.check(RailInput(text, stage=name, documents=documents)))
    if not results:
        raise UserError(f"no rail runs at stage '{stage}'"
                        + (f" for workflow '{workflow}'" if workflow else ""))
    if as_json:
        console.print_json(json.dumps({"results": [r.to_dict() for r in results],
                                       "text": {r.stage: r.text for r in results}}))
    else:
        _show(results, text)
    if not all(r.allowed for r in results):
        raise SystemExit(1)  # not typer.Exit: its code is lost with standalone_mode=False


def _explain(system: System, *, workflow: str | None, rails: list[str] | None,
             as_json: bool) -> None:
    """Each rail's operating point: threshold, its source, metrics when it was chosen."""
    from rich.text import Text

    from compound.errors import UserError
    from compound.production.rails import Guard
    from compound.production.rails.operating import operating_point

    if not system.guardrails:
        raise UserError(f"{system.source} declares no rails; add some under 'guardrails' "
                        "(e.g. 'injection: {type: injection}')")
    with Guard.from_system(system, workflow=workflow, names=rails, console=console_err) as found:
        points = [operating_point(r) for r in found.rails]
    if as_json:
        console.print_json(json.dumps({"rails": [p.to_dict() for p in points]}))
        return
    console.print(f"operating points of the rails of {system.name}:", markup=False)
    for point in points:
        threshold = "no threshold" if point.threshold is None else (
            f"threshold {point.threshold:.4f}")
        console.print(Text.assemble((point.rail, "bold"), f" ({point.type}): {threshold}"))
        lines = [f"chosen by {point.source}"] if point.threshold is not None else [point.source]
        if point.metrics:
            lines.append("when chosen (out of fold): " + ", ".join(
                f"{k.replace('_', ' ')} {v:.3f}" for k, v in point.metrics.items()
                if not k.startswith("ml_")))
        if point.band:
            lines.append(f"uncertain band [{point.band[0]:.2f}, {point.band[1]:.2f}): sent to "
                         "the rail's LLM, or escalated without one")
        if point.model:
            lines.append(f"model {point.model}")
        for line in [*lines, *point.notes]:
            console.print(f"  {line}", markup=False)


def _read_document(value: str) -> str:
    from compound.errors import UserError

    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    if not path.is_file():
        raise UserError(f"--document {value}: no such file")
    return path.read_text(encoding="utf-8")


def _show(results: list[GuardResult], text: str) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    for column in ("rail", "stage", "verdict", "reason"):
        table.add_column(column, overflow="fold")
    table.add_column("ms", justify="right")
    for result in results:
        for verdict in result.verdicts:
            style = _STYLE.get(verdict.action, "")
            table.add_row(verdict.rail, verdict.stage, plain(verdict.action, style=style),
                          verdict.reason, f"{verdict.ms:.1f}")
    console.print(table)
    for result in results:
        style = _STYLE.get(result.action, "")
        line = styled("{stage}: ", stage=result.stage) + plain(result.action, style=style)
        if result.allowed and result.text != text:
            line += plain(f" · text that goes on: {result.text}")
        console.print(line)
