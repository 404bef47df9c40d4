"""The design review as a table: one row per finding, with where it is, why it matters and the
fix. Every cell is text, never markup: a finding quotes names and values from the spec."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from compound.console import plain, visible
from compound.specfile import dotted

if TYPE_CHECKING:
    from rich.console import Console

    from compound.design_review import Finding, Review

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def review_table(review: Review, *, silenced: bool = True) -> Table:
    """The findings (the silenced ones too, marked, unless ``silenced`` is False)."""
    table = Table(title=f"design review of {visible(review.system)}", title_justify="left",
                  show_lines=True)
    table.add_column("finding", no_wrap=True)
    table.add_column("where, what, why, fix", ratio=1)
    for finding in review.findings if silenced else review.open:
        head = plain(finding.id)
        head.append("\n")
        head.append(*(("silenced", "dim") if finding.silenced
                      else (finding.severity, _STYLE[finding.severity])))
        table.add_row(head, _body(finding))
    return table


def _where(finding: Finding) -> str:
    path, _, line = finding.where.rpartition(":")
    if not path or not line.isdigit():
        path, line = finding.where, ""
    try:
        shown = os.path.relpath(path) if os.path.isabs(path) else path
    except ValueError:  # another drive (Windows)
        shown = path
    if shown.startswith(".." + os.sep):
        shown = path
    location = f"{shown}:{line}" if line else shown
    return f"{location} {dotted(finding.loc)}"


def _body(finding: Finding) -> Text:
    text = plain(_where(finding), style="dim")
    text.append("\n")
    text.append(visible(finding.message))
    text.append("\nwhy: ", style="bold")
    text.append(visible(finding.reason))
    text.append("\nfix: ", style="bold")
    text.append(visible(finding.fix))
    if finding.silenced_because is not None:
        text.append("\nsilenced: ", style="bold")
        text.append(visible(finding.silenced_because))
    return text


def print_review(console: Console, review: Review) -> None:
    """The table (when there are findings) and the one-line summary."""
    if review.findings:
        console.print(review_table(review))
    style = "bold red" if review.open else "bold green"
    console.print(Text.assemble(("design review", style), f": {review.summary()}"))
