"""`compound improve`: the flywheel for trained models. Corrections become labelled data, the
models they correct are retrained on it, and a candidate replaces production only when it
passes.

For each predictor with corrections (:mod:`compound.lifecycle.corrections`):

1. the labelled rows are saved as a dataset version in the store (``intent.corrections``);
2. a candidate is trained on the spec's dataset **plus** those rows (they never join the
   calibration or test rows, so production and candidate are measured on the same rows);
3. the candidate is held against production by the registry's promotion gate, once: the
   spec's criteria, its churn limits and the loop's defaults, plus two checks of
   `improve`'s own, the same test rows and, because retraining from feedback is meant to
   help, no loss at all on the task's primary metric (``min_gain``; the criteria's tolerance
   lets a slightly worse model through, which is right for a first promotion but not for a
   retrain that was supposed to fix mistakes);
4. it is promoted only when every check passes; otherwise production stays as it was. The
   registry decides and writes the audit event (``"by": "improve"``).

**Which rows decide, which rows measure.** The test rows are cut in two at training
(``split.final``, half by default): the gate reads only the *gate* rows' metrics and
predictions; the gain `improve` reports is measured on the *final* rows, which no decision
read. Gating and reporting on the same rows would, loop after loop, keep the candidates that
happened to do well on those rows, and report that luck as a gain.

Every correction so far is used, not only the new ones: each candidate is trained on the
spec's dataset plus all the labelled rows. A model whose rows have not changed since a version
was trained on them is not trained again (``force`` does it anyway): the outcome would be the
same.

Example:
    >>> outcome = ModelOutcome("intent", "unchanged", "no corrections for intent")
    >>> outcome.status, outcome.gain
    ('unchanged', None)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from compound.gating import GateCheck
    from compound.intelligence.ml.crossfit import FanOut
    from compound.intelligence.registry import ModelRegistry, ModelVersion
    from compound.lifecycle.corrections import ModelLabels
    from compound.metrics.stability import Churn
    from compound.store import Store
    from compound.system import System

Status = Literal["promoted", "refused", "unchanged"]


@dataclass(frozen=True)
class ModelOutcome:
    """What `improve` did for one model.

    Attributes:
        name: the predictor.
        status: ``promoted``, ``refused`` (a candidate failed a check) or ``unchanged``
            (nothing to do: no corrections, no production version, or already tried).
        message: one line saying why.
        rows: labelled rows trained on, beyond the spec's dataset.
        origins: rows labelled by reviewers and by users.
        conflicts: inputs left out because their labels tied.
        dataset: the stored dataset version of the rows (``intent.corrections@...``).
        primary: the task's main metric.
        before: production's metrics on the gate rows (what the decision read).
        after: the candidate's metrics on the gate rows.
        final_before: production's metrics on the final rows (no decision read them).
        final_after: the candidate's metrics on the final rows.
        production: production's version before; candidate: the new version.
        checks: every check the candidate went through.
        rows: which rows decided and which measured, in words.
        churn: the churn from production to the candidate on the gate rows, if measured.
    """

    name: str
    status: Status
    message: str
    rows: int = 0
    origins: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    dataset: str | None = None
    primary: str = ""
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    production: int | None = None
    candidate: int | None = None
    checks: list[GateCheck] = field(default_factory=list)
    final_before: dict[str, float] = field(default_factory=dict)
    final_after: dict[str, float] = field(default_factory=dict)
    rows_read: str = ""
    churn: Churn | None = None

    @property
    def gain(self) -> float | None:
        """The candidate's primary metric minus production's on the final rows, which the
        decision never read (None without a candidate or without final rows)."""
        return _difference(self.primary, self.final_before, self.final_after)

    @property
    def gate_gain(self) -> float | None:
        """The same on the gate rows, which decided (None without a candidate)."""
        return _difference(self.primary, self.before, self.after)


def _difference(metric: str, before: dict[str, float], after: dict[str, float]
                ) -> float | None:
    if metric in before and metric in after:
        return after[metric] - before[metric]
    return None


@dataclass(frozen=True)
class ImproveReport:
    """Every model's outcome, and the signals that gave no row, by reason."""

    outcomes: list[ModelOutcome]
    skipped: dict[str, int]
    seconds: float

    @property
    def refused(self) -> bool:
        """Whether some candidate was refused (the CLI exits 1)."""
        return any(o.status == "refused" for o in self.outcomes)


