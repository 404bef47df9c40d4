"""`compound up`: the whole loop for any spec, in order.

1. **Build what is missing.** Every predictor without a production version is trained and,
   if it passes its promotion gate, promoted; every retriever's documents are ingested
   (unchanged documents cost nothing); guardrails are loaded (the injection rail trains its
   classifier on first use).
2. **Evaluate** every eval of the spec and hold each success criterion against the metric
   that measures it: the *scorecard*.
3. **Serve** (unless told not to): the caller starts the server once the scorecard is out.

Each stage is a function of its own so the CLI, tests and notebooks can run them separately.

The scorecard's verdicts are those of the one gate (:mod:`compound.gating`): a failed quality
criterion or an unmeasured one blocks; a failed latency criterion only warns unless strict.

Example:
    >>> from compound.lifecycle.up import ScoreLine
    >>> ScoreLine("accuracy", "accuracy", 0.91, 0.9, "higher", None, None, "intents").passed
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from compound.gating import GateCheck, failures, passed, warnings

if TYPE_CHECKING:
    from rich.console import Console

    from compound.evaluation.results import RunSummary
    from compound.store import Store
    from compound.system import System


@dataclass(frozen=True)
class BuildStep:
    """What `up` did (or found already done) for one component."""

    component: str
    kind: Literal["predictor", "retriever", "guardrails"]
    action: str
    seconds: float
    ok: bool = True


@dataclass(frozen=True)
class ScoreLine:
    """One success criterion held against the metric that measured it, by the one gate.

    ``check`` is the gate's check of the criterion (:mod:`compound.gating`), which
    :func:`evaluate` passes; a line written by hand without one is checked from its fields
    (``regressed``: the regression's description, when it regressed).
    """

    criterion: str
    metric: str
    value: float | None
    threshold: float
    direction: Literal["higher", "lower"]
    low: float | None
    high: float | None
    eval: str | None
    regressed: str | None = None
    kind: Literal["quality", "latency"] = "quality"
    check: GateCheck | None = None

    @property
    def measured(self) -> bool:
        return self.value is not None

    @property
    def verdict(self) -> GateCheck:
        """The gate's check of this criterion."""
        from compound.gating import criterion_check, unmeasured_check

        if self.check is not None:
            return self.check
        if self.value is None:
            return unmeasured_check(self.criterion, metric=self.metric, threshold=self.threshold,
                                    direction=self.direction, kind=self.kind,
                                    why=f"no eval measures '{self.metric}'")
        judged = criterion_check(self.criterion, metric=self.metric, value=self.value,
                                 threshold=self.threshold, direction=self.direction,
                                 baseline=None, tolerance=0.0, kind=self.kind)
        if self.regressed is None:
            return judged
        status = "fail" if judged.status == "fail" else "regressed"
        return GateCheck(**{**judged.model_dump(), "status": status, "message": self.regressed})

    @property
    def passed(self) -> bool | None:
        """True or False once measured; None when no eval measures the metric."""
        status = self.verdict.status
        return None if status == "unmeasured" else status == "pass"


@dataclass
class Scorecard:
    """Every criterion of the spec, measured or not, and the eval runs behind them."""

    system: str
    lines: list[ScoreLine] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    machine: MachineLoad | None = None

    @property
    def passed(self) -> bool:
        """Every criterion measured and met."""
        return passed([line.verdict for line in self.lines], strict=True)

    def blocking(self, *, strict: bool = False) -> bool:
        """Whether the scorecard stops `compound up`: a quality criterion failed or is
        unmeasured, or (with ``strict``) a latency criterion failed too. A latency criterion
        alone depends on how busy the machine is, so it only warns by default."""
        return bool(self.blockers(strict=strict))

    def blockers(self, *, strict: bool = False) -> list[str]:
        """Why the scorecard stops `compound up`, one line per blocking criterion."""
        return [self._why(line) for line in self.lines
                if failures([line.verdict], strict=True, latency_warns=not strict)]

    def warnings(self, *, strict: bool = False) -> list[str]:
        """Failed latency criteria that only warn (none with ``strict``)."""
        return [] if strict else [self._why(line) for line in self.lines
                                  if warnings([line.verdict])]

    def failures(self, *, kind: str | None = None) -> list[str]:
        """Why the scorecard did not pass, one line per criterion (only criteria of ``kind``
        when given)."""
        return [self._why(line) for line in self.lines
                if failures([line.verdict], strict=True) and (kind is None or line.kind == kind)]

    def _why(self, line: ScoreLine) -> str:
        check = line.verdict
        if check.status == "unmeasured":
            return f"{line.criterion}: {check.message}"
        op = ">=" if line.direction == "higher" else "<="
        assert line.value is not None
        why = check.message if check.status == "regressed" else (
            f"{format_number(line.value)} is not {op} {format_number(line.threshold)}")
        if line.kind == "latency" and self.machine is not None:
            why += f" ({self.machine.describe()})"
        return f"{line.criterion}: {why}"


@dataclass(frozen=True)
class MachineLoad:
    """What the machine was doing while the scorecard was measured."""

    load_1m: float | None
    load_5m: float | None
    cores: int

    @classmethod
    def now(cls) -> MachineLoad:
        import os

        try:
            one, five, _ = os.getloadavg()
        except (AttributeError, OSError):  # not on every platform
            one = five = None
        return cls(one, five, os.cpu_count() or 1)

    @property
    def busy(self) -> bool:
        """More runnable work than cores over the last minute."""
        return self.load_1m is not None and self.load_1m > self.cores

    def describe(self) -> str:
        if self.load_1m is None:
            return f"{self.cores} cores"
        assert self.load_5m is not None
        return (f"load average {self.load_1m:.1f} (1 min), {self.load_5m:.1f} (5 min) on "
                f"{self.cores} cores" + ("; the machine was busy" if self.busy else ""))


LATENCY_METRICS = frozenset({"latency_s", "latency_ms"})


def format_number(value: float) -> str:
    """A value as people read it in a table: no exponent, thousands separated.

    Example:
        >>> [format_number(v) for v in (0.90681, 23180.4, 2660.0, 8000, 0.0000123)]
        ['0.9068', '23,180', '2,660', '8,000', '0.000012']
    """
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 1e-3 or value == 0:
        return f"{value:.4g}"
    return f"{value:.2g}" if size >= 1e-4 else f"{value:.6f}".rstrip("0")


Notify = Callable[[str], None]


def build_missing(system: System, store: Store, *, console: Console | None = None,
                  notify: Notify = lambda message: None) -> list[BuildStep]:
    """Train and promote predictors without a production version, index every retriever's
    documents, load the guardrails. Idempotent: a second call does (almost) nothing."""
    steps = [_build_predictor(system, store, name, console=console, notify=notify)
             for name in system.predictors()]
    steps += [_index_retriever(system, name, notify=notify) for name in system.retrievers]
    if system.guardrails:
        steps.append(_load_guardrails(system, notify=notify))
    return steps


def _build_predictor(system: System, store: Store, name: str, *, console: Console | None,
                     notify: Notify) -> BuildStep:
    from compound.intelligence.ml.training import train
    from compound.intelligence.promotion import spec_gate
    from compound.intelligence.registry import ModelRegistry

    registry = ModelRegistry(store)
    current = registry.production(name)
    if current is not None:
        return BuildStep(name, "predictor", f"{current.ref} in production", 0.0)
    notify(f"training {name}")
    start = time.perf_counter()
    result = train(system, name, store=store, console=console)
    assert result.record is not None
    decision = registry.promote(name, result.record.version, **spec_gate(system, name))
    seconds = time.perf_counter() - start
    if decision.promoted:
        return BuildStep(name, "predictor", f"trained {result.record.ref}, promoted", seconds)
    return BuildStep(name, "predictor",
                     f"trained {result.record.ref}, not promoted: {decision.message}", seconds,
                     ok=False)


def _index_retriever(system: System, name: str, *, notify: Notify) -> BuildStep:
    from compound.orchestration.ingest import read_documents
    from compound.orchestration.retrieval.build import open_index

    spec = system.retrievers[name]
    sources = [system.resolve_path(d) for d in spec.documents]
    if not sources:
        return BuildStep(name, "retriever", "no documents declared", 0.0)
    notify(f"indexing {name}")
    start = time.perf_counter()
    index = open_index(system, name)
    try:
        index.open(None)
        items = list(read_documents(sources, base_dir=system.base_dir,
                                    max_document_bytes=int(spec.chunking.max_document_mb * 2**20)))
        report = index.ingest(items, progress=None, total=len(items))
        stats = index.stats()
    finally:
        index.close()
    changed = report.added + report.updated + report.deleted
    action = (f"indexed {report.added} new and {report.updated} changed documents"
              if changed else "index up to date") + f" ({_count(stats, 'documents')} documents)"
    if report.problems:
        action += f"; {len(report.problems)} problems: {report.problems[0]}"
    return BuildStep(name, "retriever", action, time.perf_counter() - start,
                     ok=not report.problems)


def _count(stats: Any, key: str) -> Any:
    return stats.get(key, "?") if isinstance(stats, dict) else getattr(stats, key, "?")


def _load_guardrails(system: System, *, notify: Notify) -> BuildStep:
    from compound.production.rails.engine import Guard

    notify("loading guardrails")
    start = time.perf_counter()
    guard = Guard.from_system(system)
    guard.load()
    names = ", ".join(system.guardrails)
    return BuildStep(names, "guardrails", "loaded", time.perf_counter() - start)


def evaluate(system: System, store: Store, *, names: Sequence[str] | None = None,
             limit: int | None = None, progress: bool = True) -> Scorecard:
    """Run the spec's evals (resuming an interrupted run, reusing cached model outputs) and
    build the scorecard: each criterion against the metric that measures it, with the
    regression check against the last passing run."""
    from compound.evaluation.gates import check_gate, declared_direction
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.results import RunRepository
    from compound.evaluation.runner import EvalRunner

    runner = EvalRunner(store, progress=progress)
    repo = RunRepository(store)
    card = Scorecard(system.name)
    latency: set[str] = set()
    for eval_name in names or list(system.evals):
        plan = plan_eval(system, eval_name, store=store, limit=limit, use_cache=True)
        run = runner.run(plan, resume=True)
        base = repo.baseline(eval_name, exclude=run.id,
                             dataset_version=run.dataset.get("version"))
        measured = {m.name for m in run.metrics if m.value is not None}
        criteria = {k: c for k, c in system.criteria.items() if (c.metric or k) in measured}
        specs = system.evals[eval_name].metric_specs()
        tolerances = {m.name: m.tolerance for m in specs}
        latency |= {m.name for m in specs
                    if m.registered_name in LATENCY_METRICS or "latency" in m.name}
        checks = check_gate(run, criteria=criteria, tolerances=tolerances, baseline=base,
                            max_error_rate=plan.max_error_rate, latency=latency)
        run.gate, run.baseline = checks, base.id if base else None
        run.gate_passed = passed(checks)
        repo.save(run)
        card.runs.append(run)
    for key, criterion in system.criteria.items():
        metric = criterion.metric or key
        kind = "latency" if metric in latency else "quality"
        found = next(((run, m, c) for run in card.runs for m in run.metrics
                      for c in run.gate if m.name == metric and m.value is not None
                      and c.name == key), None)
        if found is None:
            card.lines.append(ScoreLine(key, metric, None, criterion.threshold,
                                        declared_direction(system, key), None, None, None,
                                        kind=kind))
            continue
        run, summary, check = found
        card.lines.append(ScoreLine(key, metric, summary.value, criterion.threshold,
                                    check.direction, summary.low, summary.high, run.eval,
                                    check.message if check.status == "regressed" else None,
                                    kind, check))
    card.machine = MachineLoad.now()
    return card
