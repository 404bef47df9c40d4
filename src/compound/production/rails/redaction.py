"""Keeping secrets and personal data out of what is exported: traces and logs.

The redaction itself, :class:`~compound.privacy.redactor.Redactor`, lives in
:mod:`compound.privacy`, below the store (which redacts every record it writes with it);
:class:`TraceRedactor` is its name as a tracer's hook. Here:

* :class:`RedactingSink` wraps any span sink and applies the redaction to *every* attribute
  and to error messages, not only to inputs and outputs (for sinks outside the store: OTLP);
* :class:`SecretsLogFilter` does it for log records.

Example:
    >>> redact = TraceRedactor()
    >>> redact("compound.input", {"question": "mail ada@example.com", "api_key": "abc123"})
    {'question': 'mail <EMAIL_ADDRESS>', 'api_key': '<SECRET>'}
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from compound.privacy.redactor import Redactor

if TYPE_CHECKING:
    from compound.workflow.tracing import SpanSink

#: the tracer's redaction hook (``Tracer(..., redact=TraceRedactor())``)
TraceRedactor = Redactor

__all__ = ["RedactingSink", "SecretsLogFilter", "TraceRedactor"]


class RedactingSink:
    """A span sink that redacts every attribute and error message before passing spans on.

    Args:
        sink: where redacted spans go (the store sink, the OTLP sink).
        redactor: the redaction (a :class:`TraceRedactor` by default).

    Example:
        >>> from compound.workflow.tracing import ListSink
        >>> inner = ListSink()
        >>> RedactingSink(inner).export([{"name": "call", "error": "bad key sk-ant-"
        ...     + "x" * 24, "attributes": {"gen_ai.request.model": "m"}}])
        >>> inner.spans[0]["error"]
        'bad key <API_KEY>'
    """

    def __init__(self, sink: SpanSink, redactor: TraceRedactor | None = None) -> None:
        self.sink = sink
        self.redactor = redactor or TraceRedactor()

    def export(self, spans: Sequence[dict[str, Any]]) -> None:
        redact = self.redactor
        cleaned = []
        for span in spans:
            span = dict(span)
            span["attributes"] = {k: redact(k, v)
                                  for k, v in (span.get("attributes") or {}).items()}
            if isinstance(span.get("error"), str):
                span["error"] = redact.text(span["error"])
            cleaned.append(span)
        self.sink.export(cleaned)

    def shutdown(self) -> None:
        self.sink.shutdown()


class SecretsLogFilter(logging.Filter):
    """A logging filter that redacts secrets from each record's message.

    Attach it to the handlers that write logs: ``handler.addFilter(SecretsLogFilter())``.

    Args:
        known: exact secret values to redact.
        pii: also redact personal data.
    """

    def __init__(self, *, known: Iterable[str] = (), pii: bool = False) -> None:
        super().__init__()
        self.redactor = TraceRedactor(pii=pii, known=known)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor.text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            record.exc_text = self.redactor.text(
                "".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        return True
