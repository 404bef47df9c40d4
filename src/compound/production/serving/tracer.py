"""The tracer of a served system: spans to the store as usual, and on the way, step events to
streaming clients and counts to the monitoring.

It is a :class:`~compound.workflow.tracing.Tracer` (the same background export to the store
and OTLP), with two additions made where a span starts and ends, on the request path, so they
cost a dictionary look-up or two (and every step gets a live span: ``deferred = False``):

* a ``step`` span publishes ``step`` events (started, then completed/failed/skipped with its
  duration) to the run's :class:`~compound.production.serving.events.RunChannel`, if the run
  is being streamed;
* every ended span is handed to ``observe`` (the Prometheus metrics and the rollups read
  tokens, cost, cache hits, fallbacks and guardrail verdicts from its attributes).

Example:
    >>> from compound.workflow.tracing import ListSink
    >>> seen = []
    >>> tracer = ServingTracer(ListSink(), observe=seen.append)
    >>> tracer.end(tracer.start("chat", "model", trace_id="0" * 32,
    ...                         attributes={"gen_ai.usage.output_tokens": 7}))
    >>> seen[0]["kind"], seen[0]["attributes"]["gen_ai.usage.output_tokens"]
    ('model', 7)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from compound.production.serving.events import current_channel, current_step
from compound.workflow.tracing import Span, SpanSink, Tracer

Observer = Callable[[Mapping[str, Any]], None]


class ServingTracer(Tracer):
    """A tracer that also feeds live step events and monitoring (see the module docstring).

    Args:
        sinks: where finished spans go (the store, OTLP).
        observe: called with ``{"kind", "name", "attributes", "status", "trace_id"}`` of each
            ended span (the trace id is the run's id).
        kwargs: as for :class:`~compound.workflow.tracing.Tracer`.
    """

    deferred = False  # every step's span starts and ends live, for the events and metrics

    def __init__(self, *sinks: SpanSink, observe: Observer | None = None, **kwargs: Any
                 ) -> None:
        super().__init__(*sinks, **kwargs)
        self.observe = observe

    def _send(self, records: list[dict[str, Any]]) -> None:
        dropped = self.dropped
        super()._send(records)
        if self.dropped > dropped:  # a sink failed (a full store): say so in the server log
            from compound.production.serving.recorder import lost_writes

            lost_writes("spans", self.dropped, RuntimeError(self.last_error or "unknown"))

    def start(self, name: str, kind: str, *, trace_id: str, parent_id: int | None = None,
              attributes: dict[str, Any] | None = None) -> Span:
        span = super().start(name, kind, trace_id=trace_id, parent_id=parent_id,
                             attributes=attributes)
        if kind == "step":
            channel = current_channel.get()
            if channel is not None and channel.run_id == trace_id:
                current_step.set(name)
                skipped = (attributes or {}).get("compound.step.skipped")
                if skipped is None:
                    channel.publish("step", {"step": name, "status": "started"})
        return span

    def end(self, span: Span) -> None:
        # read the span before handing it on: the export thread rewrites its attributes
        if self.observe is not None:
            span.work_out()  # e.g. a model call's token counts
            self.observe({"kind": span.kind, "name": span.name, "status": span.status,
                          "attributes": span.attributes, "trace_id": span.trace_id})
        if span.kind == "step":
            channel = current_channel.get()
            if channel is not None and channel.run_id == span.trace_id:
                attrs = span.attributes
                status = ("skipped" if "compound.step.skipped" in attrs
                          else "completed" if span.status == "ok" else "failed")
                event: dict[str, Any] = {
                    "step": span.name, "status": status,
                    "duration_ms": round((time.time_ns() - span.start_ns) / 1e6, 3)}
                if status == "skipped":
                    event["reason"] = attrs["compound.step.skipped"]
                elif span.error:
                    event["error"] = span.error
                channel.publish("step", event)
        super().end(span)
