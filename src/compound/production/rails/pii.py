"""The PII rail: personal data found and redacted (or the text blocked) in requests and answers.

Emails, phone numbers, card numbers (Luhn), IBANs (mod 97) and national ids (US SSN, UK
NINO, German Steuer-ID) are found by :mod:`~compound.privacy.recognizers`, offline.
Names are harder: the built-in recogniser finds them only after a cue ("my name is", "Dear",
"Mr.", a sign-off). To find names anywhere, give the rail a :class:`NameFinder`: compound
ships :class:`LLMNameFinder` (any LLM of the system, asked for the names with a JSON schema);
a spaCy or Presidio model can stand behind the same one-method interface.

Redaction replaces each span with its type, ``<EMAIL_ADDRESS>``; the guard applies it to the
text that goes on and to what its trace records. To keep personal data out of every other
span too (model inputs and outputs), give the tracer the redaction hook of
:mod:`~compound.production.rails.redaction`.

Example:
    >>> rail = PIIRail()
    >>> verdict = rail.run("I'm Ada, mail ada@example.com or call +44 20 7946 0958")
    >>> verdict.action, verdict.reason
    ('redact', 'found 1 EMAIL_ADDRESS, 1 PHONE_NUMBER')
    >>> from compound.production.rails.verdict import apply_redactions
    >>> apply_redactions("mail ada@example.com", rail.run("mail ada@example.com").redactions)
    'mail <EMAIL_ADDRESS>'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from compound.errors import UserError
from compound.privacy.recognizers import ENTITIES, find_entities, resolve_overlaps
from compound.production.rails.base import BaseRail, RailRequest
from compound.production.rails.verdict import Action, RailInput, Redaction, Verdict

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.workflow.context import RunContext


class NameFinder(Protocol):
    """Finds people's names in a text."""

    def find(self, text: str, ctx: RunContext | None = None) -> list[tuple[int, int]]:
        """``(start, end)`` of each name."""
        ...


NAMES_SCHEMA = {
    "type": "object",
    "properties": {"names": {"type": "array", "items": {"type": "string", "maxLength": 80},
                             "maxItems": 50}},
    "required": ["names"],
}


class LLMNameFinder:
    """Asks an LLM for the people's names in a text, then finds each in the text.

    Args:
        llm: any LLM; JSON output is constrained by :data:`NAMES_SCHEMA`.
        max_chars: longer texts are read in pieces of this size.
    """

    def __init__(self, llm: LLM, *, max_chars: int = 4000) -> None:
        self.llm = llm
        self.max_chars = max_chars

    def find(self, text: str, ctx: RunContext | None = None) -> list[tuple[int, int]]:
        names: set[str] = set()
        for start in range(0, min(len(text), 20 * self.max_chars), self.max_chars):
            piece = text[start:start + self.max_chars]
            prompt = ("List every person's name that appears in the text below, exactly as "
                      f"written. Reply with JSON {{\"names\": [...]}}.\n\nText:\n{piece}")
            params: dict[str, Any] = {"json_schema": NAMES_SCHEMA, "max_tokens": 256,
                                      "temperature": 0.0}
            completion = (ctx.complete(self.llm, prompt, **params) if ctx is not None
                          else self.llm.complete(prompt, **params))
            data = completion.data if isinstance(completion.data, dict) else {}
            names.update(n.strip() for n in data.get("names", []) if isinstance(n, str))
        spans = []
        for name in names:
            if len(name) < 2:
                continue
            spans += [m.span() for m in re.finditer(rf"\b{re.escape(name)}\b", text)]
        return spans


class PIIRail(BaseRail):
    """Finds personal data; redacts it by default (or blocks, or escalates).

    Args:
        entities: the entity types to look for (every one of
            :data:`~compound.privacy.recognizers.ENTITIES` by default).
        names: finds names beyond the cue heuristic (e.g. :class:`LLMNameFinder`).
        **common: name, stages, action, timeout_s, on_error (see :class:`BaseRail`).
    """

    type = "pii"
    default_stages = ("input", "output")
    default_action: Action = "redact"
    allowed_actions: tuple[Action, ...] = ("redact", "block", "escalate")
    streams = True

    def __init__(self, *, entities: Sequence[str] | None = None, names: NameFinder | None = None,
                 **common: Any) -> None:
        super().__init__(**common)
        unknown = [e for e in entities or () if e not in ENTITIES]
        if unknown:
            raise UserError(f"rail '{self.name}': unknown PII entity '{unknown[0]}'; known: "
                            f"{', '.join(ENTITIES)}")
        self.entities = tuple(entities) if entities is not None else ENTITIES
        self.names = names

    def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
        spans = find_entities(subject.text, self.entities)
        if self.names is not None and "PERSON" in self.entities:
            found = [(5, Redaction(a, b, "PERSON")) for a, b in self.names.find(subject.text, ctx)]
            spans = resolve_overlaps([(10, s) for s in spans] + found)
        if not spans:
            return self.allow(subject, "no personal data found")
        counts = Counter(s.label for s in spans)
        listed = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        return self.fire(subject, f"found {listed}", redactions=tuple(spans),
                         details={"counts": dict(counts)})

    @classmethod
    def from_spec(cls, request: RailRequest) -> PIIRail:
        llm = request.llm()
        return cls(**request.common(), entities=request.spec.entities,
                   names=LLMNameFinder(llm) if llm is not None else None,
                   **request.spec.options)
