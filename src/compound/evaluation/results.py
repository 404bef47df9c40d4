"""Results of eval runs, and where they are kept.

A run's summary is one document in the collection ``eval_runs``; each row's result is one
document in ``eval_rows`` under ``<run id>/<row index>``. Writing a row is a ``put`` on a key
that depends only on the row, so a row written twice (a resumed run) is still one row, and a
row acknowledged before a crash is never lost.

Example:
    >>> from compound.store import MemoryStore
    >>> runs = RunRepository(MemoryStore())
    >>> runs.put_row("qa-1", RowResult(index=0, id="a", status="ok", output="4"))
    >>> [r.id for r in runs.rows("qa-1")]
    ['a']
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from compound.errors import UserError
from compound.gating import GateCheck
from compound.specfile import did_you_mean
from compound.store import Store

RUNS = "eval_runs"
ROWS = "eval_rows"
RowStatus = Literal["ok", "error", "invalid"]
_MAX_FIELD_CHARS = 4000


class RowResult(BaseModel):
    """What happened on one example."""

    index: int
    id: str
    status: RowStatus
    error: str | None = None
    error_type: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    output: str = ""
    data: Any = None
    contexts: int = 0
    latency_s: float | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    cached: bool = False
    scores: dict[str, float | None] = Field(default_factory=dict)
    reasons: dict[str, str] = Field(default_factory=dict)
    metric_errors: dict[str, str] = Field(default_factory=dict)
    human: Any = None


class MetricSummary(BaseModel):
    """One metric over a run: value, bootstrap interval, and how many rows it covers."""

    name: str
    metric: str
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    not_applicable: int = 0
    errors: int = 0
    higher_is_better: bool = True
    aggregate: str = "mean"


class SuiteSummary(BaseModel):
    """A behavioural suite's pass rate, overall and per case kind."""

    kind: str
    passed: int
    total: int
    errors: int = 0
    by_case: dict[str, list[int]] = Field(default_factory=dict)
    min_pass_rate: float | None = None
    failures: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


class RunSummary(BaseModel):
    """A run of one eval: what ran, on what, and the numbers."""

    id: str
    eval: str
    system: str = ""
    fingerprint: str = ""
    status: Literal["running", "complete"] = "running"
    started: float = Field(default_factory=time.time)
    finished: float | None = None
    dataset: dict[str, Any] = Field(default_factory=dict)
    target: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    cached: int = 0
    spent_usd: float = 0.0
    metrics: list[MetricSummary] = Field(default_factory=list)
    metric_errors: dict[str, str] = Field(
        default_factory=dict, description="metrics over the whole run that raised, and why"
    )
    suites: list[SuiteSummary] = Field(default_factory=list)
    judge_agreement: dict[str, Any] | None = None
    baseline: str | None = None
    gate: list[GateCheck] = Field(default_factory=list)
    gate_passed: bool | None = None

    def metric(self, name: str) -> MetricSummary:
        """The summary of metric ``name``.

        Raises:
            KeyError: the run did not measure it (naming those it did).
        """
        for summary in self.metrics:
            if summary.name == name:
                return summary
        raise KeyError(
            f"run {self.id} has no metric '{name}'; it measured: "
            f"{', '.join(m.name for m in self.metrics) or 'none'}"
        )

    def values(self) -> dict[str, float | None]:
        return {m.name: m.value for m in self.metrics}


def compact(value: Any) -> Any:
    """``value`` with very long strings shortened, for storing inputs with each row."""
    if isinstance(value, str):
        if len(value) <= _MAX_FIELD_CHARS:
            return value
        return value[:_MAX_FIELD_CHARS] + f"... [{len(value) - _MAX_FIELD_CHARS} more chars]"
    if isinstance(value, Mapping):
        return {str(k): compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compact(v) for v in value]
    return value


class RunRepository:
    """Eval runs and their rows in a :class:`~compound.store.Store`.

    Args:
        store: where runs are kept.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, run: RunSummary) -> None:
        self.store.put(RUNS, run.id, run.model_dump(mode="json"))

    def get(self, run_id: str) -> RunSummary:
        """The run ``run_id`` (a unique prefix is enough).

        Raises:
            UserError: no run, or several, match.
        """
        doc = self.store.get(RUNS, run_id)
        if doc is not None:
            return RunSummary.model_validate(doc)
        matches = [RunSummary.model_validate(d) for _, d in self.store.items(RUNS, prefix=run_id)]
        if len(matches) == 1:
            return matches[0]
        known = [key for key, _ in self.store.items(RUNS)]
        detail = "several runs" if matches else "no run"
        raise UserError(
            f"{detail} with id '{run_id}'{did_you_mean(run_id, known)}; recent runs: "
            f"{', '.join(known[-5:]) or 'none'}"
        )

    def runs(self, eval_name: str | None = None) -> list[RunSummary]:
        """Runs, oldest first, optionally of one eval."""
        found = [RunSummary.model_validate(d) for _, d in self.store.items(RUNS)]
        if eval_name is not None:
            found = [r for r in found if r.eval == eval_name]
        return sorted(found, key=lambda r: (r.started, r.id))

    def put_row(self, run_id: str, row: RowResult) -> None:
        self.store.put(ROWS, f"{run_id}/{row.index:08d}", row.model_dump(mode="json"))

    def rows(self, run_id: str) -> list[RowResult]:
        """The run's row results, in dataset order."""
        return [RowResult.model_validate(d) for _, d in self.store.items(ROWS, prefix=f"{run_id}/")]

    def done_indices(self, run_id: str) -> set[int]:
        keys = self.store.items(ROWS, prefix=f"{run_id}/")
        return {int(key.rsplit("/", 1)[1]) for key, _ in keys}

    def incomplete(self, eval_name: str, fingerprint: str) -> RunSummary | None:
        """The latest unfinished run of the same eval and configuration (to resume)."""
        candidates = [r for r in self.runs(eval_name)
                      if r.status == "running" and r.fingerprint == fingerprint]
        return candidates[-1] if candidates else None

    def baseline(
        self, eval_name: str, *, exclude: str | None = None, dataset_version: str | None = None
    ) -> RunSummary | None:
        """The latest complete run of ``eval_name`` that passed its gate, preferring runs on
        the same dataset version (scores on other data compare less well)."""
        candidates = [r for r in self.runs(eval_name)
                      if r.status == "complete" and r.gate_passed and r.id != exclude]
        same = [r for r in candidates if r.dataset.get("version") == dataset_version]
        chosen = same or candidates
        return chosen[-1] if chosen else None
