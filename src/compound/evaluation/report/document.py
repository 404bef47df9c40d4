"""What the report shows for each eval (:class:`EvalReport`); :mod:`.html` renders and
writes it."""

from __future__ import annotations

from dataclasses import dataclass, field

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
