"""`compound models ...`: the models a system declares, LLMs and trained ML models alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.console import console, plain

models_app = typer.Typer(
    help="List, inspect, promote and roll back the models of a system.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@models_app.command("list")
def list_models(
    spec: Annotated[Path, typer.Argument(help="a compound.yaml, or a folder holding one")],
    load: Annotated[
        bool, typer.Option(help="load each model to check it works (slower)")
    ] = True,
) -> None:
    """Each configured model, LLM and ML, and whether it loads."""
    from rich.table import Table

    from compound.intelligence.status import model_statuses
    from compound.system import System

    system = System.load(spec)
    table = Table(title=f"models of {system.name}", title_justify="left")
    for column in ("name", "kind", "provider / task", "model / version", "status"):
        table.add_column(column)
    for status in model_statuses(system, load=load):
        colour = "green" if status.ok else "red"
        table.add_row(
            status.name, status.kind, status.detail, status.version,
            plain(status.message, style=colour),
        )
    console.print(table)
