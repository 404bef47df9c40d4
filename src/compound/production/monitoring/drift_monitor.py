"""Drift detection on live inputs: a sample of each workflow's inputs is logged, and a check
compares the current window against a reference window, field by field.

* :class:`InputLog` keeps a bounded random sample of inputs in memory and writes it to the
  store stream ``inputs:{workflow}`` on :meth:`InputLog.flush` (one transaction per flush,
  never one write per request).
* :class:`DriftMonitor` reads the windows and tests each field: numbers with PSI and the
  Kolmogorov-Smirnov test, short categorical strings and booleans with PSI over categories,
  free text with the embedding test of
  :func:`~compound.production.monitoring.drift.embedding_drift`.
  A field drifts when its test's p-value is below ``p_value``, or its PSI is above
  ``psi_threshold`` *and* that PSI is unlikely by chance at these sample sizes (below
  ``p_value`` too): small windows make PSI noisy.
  The reference is the first ``reference_size`` logged inputs, or a window pinned with
  :meth:`DriftMonitor.pin_reference`. A field that starts drifting writes an alert to stream
  ``alerts``; the latest report of each workflow is kept in collection ``drift``.

Example:
    >>> from compound.store import MemoryStore
    >>> from compound.production.serving_spec import DriftSpec
    >>> store = MemoryStore()
    >>> log = InputLog(store, sample_rate=1.0, per_flush=1000)
    >>> for i in range(60):
    ...     log.add("score", {"amount": float(i % 10)})
    >>> for i in range(60):
    ...     log.add("score", {"amount": float(50 + i % 10)})
    >>> log.flush()
    120
    >>> spec = DriftSpec(reference_size=60, min_samples=20, window_s=3600)
    >>> report = DriftMonitor(store, spec).check("score")
    >>> report.status, report.fields[0].field, report.fields[0].drifted
    ('drift', 'amount', True)
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from compound.production.monitoring import drift as stats

if TYPE_CHECKING:
    from compound.intelligence.embedders import Embedder
    from compound.production.serving_spec import DriftSpec
    from compound.store.base import Store

ALERTS = "alerts"
DRIFT = "drift"
REFERENCES = "drift_reference"
MAX_TEXT = 2000
FieldKind = Literal["numeric", "categorical", "text"]


def input_stream(workflow: str) -> str:
    return f"inputs:{workflow}"


class InputLog:
    """A random sample of inputs per workflow, written to the store in batches.

    Args:
        store: where :meth:`flush` writes.
        sample_rate: the share of inputs considered.
        per_flush: the most inputs kept per workflow between two flushes (a uniform sample of
            those offered, by reservoir sampling), which bounds the log under any load.
        prefix: the streams written, ``{prefix}:{workflow}`` (the behaviour log keeps its
            observations in ``behaviour:{workflow}``).
        key: the field of each record that holds the row (``input``).
    """

    def __init__(self, store: Store, *, sample_rate: float = 1.0, per_flush: int = 8,
                 seed: int | None = None, prefix: str = "inputs", key: str = "input") -> None:
        self.store = store
        self.sample_rate = sample_rate
        self.per_flush = per_flush
        self.prefix = prefix
        self.key = key
        self._random = random.Random(seed)
        self._kept: dict[str, list[dict[str, Any]]] = {}
        self._offered: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, workflow: str, input: Mapping[str, Any], run_id: str = "") -> None:
        """Offer one input (its scalar fields are kept; long text is cut)."""
        if self.sample_rate < 1.0 and self._random.random() >= self.sample_rate:
            return
        row = {k: (v[:MAX_TEXT] if isinstance(v, str) else v) for k, v in input.items()
               if isinstance(v, str | int | float | bool) or v is None}
        with self._lock:
            seen = self._offered.get(workflow, 0) + 1
            self._offered[workflow] = seen
            kept = self._kept.setdefault(workflow, [])
            record = {"run_id": run_id, self.key: row}
            if len(kept) < self.per_flush:
                kept.append(record)
            else:
                slot = self._random.randrange(seen)
                if slot < self.per_flush:
                    kept[slot] = record

    def flush(self) -> int:
        """Write the kept sample; returns how many inputs were written."""
        with self._lock:
            kept, self._kept, self._offered = self._kept, {}, {}
        count = sum(len(rows) for rows in kept.values())
        if count:
            with self.store.transaction():
                for workflow, rows in kept.items():
                    for row in rows:
                        self.store.append(f"{self.prefix}:{workflow}", row)
        return count


@dataclass(frozen=True)
class FieldDrift:
    """One field's comparison. ``p_value`` is the KS test's (numbers) or the embedding
    test's (text); ``psi`` is set for numbers and categories; the means for numbers and
    booleans (the share that is true)."""

    field: str
    kind: FieldKind
    drifted: bool
    n_reference: int
    n_current: int
    psi: float | None = None
    psi_p_value: float | None = None
    ks_statistic: float | None = None
    p_value: float | None = None
    centroid_distance: float | None = None
    reference_mean: float | None = None
    current_mean: float | None = None


@dataclass
class WindowReport:
    """What one check of a workflow's reference and current windows found."""

    workflow: str
    status: Literal["ok", "drift", "insufficient_data"]
    checked_at: float
    n_reference: int
    n_current: int
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftReport(WindowReport):
    """The outcome of one check of one workflow's inputs, field by field."""

    fields: list[FieldDrift] = field(default_factory=list)


