"""The monitoring of one server process, behind three hooks: a run ended, a span ended, a
signal arrived.

:class:`Monitor` feeds each event to the Prometheus metrics (``/metrics``), the rollups (the
dashboard's charts, kept in the store), the input log (drift) and the online evaluators
(quality), and each run's model behaviour to the behaviour log (behaviour drift).
:meth:`Monitor.flush` does the slow parts, writing rollups and the samples and scoring sampled
runs; the server calls it every ``serve.flush_every_s`` on a worker thread,
so the request path only counts.

Example:
    >>> from compound.store import MemoryStore
    >>> from compound.production.serving_spec import ServeSpec
    >>> from compound.production.serving.runner import RunEnd
    >>> monitor = Monitor(MemoryStore(), ServeSpec(), instance="test")
    >>> monitor.on_run_end(RunEnd("classify", "r1", {"text": "hi"}, 0.004, output="greeting"))
    >>> monitor.flush()["rollups"]
    1
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from compound.production.monitoring.behaviour import (
    BehaviourLog,
    BehaviourMonitor,
    BehaviourReport,
)
from compound.production.monitoring.drift_monitor import DriftMonitor, DriftReport, InputLog
from compound.production.monitoring.metrics import ServingMetrics
from compound.production.monitoring.quality import OnlineEvaluator, record_score
from compound.production.monitoring.rollups import Rollups

if TYPE_CHECKING:
    from compound.intelligence.embedders import Embedder
    from compound.production.serving.runner import RunEnd
    from compound.production.serving_spec import ServeSpec
    from compound.store.base import Store

Report = TypeVar("Report")
MAX_PENDING_SCORES = 10_000
RECENT = "recent_runs"
KEEP_RECENT = 500


class Monitor:
    """Metrics, rollups, drift and online quality of one server process.

    Args:
        store: where rollups, inputs, scores, drift reports and alerts are written.
        spec: the ``serve:`` section (drift settings, online evaluators, flush interval).
        instance: this process's name in rollup keys.
        embedder: for text drift; made from ``spec.drift.embedder`` on first need.
        evaluators: online evaluators (default: those of ``spec.online_evals``).
    """

    def __init__(self, store: Store, spec: ServeSpec, *, instance: str,
                 embedder: Embedder | None = None,
                 evaluators: list[OnlineEvaluator] | None = None) -> None:
        self.store = store
        self.spec = spec
        self.metrics = ServingMetrics()
        self.rollups = Rollups(store, instance=instance)
        per_flush = max(1, math.ceil(spec.drift.max_per_s * spec.flush_every_s))
        self.inputs = InputLog(store, sample_rate=spec.drift.sample_rate, per_flush=per_flush)
        self.drift = DriftMonitor(store, spec.drift, embedder=embedder)
        self.behaviour_log = BehaviourLog(store, sample_rate=spec.drift.sample_rate,
                                          per_flush=per_flush)
        self.behaviour = BehaviourMonitor(store, spec.drift, drift=self.drift)
        self.evaluators = (evaluators if evaluators is not None else
                           [OnlineEvaluator.from_spec(n, s) for n, s in spec.online_evals.items()])
        self._to_score: deque[tuple[OnlineEvaluator, RunEnd]] = deque(maxlen=MAX_PENDING_SCORES)
        self._recent: deque[dict[str, Any]] = deque(maxlen=100)
        self._flush_lock = threading.Lock()

    # -- hooks ------------------------------------------------------------------------------

    def on_run_end(self, end: RunEnd) -> None:
        """Count a finished run; sample its input for drift and its output for quality."""
        status = "completed" if end.error is None else "failed"
        self.metrics.record_run(end.workflow, status, end.duration_s)
        if end.error is not None:
            self.metrics.record_error("run", end.error)
        self.rollups.record_request(end.workflow, latency_s=end.duration_s, error=end.error)
        self._recent.append({"run_id": end.run_id, "workflow": end.workflow,
                             "status": status, "started": time.time() - end.duration_s,
                             "duration_ms": round(end.duration_s * 1000, 3),
                             "error": end.error})
        sampled = end.extra.get("drift", True)
        if self.spec.drift.enabled and sampled:
            self.inputs.add(end.workflow, end.input, end.run_id)
        if self.spec.drift.behaviour.enabled:
            self.behaviour_log.on_run_end(end.workflow, end.run_id, keep=sampled)
        if end.error is None:
            for evaluator in self.evaluators:
                if evaluator.wants(end.workflow):
                    self._to_score.append((evaluator, end))

    def on_span(self, span: Mapping[str, Any]) -> None:
        """Count what an ended span reports (tokens, cost, cache, fallbacks, verdicts)."""
        self.metrics.observe_span(span)
        self.rollups.record_span(span)
        if self.spec.drift.behaviour.enabled:
            self.behaviour_log.on_span(span)

    def on_feedback(self, kind: str, value: str) -> None:
        self.metrics.record_feedback(kind, value)
        self.rollups.record_feedback(kind, value)

    # -- background work --------------------------------------------------------------------

    def flush(self) -> dict[str, int]:
        """Score sampled runs, then write rollups and the samples. Thread-safe.

        Returns:
            how many scores, rollup buckets, inputs, behaviour rows and runs were written.
        """
        with self._flush_lock:
            scored = self._score_pending()
            return {"scores": scored, "rollups": self.rollups.flush(),
                    "inputs": self.inputs.flush(), "behaviour": self.behaviour_log.flush(),
                    "runs": self._flush_recent()}

    def _flush_recent(self) -> int:
        fresh = []
        while self._recent:
            fresh.append(self._recent.popleft())
        if not fresh:
            return 0
        with self.store.transaction():
            for run in fresh:
                self.store.put(RECENT, _recent_key(run), run)
            for key, _ in list(self.store.items(RECENT))[KEEP_RECENT:]:
                self.store.delete(RECENT, key)
        return len(fresh)

    def recent_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest runs first: this process's unwritten ones, then the store's."""
        held = sorted(self._recent, key=lambda r: -r["started"])
        seen = {r["run_id"] for r in held}
        stored = [r for _, r in self.store.items(RECENT, limit=limit)
                  if r["run_id"] not in seen]
        return (held + stored)[:limit]

    def _score_pending(self) -> int:
        scored = 0
        with self.store.transaction():
            scored = self._score_some()
        return scored

    def _score_some(self) -> int:
        scored = 0
        while self._to_score:
            evaluator, end = self._to_score.popleft()
            try:
                value, reason = evaluator.score(end.output, end.input)
            except Exception as exc:  # a broken metric must not stop monitoring
                self.metrics.record_error("online_eval", type(exc).__name__)
                continue
            if value is None:
                continue
            record_score(self.store, evaluator=evaluator.name, workflow=end.workflow,
                         run_id=end.run_id, value=value, reason=reason)
            self.rollups.record_quality(evaluator.name, value)
            if self.spec.drift.behaviour.enabled:
                self.behaviour_log.add_score(end.workflow, end.run_id, evaluator.name, value)
            self.metrics.quality.labels(evaluator.name).set(value)
            scored += 1
        return scored

    def check_drift(self, workflows: list[str]) -> list[DriftReport]:
        """Run a drift check of each workflow's inputs now (writes reports and alerts)."""
        self.inputs.flush()
        reports = self._each(workflows, self.drift.check, "drift")
        for report in reports:
            self.metrics.drift.labels(report.workflow).set(
                sum(1 for f in report.fields if f.drifted))
        return reports

    def check_behaviour(self, workflows: list[str]) -> list[BehaviourReport]:
        """Run a behaviour drift check of each workflow now (writes reports and alerts)."""
        self.behaviour_log.flush()
        reports = self._each(workflows, self.behaviour.check, "behaviour_drift")
        for report in reports:
            self.metrics.behaviour_drift.labels(report.workflow).set(
                sum(1 for s in report.signals if s.drifted))
        return reports

    def _each(self, workflows: list[str], check: Callable[[str], Report], where: str
              ) -> list[Report]:
        reports = []
        for name in workflows:
            try:
                reports.append(check(name))
            except Exception as exc:  # one workflow's failure (no embedder) spares the rest
                self.metrics.record_error(where, type(exc).__name__)
        return reports


def _recent_key(run: Mapping[str, Any]) -> str:
    # newest first in key order: the store lists collections by key
    return f"{1e10 - run['started']:017.6f}/{run['run_id']}"
