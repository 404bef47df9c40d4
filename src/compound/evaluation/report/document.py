"""What the report shows for each eval (:class:`EvalReport`), and writing it to a file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from compound.evaluation.report.html import render_report
from compound.evaluation.results import RowResult, RunSummary


@dataclass
class EvalReport:
    """What the report shows for one eval: this run, its baseline, its rows, past runs."""

    run: RunSummary
    rows: list[RowResult]
    history: list[RunSummary]
    baseline: RunSummary | None = None
    title: str = ""
    notes: list[str] = field(default_factory=list)


def write_report(path: str | os.PathLike[str], reports: list[EvalReport], *,
                 title: str = "compound eval report") -> Path:
    """Write the report of ``reports`` to ``path`` (folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(reports, title=title), encoding="utf-8")
    return target

