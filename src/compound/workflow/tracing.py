"""Spans for every run, step, model call, tool call and retrieval, off the request path.

Spans here are light objects (a slotted class, timestamps and an attribute dict) that follow
the OpenTelemetry data model and the GenAI semantic conventions for attribute names
(``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ...). They become OpenTelemetry SDK
spans only in :class:`~compound.workflow.otlp.OTLPSink`, so the OpenTelemetry SDK is
never imported on the request path and costs nothing when OTLP export is off.

Ending a span puts it on a queue; one background thread per :class:`Tracer` applies the
redaction hook, turns attribute values into JSON and hands batches to the sinks (the store,
OTLP). A request never waits for a sink; :meth:`Tracer.flush` waits for them on purpose
(the CLI calls it before exiting).

Plain workflow steps (no context, retries, loop, fan-out or side effects) make no span object
while they run: the engine times every step anyway, and a traced run hands its record
(:class:`~compound.workflow.records.RunRecord`) to :meth:`Tracer.put` once, at its end; the
background thread builds their spans. Model
and tool spans leave their response attributes to the background thread too
(:meth:`Span.set_later`).

Span kinds, and the attributes compound sets on each:

* ``run``: ``compound.workflow``, ``compound.run.status``, ``compound.run.stop_reason``;
* ``step``: ``compound.step``, ``compound.step.attempt``, ``compound.step.skipped``,
  ``compound.loop.iterations``, ``compound.loop.stop_reason``, and on an LLM step that sent a
  registered prompt, ``compound.prompt`` (``name@version``, :mod:`compound.orchestration.prompts`);
* ``model``: ``gen_ai.operation.name`` (``chat``), ``gen_ai.provider.name``,
  ``gen_ai.request.model``, ``gen_ai.usage.input_tokens``/``output_tokens``,
  ``gen_ai.response.finish_reasons``, ``compound.cost_usd``, ``compound.latency_s``;
* ``tool``: ``gen_ai.operation.name`` (``execute_tool``), ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id``, ``compound.tool.outcome``;
* ``agent``: ``gen_ai.operation.name`` (``invoke_agent``), ``gen_ai.agent.name``,
  ``compound.agent.stop_reason``, ``compound.agent.iterations``;
* ``critique`` (set by the built-in critique step): ``compound.critique.question``,
  ``compound.critique.draft``, ``compound.critique.output``, ``compound.critique.rounds``
  (each round's critique and revision), ``compound.critique.revised``;
* ``retrieval`` and ``context`` (set by the retrieval layer and the context builder):
  ``compound.retrieval.query``, ``compound.retrieval.documents``, ``compound.context.dropped``
  (what the context builder left out, and why), ``compound.context.tokens``.

Inputs and outputs (the keys in :data:`CONTENT_KEYS`) pass through the redaction hook before
they reach any sink; ``capture_content=False`` drops them.

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> tracer = Tracer(StoreSink(store))
    >>> span = tracer.start("answer", "step", trace_id="ab" * 16)
    >>> tracer.end(span)
    >>> tracer.flush()
    True
    >>> [s["name"] for s in read_spans(store, "ab" * 16)]
    ['answer']
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from compound.json_values import NotJSONError, to_json
from compound.privacy.errors import error_text
from compound.store.base import Store

# attribute keys holding inputs and outputs: these go through the redaction hook
CONTENT_KEYS = frozenset({
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result", "compound.input", "compound.output",
    "compound.retrieval.query", "compound.retrieval.documents",
    "compound.critique.question", "compound.critique.draft", "compound.critique.output",
    "compound.critique.rounds",
})

Redactor = Callable[[str, Any], Any]

# spans handed to the sinks at a time: small enough that what the export builds dies young
# (long-lived garbage makes the collector's full passes, which land on the request path)
_CHUNK = 256


class SpanParent(Protocol):
    """What a child span needs of its parent: the parent's id."""

    @property
    def span_id(self) -> int: ...