def _kind(values: list[Any]) -> FieldKind | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "numeric"
    if all(isinstance(v, bool) for v in present):
        return "categorical"
    if all(isinstance(v, str) for v in present):
        distinct = len(set(present))
        short = sum(len(v) for v in present) / len(present) <= 24
        return "categorical" if short and distinct <= 20 else "text"
    return None


class DriftMonitor:
    """Compares each workflow's current inputs with its reference (see the module docstring).

    Args:
        store: holds the input log; reports and alerts are written here.
        spec: windows, sizes and thresholds.
        embedder: for text fields; made from ``spec.embedder`` on first need.
    """

    def __init__(self, store: Store, spec: DriftSpec, *, embedder: Embedder | None = None
                 ) -> None:
        self.store = store
        self.spec = spec
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from compound.intelligence.embedders import make_embedder

            self._embedder = make_embedder(self.spec.embedder)
        return self._embedder

    def pin_reference(self, workflow: str, *, since: float, until: float) -> int:
        """Use the inputs logged between ``since`` and ``until`` as the reference.

        Returns:
            how many logged inputs the pinned window holds.
        """
        rows = [r for r in self.store.read(input_stream(workflow), since=since) if r.ts < until]
        self.store.put(REFERENCES, workflow, {"since": since, "until": until, "n": len(rows)})
        return len(rows)

    def windows(self, workflow: str, now: float, *, stream: str | None = None,
                key: str = "input") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The reference and current rows of ``workflow``'s input log (or of another log
        kept the same way, ``stream``), at most ``max_samples`` current ones."""
        stream = stream or input_stream(workflow)
        pinned = self.store.get(REFERENCES, workflow)
        if pinned:
            reference = [r for r in self.store.read(stream, since=pinned["since"])
                         if r.ts < pinned["until"]]
        else:
            reference = list(self.store.read(stream, limit=self.spec.reference_size))
        last_ref = reference[-1].seq if reference else 0
        current = [r for r in self.store.read(stream, since=now - self.spec.window_s)
                   if r.seq > last_ref or pinned]
        rng = random.Random(0)
        if len(current) > self.spec.max_samples:
            current = rng.sample(current, self.spec.max_samples)
        return [r.data[key] for r in reference], [r.data[key] for r in current]

    def check(self, workflow: str, *, now: float | None = None) -> DriftReport:
        """Test every field of ``workflow``'s inputs; write the report and any new alerts."""
        now = time.time() if now is None else now
        reference, current = self.windows(workflow, now)
        report = DriftReport(workflow, "ok", now, len(reference), len(current))
        too_few = self.too_few(reference, current, "inputs")
        if too_few:
            report.status = "insufficient_data"
            report.message = too_few
        else:
            names = sorted({k for row in reference for k in row})
            for name in names:
                result = self.compare_field(name, [r.get(name) for r in reference],
                                            [r.get(name) for r in current])
                if result is not None:
                    report.fields.append(result)
            drifting = [f.field for f in report.fields if f.drifted]
            if drifting:
                report.status = "drift"
                report.message = f"drift in {', '.join(drifting)}"
        self._record(report)
        return report

    def too_few(self, reference: list[Any], current: list[Any], what: str) -> str:
        """Why the windows are too small for a verdict ('' when they are not)."""
        if min(len(reference), len(current)) >= self.spec.min_samples:
            return ""
        return (f"need {self.spec.min_samples} {what} in each window; have {len(reference)} "
                f"reference and {len(current)} current")

    def compare_field(self, name: str, ref: list[Any], cur: list[Any]) -> FieldDrift | None:
        """One field's test (None: no values to compare, or too few current ones)."""
        kind = _kind(ref)
        ref = [v for v in ref if v is not None]
        cur = [v for v in cur if v is not None]
        if kind is None or len(cur) < self.spec.min_samples:
            return None
        spec = self.spec
        if kind == "numeric":
            if not all(isinstance(v, int | float) for v in cur):
                return FieldDrift(name, kind, True, len(ref), len(cur))
            value, bins = stats.psi_bins(ref, cur)
            chance = stats.psi_p_value(value, len(ref), len(cur), bins)
            ks = stats.ks_2samp(ref, cur)
            drifted = ks.p_value < spec.p_value or (value > spec.psi_threshold
                                                    and chance < spec.p_value)
            return FieldDrift(name, kind, drifted, len(ref), len(cur), psi=round(value, 4),
                              psi_p_value=chance, ks_statistic=round(ks.statistic, 4),
                              p_value=ks.p_value, reference_mean=_mean(ref),
                              current_mean=_mean(cur))
        if kind == "categorical":
            value = stats.psi_categorical(ref, cur)
            categories = len({str(v) for v in ref} | {str(v) for v in cur})
            chance = stats.psi_p_value(value, len(ref), len(cur), categories)
            drifted = value > spec.psi_threshold and chance < spec.p_value
            shares = all(isinstance(v, bool) for v in ref + cur)
            return FieldDrift(name, kind, drifted, len(ref), len(cur), psi=round(value, 4),
                              psi_p_value=chance,
                              reference_mean=_mean(ref) if shares else None,
                              current_mean=_mean(cur) if shares else None)
        texts_ref = [str(v) for v in ref]
        texts_cur = [str(v) for v in cur]
        result = stats.embedding_drift(self.embedder.embed(texts_ref),
                                       self.embedder.embed(texts_cur))
        return FieldDrift(name, kind, result.p_value < spec.p_value, len(ref), len(cur),
                          p_value=result.p_value,
                          centroid_distance=round(result.centroid_distance, 4))

    def _record(self, report: DriftReport) -> None:
        previous = self.store.get(DRIFT, report.workflow) or {}
        was = {f["field"] for f in previous.get("fields", []) if f.get("drifted")}
        with self.store.transaction():
            self.store.put(DRIFT, report.workflow, report.to_dict())
            for f in report.fields:
                if f.drifted and f.field not in was:
                    self.store.append(ALERTS, {
                        "type": "drift", "workflow": report.workflow, "field": f.field,
                        "kind": f.kind, "psi": f.psi, "p_value": f.p_value,
                        "message": f"input field '{f.field}' of workflow '{report.workflow}' "
                                   f"drifted from its reference ({_evidence(f)})",
                    })


def _mean(values: list[Any]) -> float:
    return round(sum(float(v) for v in values) / len(values), 4)


def _evidence(f: FieldDrift) -> str:
    parts = []
    if f.psi is not None:
        parts.append(f"PSI {f.psi:.3f}")
    if f.ks_statistic is not None:
        parts.append(f"KS {f.ks_statistic:.3f}")
    if f.p_value is not None:
        parts.append(f"p={f.p_value:.2g}")
    if f.centroid_distance is not None:
        parts.append(f"centroid distance {f.centroid_distance:.3f}")
    return ", ".join(parts)


def latest_reports(store: Store) -> list[dict[str, Any]]:
    """The latest drift report of every workflow."""
    return [report for _, report in store.items(DRIFT)]


def recent_alerts(store: Store, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest alerts, newest first."""
    records = list(store.read(ALERTS))[-limit:]
    return [{**r.data, "ts": r.ts, "seq": r.seq} for r in reversed(records)]