def improve(
    system: System,
    store: Store,
    *,
    models: Sequence[str] | None = None,
    min_gain: float = 0.0,
    force: bool = False,
    console: Console | None = None,
    fan_out: FanOut | None = None,
) -> ImproveReport:
    """Retrain the predictors that corrections touch, and promote each candidate that passes.

    Args:
        system: the spec.
        store: the system's store (runs, feedback, review resolutions, the registry).
        models: only these predictors (every one with corrections by default).
        min_gain: how much the candidate's primary metric must beat production's by (0: not
            worse).
        force: retrain even when the corrections are those a version was already trained on.
        console: where training shows its progress bar.
        fan_out: where the cross-fitting folds are fitted (Ray tasks with ``--on ray``).

    Raises:
        UserError: ``models`` names something that is not a predictor of the spec.
    """
    from compound.intelligence.registry import ModelRegistry, predictor_spec
    from compound.lifecycle.corrections import collect_labels

    started = time.perf_counter()
    names = list(models) if models is not None else list(system.predictors())
    for name in names:
        predictor_spec(system, name)
    registry = ModelRegistry(store)
    known: dict[str, Any] = {}
    for name in names:
        current = registry.production(name)
        if current is not None and current.task in ("text_classification",
                                                    "tabular_classification"):
            known[name] = set(registry.load_model(current).classes or [])
    collected = collect_labels(system, store, models=names, classes=known)
    outcomes = [_improve_one(system, store, registry, collected.models[name],
                             min_gain=min_gain, force=force, console=console,
                             fan_out=fan_out)
                for name in names]
    return ImproveReport(outcomes, collected.skipped, time.perf_counter() - started)


def _improve_one(system: System, store: Store, registry: ModelRegistry, labels: ModelLabels,
                 *, min_gain: float, force: bool, console: Console | None,
                 fan_out: FanOut | None = None) -> ModelOutcome:
    from compound.evaluation.dataset_store import DatasetRegistry
    from compound.evaluation.datasets import Dataset, content_hash
    from compound.intelligence.ml.training import rows_sha256, train
    from compound.intelligence.promotion import spec_gate
    from compound.intelligence.registry import predictor_spec

    name = labels.model
    spec = predictor_spec(system, name)
    base = ModelOutcome(name, "unchanged", "", rows=len(labels.rows),
                        origins=dict(labels.origins), conflicts=labels.conflicts)
    current = registry.production(name)
    if current is None:
        return replace(base, message=f"{name} has no production version to improve; train "
                       f"and promote one first ('compound train SPEC {name} --promote')")
    base = replace(base, production=current.version, before=current.gate_metrics,
                   final_before=current.final_metrics)
    if not labels.rows:
        return replace(base, message=f"no corrections for {name}")
    rows = [{**row, "id": content_hash({k: v for k, v in row.items() if k != spec.target}),
             "refs": refs} for row, refs in zip(labels.rows, labels.refs, strict=True)]
    info = DatasetRegistry(store).save(Dataset(rows, name=f"{name}.corrections", id_field="id",
                                               source="store:feedback+review"))
    source = f"store:{info.ref}"
    base = replace(base, dataset=info.ref)
    digest = rows_sha256(labels.rows)
    tried = [v for v in registry.versions(name)
             if v.data.get("extra", {}).get("sha256") == digest]
    if tried and not force:
        return replace(base, message=f"{tried[-1].ref} ({tried[-1].stage}) was already trained "
                       f"on these {len(rows)} corrections; nothing new (--force retrains anyway)")
    result = train(system, name, store=store, console=console, extra_rows=labels.rows,
                   extra_source=source, fan_out=fan_out)
    candidate = result.record
    assert candidate is not None
    base = replace(base, primary=candidate.primary, after=candidate.gate_metrics,
                   final_after=candidate.final_metrics, candidate=candidate.version)
    decision = registry.promote(
        name, candidate.version, **{**spec_gate(system, name),
                                    "primary": candidate.primary or None},
        extra_checks=_improvement_checks(candidate, current, min_gain), by="improve")
    if (candidate.data.get("final", {}).get("sha256")
            != current.data.get("final", {}).get("sha256")):
        base = replace(base, final_before={}, final_after={})  # not comparable
    return replace(base, status="promoted" if decision.promoted else "refused",
                   message=decision.message, checks=decision.checks, rows_read=decision.rows,
                   churn=decision.churn)