class SpanRef:
    """A span's id before (or without) its span object: what child spans need as parent."""

    __slots__ = ("span_id",)

    def __init__(self) -> None:
        self.span_id = random.getrandbits(64) or 1


#: stands, as a context's parent span, for the span of a deferred run before that span exists;
#: its id is derived from the run id (:func:`run_span_id`), so nothing is made per run
RUN_SPAN = SpanRef.__new__(SpanRef)
RUN_SPAN.span_id = 0


def run_span_id(run_id: str) -> int:
    """The span id of a deferred run's own span: the low 64 bits of its run (trace) id."""
    try:
        value = int(run_id[-16:], 16)
    except ValueError:
        value = int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=8).digest(), "big")
    return value or 1


class Span(SpanRef):
    """One timed operation. Times are nanoseconds since the epoch; ids are integers.

    ``later`` and ``later_value`` hold attributes still to be worked out, as
    ``later(later_value)`` on the tracer's thread, whose returned dict is merged into
    ``attributes`` (so e.g. a model call's response becomes GenAI attributes off the
    request path; see :meth:`set_later`).
    """

    __slots__ = ("attributes", "end_ns", "error", "kind", "later", "later_value", "name",
                 "parent_id", "start_ns", "status", "trace_id")

    def __init__(
        self, name: str, kind: str, trace_id: str, parent_id: int | None,
        attributes: dict[str, Any] | None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = random.getrandbits(64) or 1
        self.parent_id = parent_id
        self.attributes = attributes if attributes is not None else {}
        self.status = "ok"
        self.error: str | None = None
        self.later: Callable[[Any], dict[str, Any]] | None = None
        self.later_value: Any = None
        self.start_ns = time.time_ns()
        self.end_ns = 0

    @classmethod
    def finished(
        cls, name: str, kind: str, *, trace_id: str, parent_id: int | None, start_ns: int,
        end_ns: int, attributes: dict[str, Any], span_id: int | None = None,
        error: BaseException | str | None = None,
    ) -> Span:
        """A span that has already ended (built after the fact from a record)."""
        span = cls(name, kind, trace_id, parent_id, attributes)
        if span_id is not None:
            span.span_id = span_id
        span.start_ns, span.end_ns = start_ns, end_ns
        if error is not None:
            span.fail(error)
        return span

    def set(self, key: str, value: Any) -> None:
        """Set one attribute."""
        self.attributes[key] = value

    def set_later(self, function: Callable[[Any], dict[str, Any]], value: Any) -> None:
        """Attributes ``function(value)``, worked out off the request path when exported
        (``value`` must not change after the span ends)."""
        self.later, self.later_value = function, value

    def work_out(self) -> None:
        """Add the attributes left for later (:meth:`set_later`) now."""
        function, value = self.later, self.later_value
        if function is None:
            return
        self.later = self.later_value = None
        try:
            self.attributes.update(function(value))
        except Exception as exc:  # a span loses the attributes it failed to work out
            self.attributes["compound.trace.error"] = f"{type(exc).__name__}: {exc}"

    def fail(self, error: BaseException | str, *, status: str = "error") -> None:
        """Mark the span failed: an exception is kept as its type and error id (its text, which
        may carry a secret, goes to the server log under the id; see
        :mod:`compound.privacy.errors`), a :class:`~compound.errors.UserError` with its message,
        a string as given."""
        self.status = status
        self.error = error_text(error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "trace_id": self.trace_id,
            "span_id": f"{self.span_id:016x}",
            "parent_id": f"{self.parent_id:016x}" if self.parent_id else None,
            "start_ns": self.start_ns, "end_ns": self.end_ns, "status": self.status,
            "error": self.error, "attributes": self.attributes,
        }


class Record(Protocol):
    """Finished work handed to :meth:`Tracer.put`, whose spans are built after the fact on the
    tracer's thread (a workflow run's :class:`~compound.workflow.records.RunRecord`, an agent
    run's log)."""

    def spans(self, clock_offset_ns: int) -> Iterable[Span]:
        """The spans; adding ``clock_offset_ns`` turns ``time.perf_counter_ns()`` readings
        into epoch time."""
        ...


class SpanSink(Protocol):
    """Where finished spans go: the store, an OTLP endpoint, a test's list."""

    def export(self, spans: Sequence[dict[str, Any]]) -> None:
        """Take a batch of finished spans (as :meth:`Span.to_dict` dicts, already redacted)."""

    def shutdown(self) -> None:
        """Flush and release what the sink holds."""


class ListSink:
    """Keeps spans in a list: the fake for tests.

    Example:
        >>> sink = ListSink()
        >>> tracer = Tracer(sink)
        >>> tracer.end(tracer.start("x", "step", trace_id="0" * 32))
        >>> tracer.flush() and [s["name"] for s in sink.spans]
        ['x']
    """

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

    def export(self, spans: Sequence[dict[str, Any]]) -> None:
        self.spans.extend(spans)

    def shutdown(self) -> None:
        return None


class StoreSink:
    """Writes spans to the store, stream ``trace:{run_id}``, one record per batch."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def export(self, spans: Sequence[dict[str, Any]]) -> None:
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for span in spans:
            by_trace.setdefault(span["trace_id"], []).append(span)
        with self.store.transaction():  # one commit per batch, not per run
            for trace_id, batch in by_trace.items():
                self.store.append(f"trace:{trace_id}", {"spans": batch})

    def shutdown(self) -> None:
        return None


def read_spans(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The spans of a run written by :class:`StoreSink`, in start order."""
    spans = [span for record in store.read(f"trace:{run_id}") for span in record.data["spans"]]
    return sorted(spans, key=lambda s: (s["start_ns"], s["end_ns"]))


class Tracer:
    """Starts and ends spans; a background thread redacts them and feeds the sinks.

    Ending a span appends it to an in-memory queue; the background thread wakes every
    ``interval_s`` (or when ``batch_size`` spans are waiting) and exports what is there, so
    the request path pays for neither serialisation nor I/O.

    Args:
        sinks: where finished spans go.
        redact: called as ``redact(key, value)`` for each input/output attribute (see
            :data:`CONTENT_KEYS`), with the value already as JSON data (dicts, lists,
            strings); returns the value to keep (e.g. with emails masked).
        capture_content: False drops inputs and outputs from spans altogether.
        interval_s: how often the background thread exports.
        batch_size: export early when this many spans are waiting.

    Example:
        >>> sink = ListSink()
        >>> tracer = Tracer(sink, redact=lambda key, value: "***")
        >>> span = tracer.start("lookup", "tool", trace_id="1" * 32,
        ...                     attributes={"gen_ai.tool.call.arguments": {"card": "4242"}})
        >>> tracer.end(span); tracer.flush()
        True
        >>> sink.spans[0]["attributes"]["gen_ai.tool.call.arguments"]
        '***'
    """

    #: whether a workflow run may hand over its own span and its plain steps' spans at its end
    #: (:meth:`put`) instead of starting and ending them live; a tracer that acts on spans
    #: as they start and end (live step events, metrics) sets it False
    deferred = True

    def __init__(
        self, *sinks: SpanSink, redact: Redactor | None = None, capture_content: bool = True,
        interval_s: float = 0.5, batch_size: int = 2048,
    ) -> None:
        self.sinks = list(sinks)
        self.redact = redact
        self.capture_content = capture_content
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.dropped = 0  # spans that did not reach a sink
        self.last_error: str | None = None  # why the last of them did not
        self._messages: dict[int, tuple[Any, Any]] = {}  # id -> (message, its JSON)
        self._pending: deque[Span | Record] = deque()
        self._wake = threading.Event()
        self._flushed: list[threading.Event] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(
        self, name: str, kind: str, *, trace_id: str, parent_id: int | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Span:
        """A new span, started now."""
        return Span(name, kind, trace_id, parent_id, attributes)

    def end(self, span: Span) -> None:
        """End ``span`` now and queue it for the sinks (never blocks on them)."""
        span.end_ns = time.time_ns()
        pending = self._pending
        pending.append(span)
        if self._thread is None:
            self._start_thread()
        elif len(pending) >= self.batch_size:
            self._wake.set()

    def put(self, record: Record) -> None:
        """Queue a record of finished work; the background thread builds its spans
        (:meth:`Record.spans`). Never blocks. What the record holds must not change
        afterwards."""
        pending = self._pending
        pending.append(record)
        if self._thread is None:
            self._start_thread()
        elif len(pending) >= self.batch_size:
            self._wake.set()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._drain, name="compound-tracer",
                                          daemon=True)
                thread.start()
                self._thread = thread

    def _drain(self) -> None:
        pending = self._pending
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            with self._lock:
                waiters, self._flushed = self._flushed, []
            while pending:
                batch = []
                while pending and len(batch) < self.batch_size:
                    batch.append(pending.popleft())
                self._export(batch)
            for waiter in waiters:
                waiter.set()

    def _export(self, batch: list[Span | Record]) -> None:
        offset = time.time_ns() - time.perf_counter_ns()
        records: list[dict[str, Any]] = []
        for item in batch:
            if isinstance(item, Span):
                records.append(self._record(item))
            else:
                try:
                    records.extend(self._record(span) for span in item.spans(offset))
                except Exception:  # a broken record costs its own spans, never the batch
                    self.dropped += 1
            if len(records) >= _CHUNK:
                self._send(records)
                records = []
        if records:
            self._send(records)
        self._messages.clear()  # keeps nothing alive between batches

    def _send(self, records: list[dict[str, Any]]) -> None:
        for sink in self.sinks:
            try:
                sink.export(records)
            except Exception as exc:  # a failing sink must not stop tracing for the others
                self.dropped += len(records)
                self.last_error = f"{type(sink).__name__}: {exc}"

    def _record(self, span: Span) -> dict[str, Any]:
        span.work_out()
        attributes = span.attributes
        for key in CONTENT_KEYS.intersection(attributes):
            value = attributes[key]
            if not self.capture_content:
                del attributes[key]
                continue
            if value is None or isinstance(value, bool | int) or (
                    isinstance(value, float) and math.isfinite(value)):
                continue  # nothing to convert or redact
            try:
                if isinstance(value, tuple) and key == "gen_ai.input.messages":
                    value = [self._message_json(message) for message in value]
                else:
                    value = to_json(value, where=key)
            except NotJSONError:
                value = repr(value)[:2000]
            if self.redact is not None:
                try:
                    value = self.redact(key, value)
                except Exception as exc:  # never leak what a broken hook failed to redact
                    value = f"<redaction failed: {type(exc).__name__}>"
            attributes[key] = value
        return span.to_dict()

    def _message_json(self, message: Any) -> Any:
        """A model input message as JSON; each message object is converted once per export
        batch, since every turn of an agent sends the conversation so far."""
        known = self._messages.get(id(message))
        if known is not None and known[0] is message:
            return known[1]
        data = to_json(message, where="gen_ai.input.messages")
        self._messages[id(message)] = (message, data)
        return data

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every span ended so far has reached the sinks; False on timeout."""
        if self._thread is None:
            return True
        done = threading.Event()
        with self._lock:
            self._flushed.append(done)
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush, then shut the sinks down."""
        self.flush(timeout_s)
        for sink in self.sinks:
            sink.shutdown()


def walk_tree(spans: Iterable[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Spans depth-first as ``(depth, span)``, children in start order (for printing)."""
    spans = list(spans)
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children.setdefault(parent, []).append(span)

    def visit(parent: str | None, depth: int) -> Iterator[tuple[int, dict[str, Any]]]:
        for span in sorted(children.get(parent, []), key=lambda s: s["start_ns"]):
            yield depth, span
            yield from visit(span["span_id"], depth + 1)

    yield from visit(None, 0)
