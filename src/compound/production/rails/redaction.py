"""Keeping secrets and personal data out of what is stored: traces and logs.

* :class:`TraceRedactor` is the tracer's redaction hook (``Tracer(..., redact=...)``): it
  walks a span's inputs and outputs (strings, lists, mappings) and replaces secrets and,
  unless told otherwise, personal data; a mapping value under a secret-sounding key
  (``api_key``, ``password``, ``authorization``...) is replaced whole.
* :class:`RedactingSink` wraps any span sink and applies the same redaction to *every*
  attribute and to error messages, not only to inputs and outputs: an exception message that
  quotes a key never reaches the store.
* :class:`SecretsLogFilter` does it for log records.

Example:
    >>> redact = TraceRedactor()
    >>> redact("compound.input", {"question": "mail ada@example.com", "api_key": "abc123"})
    {'question': 'mail <EMAIL_ADDRESS>', 'api_key': '<SECRET>'}
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from compound.production.rails.recognizers import find_entities
from compound.production.rails.secrets import find_secrets
from compound.production.rails.verdict import apply_redactions

if TYPE_CHECKING:
    from compound.workflow.tracing import SpanSink

_SECRET_KEY = re.compile(
    r"(?i)(?:^|[_\-.])(?:api[_\-]?key|apikey|secret|password|passwd|pwd|token|authorization|"
    r"auth|cookie|credentials?|private[_\-]?key)(?:$|[_\-.])"
)
_MAX_DEPTH = 32


@functools.lru_cache(maxsize=1024)
def _secret_key(key: object) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``password``, ...)."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


# a TraceRedactor remembers the redaction of this many texts up to this long (at most ~16 MB)
_REMEMBER, _REMEMBER_CHARS = 1024, 16_384


class TraceRedactor:
    """Redacts secrets (and personal data) from JSON data; a tracer's ``redact`` hook.

    Args:
        pii: also redact personal data (emails, phones, cards, IBANs, national ids, names).
        entities: which personal data types (all when None).
        known: exact secret values to redact wherever they appear.

    Example:
        >>> TraceRedactor(pii=False)("compound.output", "card 4111 1111 1111 1111")
        'card 4111 1111 1111 1111'
    """

    def __init__(self, *, pii: bool = True, entities: Sequence[str] | None = None,
                 known: Iterable[str] = ()) -> None:
        self.pii = pii
        self.entities = list(entities) if entities is not None else None
        self.known = [k for k in known if len(k) >= 8]
        # an agent's spans repeat the conversation so far: each text is scanned once
        self._seen: dict[str, str] = {}

    def text(self, value: str) -> str:
        """One string, redacted."""
        seen = self._seen
        done = seen.get(value)
        if done is not None:
            return done
        spans = find_secrets(value, known=self.known)
        if self.pii:
            spans += find_entities(value, self.entities)
        done = apply_redactions(value, spans) if spans else value
        if len(value) <= _REMEMBER_CHARS:
            if len(seen) >= _REMEMBER:
                seen.clear()
            seen[value] = done
        return done

    def value(self, value: Any, depth: int = 0) -> Any:
        """Any JSON value, redacted (strings inside lists and mappings too)."""
        if isinstance(value, str):
            return self.text(value)
        if depth > _MAX_DEPTH:
            return "<too deep to redact>"
        if isinstance(value, dict):
            return {k: ("<SECRET>" if isinstance(v, str) and _secret_key(k)
                        else self.value(v, depth + 1))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v, depth + 1) for v in value]
        return value

    def __call__(self, key: str, value: Any) -> Any:
        """The tracer's hook: ``redact(attribute key, JSON value) -> value to keep``."""
        return self.value(value)


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