def _improvement_checks(candidate: ModelVersion, current: ModelVersion, min_gain: float
                        ) -> list[GateCheck]:
    """The checks `improve` adds to the promotion gate: same test rows, and a real gain on
    the gate rows (the final rows are never read here)."""
    from compound.gating import GateCheck, baseline_check
    from compound.metrics.registry import lower_is_better

    checks = []
    test_now = candidate.data.get("test", {}).get("sha256")
    test_then = current.data.get("test", {}).get("sha256")
    if test_now != test_then:
        checks.append(GateCheck(
            name="same test rows", metric="data", status="fail", value=None,
            message=f"the test data changed since {current.ref} was measured, so the two are "
                    "not comparable; retrain production on the current data first"))
    primary = candidate.primary
    same_gate = (candidate.data.get("gate", {}).get("sha256")
                 == current.data.get("gate", {}).get("sha256"))
    mine, theirs = ((candidate.gate_metrics, current.gate_metrics) if same_gate
                    else (candidate.metrics, current.metrics))
    value, before = mine.get(primary), theirs.get(primary)
    if value is None or before is None:
        return checks
    checks.append(baseline_check(
        f"{primary} (improve)", metric=primary, value=value, baseline=before,
        direction="lower" if lower_is_better(primary) else "higher", min_gain=min_gain))
    return checks


# -- the terminal -------------------------------------------------------------------------------


def before_after_table(report: ImproveReport) -> Table:
    """Production's and the candidate's test metrics side by side, with the decision: on the
    gate rows, which decided, and on the final rows, which only measure."""
    from rich.table import Table

    from compound.console import plain

    table = Table(title="improve: before (production) and after (candidate), test metrics",
                  title_justify="left")
    for column in ("model", "corrections", "metric", "rows", "before", "after", "change",
                   "decision"):
        table.add_column(column, justify="left" if column in ("model", "metric", "rows",
                                                              "decision") else "right")
    colours = {"promoted": "green", "refused": "red", "unchanged": "yellow"}
    for o in report.outcomes:
        decision = plain(o.status, style=colours[o.status])
        versions = f"v{o.production}" if o.production is not None else "-"
        if o.candidate is not None:
            versions += f"→v{o.candidate}"
        if not o.after:
            table.add_row(plain(f"{o.name} {versions}"), f"{o.rows:,}", "-", "-", "-", "-", "-",
                          decision)
            continue
        shown = [o.primary, *[m for m in ("macro_f1", "ece") if m in o.after and m != o.primary]]
        lines: list[tuple[str, str, float | None, float | None]] = [
            (metric, "gate (decided)", o.before.get(metric), o.after.get(metric))
            for metric in shown]
        if o.final_after:
            lines.append((o.primary, "final (measured)", o.final_before.get(o.primary),
                          o.final_after.get(o.primary)))
        for i, (metric, rows, before, after) in enumerate(lines):
            table.add_row(
                plain(f"{o.name} {versions}" if i == 0 else ""), f"{o.rows:,}" if i == 0 else "",
                plain(metric), rows, _number(before), _number(after),
                "-" if before is None or after is None else f"{after - before:+.4f}",
                decision if i == 0 else "")
        if o.churn is not None:
            table.add_row("", "", "churn", "gate", "-", f"{o.churn.churn:.4f}", "",
                          plain(f"confident {o.churn.confident_churn:.4f}, negative "
                                f"{o.churn.negative_flips or 0:.4f}"))
        table.add_section()
    return table


def skipped_table(skipped: dict[str, int]) -> Table | None:
    """Signals that gave no labelled row, by reason (None when every one counted)."""
    from rich.table import Table

    if not skipped:
        return None
    table = Table(title="signals not used", title_justify="left")
    table.add_column("reason")
    table.add_column("signals", justify="right")
    for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1]):
        table.add_row(reason, f"{count:,}")
    return table


def origins_text(origins: dict[str, int]) -> str:
    """``35 by reviewers, 70 by users``."""
    words = {"review": "reviewers", "user": "users"}
    return ", ".join(f"{n:,} by {words.get(k, k)}" for k, n in origins.items()) or "none"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
