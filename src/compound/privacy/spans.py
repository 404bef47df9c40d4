"""Spans of a text to redact, and the redacted text: the one representation every
recogniser (personal data, secrets) and every redaction (rails, the store, logs) shares.

Example:
    >>> found = Redaction(start=9, end=24, label="EMAIL_ADDRESS")
    >>> apply_redactions("Write to ada@example.com today.", [found])
    'Write to <EMAIL_ADDRESS> today.'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Redaction:
    """A span of a text to replace, and what it is.

    Attributes:
        start: offset of the first character (in the text as it was checked).
        end: offset after the last character.
        label: the kind of thing found (``EMAIL_ADDRESS``, ``CREDIT_CARD``, ``API_KEY``...).
    """

    start: int
    end: int
    label: str

    @property
    def replacement(self) -> str:
        return f"<{self.label}>"


def merge_spans(spans: Iterable[Redaction]) -> list[Redaction]:
    """Spans sorted by start with overlaps merged (the earlier span's label wins)."""
    merged: list[Redaction] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            if span.end > last.end:
                merged[-1] = Redaction(last.start, span.end, last.label)
            continue
        merged.append(span)
    return merged


def apply_redactions(text: str, spans: Iterable[Redaction]) -> str:
    """``text`` with each span replaced by ``<LABEL>`` (overlapping spans merged)."""
    pieces: list[str] = []
    position = 0
    for span in merge_spans(spans):
        start, end = max(span.start, position), min(span.end, len(text))
        if start >= end:
            continue
        pieces.append(text[position:start])
        pieces.append(span.replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
