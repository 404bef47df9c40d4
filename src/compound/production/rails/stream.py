"""Checking a streamed answer as it goes, not only at the end.

:class:`GuardedStream` wraps an iterator of text pieces (strings, or the events of
:meth:`LLM.stream <compound.intelligence.llm.LLM.stream>`: its ``TextDelta`` pieces count, the
final ``Completion`` is skipped) and yields the pieces a user may see:

* every ``check_every`` characters, or at the end of a sentence, the output rails that can
  judge a partial answer (``streams = True``: PII, secrets) check the new text (and a little
  before it, so that nothing split across pieces is missed);
* the last ``holdback`` characters are held back, and never a part of a word or of a span
  to redact, so that a card number arriving in two pieces is redacted before any of it is
  shown;
* when a streaming rail blocks or escalates, the stream stops there: the rest is never shown;
* at the end, every output rail (schema, groundedness included) checks the whole answer; the
  held-back tail is released only if that check allows it.

Rails that need the whole answer can only stop its tail; pass ``hold=True`` to show nothing
until the final check has passed (the answer then arrives at once, checked).

After the iteration, :attr:`GuardedStream.result` holds the decision and
:attr:`GuardedStream.shown` what was yielded.

Example:
    >>> from compound.production.rails.engine import Guard
    >>> from compound.production.rails.pii import PIIRail
    >>> guard = Guard([PIIRail(stages=["output"])])
    >>> stream = guard.stream(["Write to ada@exa", "mple.com", " for help."])
    >>> "".join(stream)
    'Write to <EMAIL_ADDRESS> for help.'
    >>> stream.result.action
    'redact'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from compound.intelligence.llm.types import TextDelta
from compound.production.rails.verdict import (
    GuardResult,
    RailInput,
    Redaction,
    Verdict,
    apply_redactions,
    merge_spans,
    most_severe,
)

if TYPE_CHECKING:
    from compound.production.rails.base import Rail
    from compound.production.rails.verdict import Stage
    from compound.workflow.context import RunContext


class StreamGuard(Protocol):
    """What a guarded stream asks of its guard. The guard
    (:class:`compound.production.rails.engine.Guard`) is the one implementation; it makes the
    streams, so the stream names what it needs instead of importing it back."""

    def rails_for(self, stage: Stage) -> list[Rail]: ...

    def check(self, subject: RailInput, *, ctx: RunContext | None = None,
              rails: Sequence[Rail] | None = None) -> GuardResult: ...

    def record(self, subject: RailInput, result: GuardResult, ctx: RunContext) -> None: ...

_BOUNDARY = (".", "!", "?", "\n")


class GuardedStream:
    """A streamed answer, checked by the output rails as it arrives (see the module docs).

    Args:
        guard: the guard whose output rails check the answer.
        pieces: the answer's pieces as they come.
        documents: retrieved passages, for groundedness at the end.
        prompt: the request the answer replies to.
        ctx: the run context; the final decision is traced there.
        hold: show nothing until the whole answer has passed.
        check_every: check after this many new characters (or at a sentence end).
        holdback: characters kept back from the user until the text after them is known.
    """

    def __init__(self, guard: StreamGuard, pieces: Iterable[Any], *, documents: Sequence[str] = (),
                 prompt: str | None = None, ctx: RunContext | None = None, hold: bool = False,
                 check_every: int = 160, holdback: int = 64) -> None:
        self.guard = guard
        self.pieces = pieces
        self.documents = tuple(documents)
        self.prompt = prompt
        self.ctx = ctx
        self.hold = hold
        self.check_every = check_every
        self.holdback = holdback
        self.text = ""
        self.shown = ""
        self.checks = 0
        self.result: GuardResult | None = None
        self._iterator: Iterator[str] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    def __next__(self) -> str:
        return next(iter(self))

    def _subject(self, text: str) -> RailInput:
        return RailInput(text, stage="output", documents=self.documents, prompt=self.prompt)

    def _run(self) -> Iterator[str]:
        streaming = [r for r in self.guard.rails_for("output") if r.streams]
        spans: list[Redaction] = []
        worst: dict[str, Verdict] = {}
        released = checked = 0
        for event in self.pieces:
            piece = event if isinstance(event, str) else (
                event.text if isinstance(event, TextDelta) else None)
            if not piece:
                continue
            self.text += piece
            new = len(self.text) - checked
            if self.hold or not streaming or not (
                    new >= self.check_every or (new >= 16 and piece.endswith(_BOUNDARY))):
                continue
            start = max(0, released - self.holdback)
            partial = self.guard.check(self._subject(self.text[start:]), rails=streaming)
            self.checks += 1
            checked = len(self.text)
            for verdict in partial.verdicts:
                kept = worst.get(verdict.rail)
                if kept is None or most_severe([kept.action, verdict.action]) != kept.action:
                    worst[verdict.rail] = verdict
            if not partial.allowed:
                self._stop(partial)
                return
            spans = merge_spans([*spans, *(Redaction(r.start + start, r.end + start, r.label)
                                           for v in partial.verdicts if v.action == "redact"
                                           for r in v.redactions)])
            end = self._safe_end(released, spans)
            if end > released:
                shown = self._redacted(released, end, spans)
                self.shown += shown
                released = end
                yield shown
        final = self.guard.check(self._subject(self.text), ctx=self.ctx)
        verdicts = [self._worse(v, worst.get(v.rail)) for v in final.verdicts]
        self.result = GuardResult(stage="output", action=most_severe(v.action for v in verdicts),
                                  text=final.text, verdicts=tuple(verdicts))
        if final.allowed:
            spans = merge_spans([*spans, *(r for v in final.verdicts if v.action == "redact"
                                           for r in v.redactions)])
            tail = self._redacted(released, len(self.text), spans)
            if tail:
                self.shown += tail
                yield tail

    def _redacted(self, start: int, end: int, spans: Sequence[Redaction]) -> str:
        """``text[start:end]`` with the spans inside it (or reaching into it) redacted."""
        inside = [Redaction(max(s.start, start) - start, min(s.end, end) - start, s.label)
                  for s in spans if s.start < end and s.end > start]
        return apply_redactions(self.text[start:end], inside)

    def _safe_end(self, released: int, spans: Sequence[Redaction]) -> int:
        """How far the text may be shown: before the held-back tail, at a space, and never
        inside a span to redact."""
        end = len(self.text) - self.holdback
        if end <= released:
            return released
        space = self.text.rfind(" ", released, end)
        end = space if space > released else released
        for span in spans:
            if span.start < end < span.end:
                end = span.start
        return max(end, released)

    @staticmethod
    def _worse(final: Verdict, seen: Verdict | None) -> Verdict:
        if seen is None or most_severe([final.action, seen.action]) == final.action:
            return final
        return seen

    def _stop(self, partial: GuardResult) -> None:
        self.result = GuardResult(stage="output", action=partial.action, text=self.shown,
                                  verdicts=partial.verdicts)
        if self.ctx is not None:
            self.guard.record(self._subject(self.text), self.result, self.ctx)
