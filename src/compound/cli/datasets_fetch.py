"""`compound datasets fetch`: download the public datasets tests, examples and benchmarks use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compound.cli.evaluation import datasets_app
from compound.cli.scorecard import print_whole
from compound.console import console, console_err

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

FETCH_HELP = """Download public datasets from their original sources into the user cache.

Each file is pinned by URL and sha256 and checked as it arrives; a converted file is checked
against the sha256 of the one compound was measured on, and nothing unverified is left in the
datasets folder. An interrupted download resumes where it stopped (run the command again).

Known: banking77, snips, pubmedqa, hotpotqa, prompt-injections, tabular, scifact
(`--list` shows source, licence and size). The files land in
~/.cache/compound/datasets/NAME/ ($XDG_CACHE_HOME/compound/datasets), where `shared:NAME/FILE`
paths find them.

Without access to the original hosts: set COMPOUND_DATASETS_MIRROR to a base URL serving
NAME/FILENAME, or set COMPOUND_DATA to a folder that holds the datasets, or copy the files into
the cache folder by hand.

Examples: `compound datasets fetch banking77 snips`; `compound datasets fetch --all`.
"""


@datasets_app.command("fetch", help=FETCH_HELP)
def datasets_fetch(
    names: Annotated[
        list[str] | None, typer.Argument(help="datasets to fetch (see --list)",
                                         show_default=False)
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="fetch every known dataset")] = False,
    to: Annotated[
        Path | None, typer.Option(help="datasets folder to fill (default: the user cache)")
    ] = None,
    listing: Annotated[
        bool, typer.Option("--list", help="show the known datasets and exit")
    ] = False,
) -> None:
    from compound.datafetch import MANIFEST, fetch, resolve_names
    from compound.public_data import cache_root

    root = (to or cache_root()).expanduser()
    if listing:
        print_whole(console, _manifest_table(root))
        return
    chosen = resolve_names(names or [], every=every)
    with _progress() as progress:
        tasks: dict[str, TaskID] = {}

        def report(dataset: str, filename: str, done: int, total: int | None) -> None:
            key = f"{dataset}/{filename}"
            if key not in tasks:
                tasks[key] = progress.add_task(key, total=total)
            progress.update(tasks[key], completed=done, total=total)

        results = fetch(chosen, root=root, progress=report)
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"datasets in {root}", title_justify="left")
    for column in ("dataset", "what happened", "files", "size", "seconds"):
        table.add_column(column, justify="right" if column in ("size", "seconds") else "left")
    for result in results:
        entry = MANIFEST[result.name]
        table.add_row(result.name, Text(result.action, style="green"),
                      Text(", ".join(o.path for o in entry.outputs)), _size(result.bytes),
                      f"{result.seconds:.1f}")
    print_whole(console, table)


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                    DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                    console=console_err)


def _manifest_table(root: Path) -> object:
    from rich.table import Table
    from rich.text import Text

    from compound.datafetch import MANIFEST, is_present
    from compound.public_data import search_roots

    table = Table(title="public datasets (compound datasets fetch NAME)", title_justify="left")
    for column in ("dataset", "what", "licence", "size", "source", "on this machine"):
        table.add_column(column)
    roots = list(dict.fromkeys([*search_roots(), root]))
    for entry in MANIFEST.values():
        hosts = sorted({s.url.split("/")[2] for s in entry.sources})
        found = next((r for r in roots if is_present(entry, r)), None)
        table.add_row(entry.name, Text(entry.title), Text(entry.licence), _size(entry.size),
                      Text(", ".join(hosts)),
                      Text(str(found), style="green") if found else Text("no", style="yellow"))
    return table


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count / 1e3:.0f} KB"
