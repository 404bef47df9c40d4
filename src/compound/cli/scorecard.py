"""The scorecard as a table that reads well in a terminal, in a pipe and in a CI log.

Outside a terminal the table is printed at its natural width, so no criterion name is cut or
folded however narrow ``COLUMNS`` is; numbers never use exponents (``23,180``, not
``2.318e+04``); a latency criterion that fails says what the machine was doing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from compound.lifecycle.up import format_number

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from compound.lifecycle.up import Scorecard, ScoreLine


def scorecard_table(card: Scorecard, *, strict: bool = False) -> Table:
    """One row per criterion: metric, value, 95% interval, target, eval and result."""
    table = Table(title=f"scorecard of {card.system}", title_justify="left")
    for column in ("criterion", "metric", "value", "95% interval", "target", "eval", "result"):
        table.add_column(column, no_wrap=True,
                         justify="right" if column in ("value", "95% interval") else "left")
    for line in card.lines:
        op = ">=" if line.direction == "higher" else "<="
        value = "-" if line.value is None else format_number(line.value)
        interval = (f"[{format_number(line.low)}, {format_number(line.high)}]"
                    if line.low is not None and line.high is not None else "")
        table.add_row(Text(line.criterion), Text(line.metric), value, interval,
                      f"{op} {format_number(line.threshold)}", Text(line.eval or "-"),
                      _result(line, strict=strict))
    if card.machine is not None and any(line.kind == "latency" for line in card.lines):
        table.caption = f"latency measured warm; {card.machine.describe()}"
        table.caption_justify = "left"
    return table


def _result(line: ScoreLine, *, strict: bool) -> Text:
    if line.passed is None:
        return Text("unmeasured", style="yellow")
    if line.passed:
        return Text("pass", style="green")
    word = "REGRESSED" if line.regressed else "FAIL"
    if line.kind == "latency" and not strict:
        return Text(f"{word} (warning)", style="yellow")
    return Text(word, style="red")


def print_whole(console: Console, renderable: RenderableType) -> None:
    """Print ``renderable``; outside a terminal at its natural width, so nothing is cut."""
    if console.is_terminal:
        console.print(renderable)
        return
    width = console.measure(renderable, options=console.options.update(width=10_000)).maximum
    saved = console.__dict__.get("_width")  # None: detected; print() never exceeds the width
    console.width = max(width, console.width)
    try:
        console.print(renderable, crop=False)
    finally:
        console.__dict__["_width"] = saved


def report_scorecard(console: Console, card: Scorecard, *, strict: bool = False) -> None:
    """Say whether the scorecard stops `compound up`, and why: quality criteria block; a
    failed latency criterion warns (value, threshold, machine load) unless ``strict``."""
    blockers, warnings = card.blockers(strict=strict), card.warnings(strict=strict)
    if blockers:
        console.print(Text("scorecard failed:", style="bold red"))
        for why in blockers:
            console.print(Text(f"  - {why}"))
    if warnings:
        console.print(Text("latency warning (not a failure without --strict):",
                           style="bold yellow"))
        for why in warnings:
            console.print(Text(f"  - {why}"))
        console.print(Text("  Latency depends on how busy the machine is; decide for yourself, "
                           "or pass --strict to make it fail. `compound eval`, the CI gate, "
                           "fails on it."))
    if not blockers and not warnings:
        console.print(Text.assemble(("scorecard passed", "bold green"),
                                    ": every success criterion is met"))
    elif not blockers:
        console.print(Text.assemble(("scorecard passed", "bold green"),
                                    ": every quality criterion is met"))
