"""Prometheus metrics of a served system, one registry per app (no process-wide globals).

:class:`ServingMetrics` owns the counters and histograms that ``/metrics`` exposes. The HTTP
layer records requests; everything that happens *inside* a run reaches it through the run's
spans: the serving tracer (:class:`~compound.production.serving.tracer.ServingTracer`) hands
every ended span to :meth:`ServingMetrics.observe_span`. So other areas record into the
metrics by doing what they do anyway, tracing through the run context, and setting these
span attributes:

=================================  ======================================================
attribute (on any span)            counted in
=================================  ======================================================
``gen_ai.usage.input_tokens``,     ``compound_tokens_total{model, direction}`` (spans of
``gen_ai.usage.output_tokens``     kind ``model``, labelled by ``gen_ai.request.model``)
``compound.cost_usd``              ``compound_cost_usd_total{model}`` (``model`` spans)
``compound.cache.hit`` (bool)      ``compound_cache_lookups_total{cache, result}``: cache is
                                   ``compound.cache.name``, else the span's name
``compound.fallback.count`` (> 0)  ``compound_fallbacks_total{component, to}``: component is
                                   ``compound.fallback.chain``, to ``compound.fallback.used``
``compound.rail.action``           ``compound_guardrail_verdicts_total{rail, verdict}`` (allow,
                                   redact, escalate, block), rail is ``compound.rail.name``
=================================  ======================================================

These are the attributes the strategy layer (:mod:`compound.strategy.trace`) and the
guardrails (:mod:`compound.production.rails`) already set on their spans.
For example a cache records a hit with
``with ctx.span("cache", kind="strategy", **{"compound.cache.hit": True}): ...``. Code that
holds the app's metrics object may also call :meth:`ServingMetrics.record_fallback` and friends
directly.

Example:
    >>> metrics = ServingMetrics()
    >>> metrics.record_request("/v1/workflows/{name}", "POST", 200, 0.004)
    >>> metrics.observe_span({"kind": "rail", "attributes": {
    ...     "compound.rail.name": "pii", "compound.rail.action": "redact"}})
    >>> b'compound_guardrail_verdicts_total{rail="pii",verdict="redact"} 1.0' in metrics.render()
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compound.errors import require

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    """Counters and histograms of one served app, in their own Prometheus registry.

    The rollups behind the dashboard count the same events (see
    :class:`~compound.production.monitoring.monitor.Monitor`, which feeds both).
    """

    def __init__(self) -> None:
        prom: Any = require("prometheus_client", extra="serve", what="serving metrics")
        self.registry = prom.CollectorRegistry(auto_describe=True)
        counter, histogram, gauge = prom.Counter, prom.Histogram, prom.Gauge
        reg = self.registry
        self.requests = counter("compound_http_requests", "HTTP requests by route and status",
                                ["route", "method", "status"], registry=reg)
        self.latency = histogram("compound_http_request_duration_seconds",
                                 "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS,
                                 registry=reg)
        self.errors = counter("compound_errors", "errors by where they happened and type",
                              ["where", "type"], registry=reg)
        self.runs = counter("compound_runs", "workflow runs by outcome",
                            ["workflow", "status"], registry=reg)
        self.run_latency = histogram("compound_run_duration_seconds", "workflow run time",
                                     ["workflow"], buckets=LATENCY_BUCKETS, registry=reg)
        self.tokens = counter("compound_tokens", "model tokens", ["model", "direction"],
                              registry=reg)
        self.cost = counter("compound_cost_usd", "model cost in US dollars", ["model"],
                            registry=reg)
        self.cache = counter("compound_cache_lookups", "cache lookups", ["cache", "result"],
                             registry=reg)
        self.fallbacks = counter("compound_fallbacks", "fallbacks taken", ["component", "to"],
                                 registry=reg)
        self.verdicts = counter("compound_guardrail_verdicts", "guardrail verdicts",
                                ["rail", "verdict"], registry=reg)
        self.feedback = counter("compound_feedback", "user signals recorded",
                                ["kind", "value"], registry=reg)
        self.inflight = gauge("compound_inflight_requests", "requests being served",
                              registry=reg)
        self.batch_size = histogram("compound_ml_batch_size", "inputs per ML batch",
                                    ["model"], buckets=BATCH_BUCKETS, registry=reg)
        self.llm_waiting = gauge("compound_llm_queue_waiting", "calls waiting for an LLM",
                                 ["model"], registry=reg)
        self.disconnects = counter("compound_stream_disconnects",
                                   "streams whose client went away", registry=reg)
        self.drift = gauge("compound_drift_alerts_active", "fields drifting, by workflow",
                           ["workflow"], registry=reg)
        self.behaviour_drift = gauge("compound_behaviour_drift_active",
                                     "model behaviour signals drifting, by workflow",
                                     ["workflow"], registry=reg)
        self.quality = gauge("compound_quality_score", "latest online evaluation mean",
                             ["metric"], registry=reg)
        self._route_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}

    # -- recorded by the HTTP layer ---------------------------------------------------------

    def record_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._route_children.get(key)
        if child is None:  # labels() costs a lock and a dict build; keep the children
            child = self._route_children[key] = self.requests.labels(route, method, str(status))
        child.inc()
        lat = self._latency_children.get(route)
        if lat is None:
            lat = self._latency_children[route] = self.latency.labels(route)
        lat.observe(seconds)

    def record_run(self, workflow: str, status: str, seconds: float) -> None:
        self.runs.labels(workflow, status).inc()
        self.run_latency.labels(workflow).observe(seconds)

    def record_error(self, where: str, error_type: str) -> None:
        self.errors.labels(where, error_type).inc()

    def record_feedback(self, kind: str, value: str) -> None:
        self.feedback.labels(kind, value).inc()

    # -- recorded from spans ----------------------------------------------------------------

    def record_fallback(self, component: str, to: str) -> None:
        self.fallbacks.labels(component, to).inc()

    def record_cache(self, cache: str, hit: bool) -> None:
        self.cache.labels(cache, "hit" if hit else "miss").inc()

    def record_verdict(self, rail: str, verdict: str) -> None:
        self.verdicts.labels(rail, verdict).inc()

    def observe_span(self, span: Mapping[str, Any]) -> None:
        """Count what one ended span reports (see the module docstring for the attributes)."""
        attrs: Mapping[str, Any] = span.get("attributes") or {}
        if span.get("kind") == "model":
            model = str(attrs.get("gen_ai.request.model", "?"))
            tokens_in = attrs.get("gen_ai.usage.input_tokens")
            tokens_out = attrs.get("gen_ai.usage.output_tokens")
            if tokens_in:
                self.tokens.labels(model, "input").inc(float(tokens_in))
            if tokens_out:
                self.tokens.labels(model, "output").inc(float(tokens_out))
            cost = attrs.get("compound.cost_usd")
            if cost:
                self.cost.labels(model).inc(float(cost))
        if "compound.cache.hit" in attrs:
            self.record_cache(str(attrs.get("compound.cache.name") or span.get("name", "?")),
                              bool(attrs["compound.cache.hit"]))
        if fell_back(attrs):
            self.record_fallback(str(attrs.get("compound.fallback.chain") or span.get("name")),
                                 str(attrs.get("compound.fallback.used") or "none"))
        if "compound.rail.action" in attrs:
            self.record_verdict(str(attrs.get("compound.rail.name") or span.get("name", "?")),
                                str(attrs["compound.rail.action"]))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        prom: Any = require("prometheus_client", extra="serve", what="serving metrics")
        data: bytes = prom.generate_latest(self.registry)
        return data

    @property
    def content_type(self) -> str:
        prom: Any = require("prometheus_client", extra="serve", what="serving metrics")
        return str(prom.CONTENT_TYPE_LATEST)


def fell_back(attributes: Mapping[str, Any]) -> bool:
    """Whether a span records a fallback: a chain that moved past its first option."""
    try:
        return float(attributes.get("compound.fallback.count") or 0) > 0
    except (TypeError, ValueError):
        return False
