"""Model-behaviour drift: monitoring watches what the models do, not only what comes in.

For every run of a served workflow, :class:`BehaviourLog` notes a few behaviour signals from
the run's spans as they end (a dictionary look-up or two per span):

================  ==============  ===================================================
signal            of              value per run, and where it comes from
================  ==============  ===================================================
``confidence``    each predictor  the probability of its prediction (a step whose
                                  output is a :class:`~compound.intelligence.ml.types.Prediction`)
``answer_tokens`` each LLM        output tokens of its calls (``model`` spans)
``review_rate``   the workflow    whether the run went to human review (a
                                  ``compound.review.id`` or a rail's ``escalate``)
``refusal_rate``  each rail       whether the rail blocked the run
``score``         each online     its score of the run (online evaluators, judges
                  evaluator       and groundedness among them)
================  ==============  ===================================================

A random sample of these rows (the input log's reservoir, one transaction per flush) goes to
the store stream ``behaviour:{workflow}``, with the version of each predictor that answered.
:class:`BehaviourMonitor` compares the current window with the reference window, with the
windows, pinning and tests of input drift (:class:`~.drift_monitor.DriftMonitor`): a signal
drifts when the change is significant at ``drift.p_value`` (Kolmogorov-Smirnov or PSI for
numbers, PSI's chi-square for rates) *and* its mean moved by at least the floor set in
``drift.behaviour`` (large samples make tiny changes significant). Each signal is named with
its model and the versions each window saw; one that starts drifting writes an alert of type
``behaviour`` to stream ``alerts``; the latest report of each workflow is kept in collection
``behaviour_drift``.

Example:
    >>> from compound.store import MemoryStore
    >>> from compound.production.serving_spec import DriftSpec
    >>> store = MemoryStore()
    >>> log = BehaviourLog(store, per_flush=1000)
    >>> for i in range(120):
    ...     worse = i >= 60
    ...     log.on_span({"trace_id": f"r{i}", "kind": "step", "attributes": {
    ...         "compound.output": Prediction("yes", 0.6 + i % 5 / 100 if worse else
    ...                                       0.9 + i % 5 / 100, model="intent",
    ...                                       version=2 if worse else 1)}})
    ...     log.on_run_end("classify", f"r{i}")
    >>> log.flush()
    120
    >>> spec = DriftSpec(reference_size=60, min_samples=20)
    >>> report = BehaviourMonitor(store, spec).check("classify")
    >>> report.status, report.signals[0].describe()
    ('drift', 'mean confidence of model intent (v1 -> v2) fell from 0.92 to 0.62')
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compound.intelligence.ml.types import Prediction
from compound.production.monitoring.drift_monitor import (
    ALERTS,
    DriftMonitor,
    InputLog,
    WindowReport,
)

if TYPE_CHECKING:
    from compound.production.serving_spec import DriftSpec
    from compound.store.base import Store

PREFIX = "behaviour"
KEY = "observed"
REPORTS = "behaviour_drift"
MAX_OPEN_RUNS = 10_000  # runs whose spans are noted but which have not ended yet


@dataclass(frozen=True)
class Signal:
    """How one behaviour signal reads: its words, whether it is a rate, and its floor."""

    name: str
    words: str
    floor: str  # the field of BehaviourSpec with the smallest change worth an alert
    rate: bool = False
    relative: bool = False  # the floor is a share of the reference mean
    of: str = "model"  # what the name beside it is: a model, a rail, an evaluator


SIGNALS = {s.name: s for s in (
    Signal("confidence", "mean confidence", "confidence_change"),
    Signal("answer_tokens", "mean answer length (tokens)", "length_change", relative=True),
    Signal("review_rate", "review rate", "rate_change", rate=True),
    Signal("refusal_rate", "refusal rate", "rate_change", rate=True, of="rail"),
    Signal("score", "mean score", "score_change", of="evaluator"),
)}


def behaviour_stream(workflow: str) -> str:
    return f"{PREFIX}:{workflow}"


class BehaviourLog(InputLog):
    """Behaviour signals of each run, from its spans, sampled to the store in batches: an
    input log (same arguments) of rows of signals, fed by :meth:`on_span` and
    :meth:`on_run_end`."""

    def __init__(self, store: Store, *, sample_rate: float = 1.0, per_flush: int = 8,
                 seed: int | None = None) -> None:
        super().__init__(store, sample_rate=sample_rate, per_flush=per_flush, seed=seed,
                         prefix=PREFIX, key=KEY)
        self._open: dict[str, dict[str, Any]] = {}

    def on_span(self, span: Mapping[str, Any]) -> None:
        """Note what an ended span says about its run's models."""
        run_id = span.get("trace_id")
        if not run_id:
            return
        attrs: Mapping[str, Any] = span.get("attributes") or {}
        kind = span.get("kind")
        note: tuple[str, Any] | None = None
        if kind == "step":
            output = attrs.get("compound.output")
            if isinstance(output, Prediction) and output.probability is not None:
                note = ("prediction", output)
        elif kind == "model":
            tokens = attrs.get("gen_ai.usage.output_tokens")
            if tokens is not None:
                note = ("tokens", (str(attrs.get("gen_ai.request.model", "?")), tokens))
        elif "compound.review.id" in attrs:
            note = ("review", True)
        if "compound.rail.action" in attrs:
            note = ("rail", (str(attrs.get("compound.rail.name") or span.get("name", "?")),
                             str(attrs["compound.rail.action"])))
        if note is None:
            return
        with self._lock:
            run = self._open.get(run_id)
            if run is None:
                if len(self._open) >= MAX_OPEN_RUNS:
                    del self._open[next(iter(self._open))]
                run = self._open[run_id] = {}
            run.setdefault(note[0], []).append(note[1])

    def on_run_end(self, workflow: str, run_id: str, *, keep: bool = True) -> None:
        """The run ended: offer its row to the sample (``keep=False``: forget it)."""
        with self._lock:
            noted = self._open.pop(run_id, {})
        if keep:
            self.add(workflow, _row(noted), run_id)

    def add_score(self, workflow: str, run_id: str, metric: str, value: float) -> None:
        """An online evaluator's score of a run (scored after the run ended)."""
        self.add(workflow, {f"score:{metric}": float(value)}, run_id)


