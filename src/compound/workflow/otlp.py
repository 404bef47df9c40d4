"""Export spans over OTLP/HTTP so Phoenix, Langfuse or Jaeger can show them.

Needs the ``otlp`` extra (``pip install 'compound[otlp]'``): compound's spans become
OpenTelemetry SDK spans here and only here. The sink has its own bounded queue and thread: a
slow or unreachable collector drops spans (counted in ``dropped``) instead of slowing the
store writer or any request.

The endpoint and headers follow OpenTelemetry's environment variables
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``) unless given.

Example (nothing is sent until a traced run finishes):
    >>> from compound.store import MemoryStore
    >>> from compound.workflow.tracing import StoreSink, Tracer
    >>> sink = OTLPSink(endpoint="http://127.0.0.1:4318/v1/traces", service_name="desk")
    >>> tracer = Tracer(StoreSink(MemoryStore()), sink)
    >>> sink.endpoint, sink.exported, sink.dropped
    ('http://127.0.0.1:4318/v1/traces', 0, 0)
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from compound.errors import require

_CLIENT_KINDS = {"model", "tool", "retrieval"}


class OTLPSink:
    """A :class:`~compound.workflow.tracing.SpanSink` sending spans to an OTLP/HTTP endpoint.

    Args:
        endpoint: the traces URL (``http://host:4318/v1/traces``).
        headers: extra HTTP headers (API keys for hosted collectors).
        service_name: the ``service.name`` resource attribute.
        max_queue: spans waiting beyond this are dropped.
        timeout_s: the most one export request may take in total (connecting, sending and
            the whole answer): a slow or trickling collector is given up at it.
    """

    def __init__(self, *, endpoint: str | None = None, headers: Mapping[str, str] | None = None,
                 service_name: str | None = None, max_queue: int = 10_000,
                 timeout_s: float = 10.0) -> None:
        self.endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318").rstrip("/")
            + "/v1/traces")
        self.headers = dict(headers or {})
        self.service_name = service_name or os.environ.get("OTEL_SERVICE_NAME", "compound")
        self.timeout_s = timeout_s
        self.dropped = 0
        self.exported = 0
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._exporter: Any = None
        self._idle = threading.Event()
        self._idle.set()

    def export(self, spans: Sequence[dict[str, Any]]) -> None:
        if self._thread is None:
            self._exporter = self._make_exporter()
            self._thread = threading.Thread(target=self._loop, name="compound-otlp",
                                            daemon=True)
            self._thread.start()
        try:
            self._idle.clear()
            self._queue.put_nowait(list(spans))
        except queue.Full:
            self.dropped += len(spans)

    def _make_exporter(self) -> _BoundedExporter:
        require("opentelemetry.sdk.trace", extra="otlp", what="OTLP trace export")
        require("opentelemetry.exporter.otlp.proto.common.trace_encoder", extra="otlp",
                what="OTLP trace export")
        return _BoundedExporter(self.endpoint, self.headers, self.timeout_s)

    def _loop(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            try:
                if self._exporter.export([self.to_otel(s) for s in batch]):
                    self.exported += len(batch)
                else:
                    self.dropped += len(batch)
            except Exception:  # the collector's problem must never become the caller's
                self.dropped += len(batch)
            if self._queue.empty():
                self._idle.set()

    def to_otel(self, span: Mapping[str, Any]) -> Any:
        """An OpenTelemetry SDK ``ReadableSpan`` for one of compound's span records."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        trace_id = int(span["trace_id"], 16)
        context = SpanContext(trace_id, int(span["span_id"], 16), is_remote=False,
                              trace_flags=TraceFlags(TraceFlags.SAMPLED))
        parent = (SpanContext(trace_id, int(span["parent_id"], 16), is_remote=False)
                  if span.get("parent_id") else None)
        status = (Status(StatusCode.ERROR, span.get("error") or "")
                  if span["status"] == "error" else Status(StatusCode.OK))
        attributes = {k: _otel_value(v) for k, v in span["attributes"].items() if v is not None}
        attributes["compound.span.kind"] = span["kind"]
        return ReadableSpan(
            name=span["name"], context=context, parent=parent,
            resource=Resource.create({"service.name": self.service_name}),
            attributes=attributes,
            kind=SpanKind.CLIENT if span["kind"] in _CLIENT_KINDS else SpanKind.INTERNAL,
            status=status, start_time=span["start_ns"], end_time=span["end_ns"],
        )

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Wait (up to ``timeout_s``) for queued spans to be sent, then stop."""
        if self._thread is None:
            return
        self._idle.wait(timeout_s)
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._exporter.shutdown()


class _BoundedExporter:
    """POSTs encoded spans to the collector, each request bounded in total by ``timeout_s``.

    The SDK's own exporter bounds each read only (a collector trickling its answer holds the
    export thread, and with it every later span, for as long as it likes); this one sends
    through compound's deadline-bound HTTP transport, which shuts the connection when the
    request's :class:`~compound.intelligence.llm.deadline.Deadline` passes.
    """

    def __init__(self, endpoint: str, headers: Mapping[str, str], timeout_s: float) -> None:
        import httpx
        from opentelemetry.util.re import parse_env_headers

        from compound.intelligence.llm.bounded_http import bounded_client

        from_env = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
            "OTEL_EXPORTER_OTLP_HEADERS", "")
        sent = {**parse_env_headers(from_env, liberal=True), **headers,
                "Content-Type": "application/x-protobuf"}
        self.endpoint, self.timeout_s = endpoint, timeout_s
        self.client = bounded_client(httpx, timeout_s=timeout_s, headers=sent)

    def export(self, spans: Sequence[Any]) -> bool:
        """Send one batch; True when the collector accepted it."""
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        from compound.intelligence.llm.deadline import Deadline

        body = encode_spans(spans).SerializeToString()
        with Deadline.scope(self.timeout_s,
                            label=f"the OTLP export's timeout_s of {self.timeout_s:g}s"):
            response = self.client.post(self.endpoint, content=body)
        return 200 <= response.status_code < 300

    def shutdown(self) -> None:
        self.client.close()


def _otel_value(value: Any) -> Any:
    """OpenTelemetry attributes hold scalars or lists of one scalar type; JSON for the rest."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