def _row(noted: Mapping[str, list[Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"review_rate": bool(noted.get("review"))}
    by_model: dict[str, list[float]] = {}
    for p in noted.get("prediction", []):
        by_model.setdefault(p.model or "?", []).append(float(p.probability))
        if p.version is not None:
            row[f"version:{p.model or '?'}"] = p.version
    for model, values in by_model.items():
        row[f"confidence:{model}"] = sum(values) / len(values)
    for model, tokens in noted.get("tokens", []):
        key = f"answer_tokens:{model}"
        row[key] = row.get(key, 0) + int(tokens)
    for rail, action in noted.get("rail", []):
        key = f"refusal_rate:{rail}"
        row[key] = row.get(key, False) or action == "block"
        if action == "escalate":
            row["review_rate"] = True
    return row


@dataclass(frozen=True)
class SignalDrift:
    """One behaviour signal's comparison.

    Attributes:
        signal: ``confidence``, ``answer_tokens``, ``review_rate``, ``refusal_rate``, ``score``.
        model: the predictor, LLM, rail or evaluator it is about; None for the workflow's.
        drifted: significant, and moved by at least the floor.
        reference_mean, current_mean: the windows' means (rates for rates).
        change: ``current_mean - reference_mean`` (a share of the reference mean for
            answer lengths).
        p_value: the smaller of the test's p-values (KS, PSI's chi-square).
        versions: the versions of ``model`` seen in each window (predictors).
    """

    signal: str
    model: str | None
    drifted: bool
    n_reference: int
    n_current: int
    reference_mean: float
    current_mean: float
    change: float
    p_value: float
    psi: float | None = None
    ks_statistic: float | None = None
    versions: dict[str, list[Any]] = field(default_factory=dict)

    def describe(self) -> str:
        """One line a person reads: what moved, of which model, from what to what."""
        signal = SIGNALS[self.signal]
        words, rate = signal.words, signal.rate
        subject = f" of {signal.of} {self.model}" if self.model else ""
        before, after = self.versions.get("reference"), self.versions.get("current")
        if before and after and before != after:
            subject += f" ({_versions(before)} -> {_versions(after)})"
        way = "rose" if self.current_mean > self.reference_mean else "fell"
        return (f"{words}{subject} {way} from {_fmt(self.reference_mean, rate)} to "
                f"{_fmt(self.current_mean, rate)}")


def _versions(found: list[Any]) -> str:
    return "/".join(f"v{v}" for v in found)


def _fmt(value: float, rate: bool) -> str:
    return f"{100 * value:.0f}%" if rate else f"{value:.3g}"


@dataclass
class BehaviourReport(WindowReport):
    """The outcome of one behaviour check of one workflow, signal by signal."""

    signals: list[SignalDrift] = field(default_factory=list)


class BehaviourMonitor:
    """Compares each workflow's current model behaviour with its reference (see the module
    docstring).

    Args:
        store: holds the behaviour log; reports and alerts are written here.
        spec: the ``drift`` settings (windows, sizes, ``p_value``, ``behaviour`` floors).
        drift: the input drift monitor whose windows and tests are used (one is made).
    """

    def __init__(self, store: Store, spec: DriftSpec, *, drift: DriftMonitor | None = None
                 ) -> None:
        self.store = store
        self.spec = spec
        self.drift = drift or DriftMonitor(store, spec)

    def check(self, workflow: str, *, now: float | None = None) -> BehaviourReport:
        """Compare every behaviour signal of ``workflow``; write the report and new alerts."""
        now = time.time() if now is None else now
        reference, current = self.drift.windows(workflow, now, stream=behaviour_stream(workflow),
                                                key=KEY)
        report = BehaviourReport(workflow, "ok", now, len(reference), len(current))
        too_few = self.drift.too_few(reference, current, "runs")
        if too_few:
            report.status = "insufficient_data"
            report.message = too_few
        else:
            names = sorted({k for row in reference for k in row if k.split(":")[0] in SIGNALS})
            for name in names:
                found = self._signal(name, reference, current)
                if found is not None:
                    report.signals.append(found)
            drifting = [s.describe() for s in report.signals if s.drifted]
            if drifting:
                report.status = "drift"
                report.message = "; ".join(drifting)
        self._record(report)
        return report

    def _signal(self, name: str, reference: list[dict[str, Any]],
                current: list[dict[str, Any]]) -> SignalDrift | None:
        kind, _, model = name.partition(":")
        signal = SIGNALS[kind]
        ref = [r.get(name) for r in reference]
        cur = [r.get(name) for r in current]
        if signal.rate and not any(ref) and not any(cur):
            return None  # never reviewed nor refused: nothing to watch
        found = self.drift.compare_field(name, ref, cur)
        if found is None or found.reference_mean is None or found.current_mean is None:
            return None
        before, after = found.reference_mean, found.current_mean
        change = after - before
        if signal.relative:
            change = change / before if before else (0.0 if not after else float("inf"))
        p_values = [p for p in (found.p_value, found.psi_p_value) if p is not None]
        p_value = min(p_values) if p_values else 1.0
        floor = getattr(self.spec.behaviour, signal.floor)
        versions: dict[str, list[Any]] = {}
        if kind == "confidence":
            key = f"version:{model}"
            versions = {"reference": sorted({r[key] for r in reference if key in r}),
                        "current": sorted({r[key] for r in current if key in r})}
        return SignalDrift(kind, model or None, p_value < self.spec.p_value
                           and abs(change) >= floor, found.n_reference, found.n_current,
                           before, after, round(change, 4), p_value, psi=found.psi,
                           ks_statistic=found.ks_statistic, versions=versions)

    def _record(self, report: BehaviourReport) -> None:
        previous = self.store.get(REPORTS, report.workflow) or {}
        was = {(s["signal"], s["model"]) for s in previous.get("signals", []) if s["drifted"]}
        with self.store.transaction():
            self.store.put(REPORTS, report.workflow, report.to_dict())
            for s in report.signals:
                if s.drifted and (s.signal, s.model) not in was:
                    self.store.append(ALERTS, {
                        "type": "behaviour", "workflow": report.workflow, "signal": s.signal,
                        "model": s.model, "reference_mean": s.reference_mean,
                        "current_mean": s.current_mean, "psi": s.psi, "p_value": s.p_value,
                        "message": f"workflow '{report.workflow}': {s.describe()} "
                                   f"(p={s.p_value:.2g})",
                    })


def latest_behaviour(store: Store) -> list[dict[str, Any]]:
    """The latest behaviour report of every workflow."""
    return [report for _, report in store.items(REPORTS)]
