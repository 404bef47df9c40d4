"""What a rail decides: a :class:`Verdict` (allow, redact, escalate or block, with a reason), and
what a guard decides from all of them: a :class:`GuardResult`.

The actions are ordered by how much they stop: ``allow`` < ``redact`` < ``escalate`` <
``block``. A guard's action is its most severe verdict's. ``redact`` lets the text through
with the spans its verdicts name replaced (``<EMAIL_ADDRESS>``); ``escalate`` holds the request
for human review; ``block`` stops it.

Example:
    >>> found = Redaction(start=9, end=24, label="EMAIL_ADDRESS")
    >>> apply_redactions("Write to ada@example.com today.", [found])
    'Write to <EMAIL_ADDRESS> today.'
    >>> Verdict(rail="pii", stage="input", action="redact", reason="1 email").stops
    False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from compound.privacy.spans import Redaction, apply_redactions, merge_spans

Action = Literal["allow", "redact", "escalate", "block"]
Stage = Literal["input", "output"]
ACTIONS: tuple[Action, ...] = ("allow", "redact", "escalate", "block")
STAGES: tuple[Stage, ...] = ("input", "output")
__all__ = ["ACTIONS", "STAGES", "Action", "GuardResult", "RailInput", "Redaction", "Stage",
           "Verdict", "apply_redactions", "merge_spans", "most_severe"]
_SEVERITY = {action: rank for rank, action in enumerate(ACTIONS)}


def most_severe(actions: Iterable[Action]) -> Action:
    """The action that stops most (``allow`` when there is none)."""
    return max(actions, key=_SEVERITY.__getitem__, default="allow")


@dataclass(frozen=True, slots=True)
class RailInput:
    """What a rail checks.

    Attributes:
        text: the request (input stage) or the answer (output stage).
        stage: which side of the model the text is on.
        documents: the retrieved context the answer should rest on (groundedness).
        data: the answer already parsed as JSON, when the model returned structured output.
        prompt: for output rails, the request the answer replies to.
    """

    text: str
    stage: Stage = "input"
    documents: tuple[str, ...] = ()
    data: Any = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rail's decision about one text.

    Attributes:
        rail: the rail's name (its key under ``guardrails:``).
        stage: ``input`` or ``output``.
        action: allow, redact, escalate or block.
        reason: why, in words a reviewer reads (never the sensitive text itself).
        score: the rail's score where it has one (e.g. the injection probability).
        redactions: spans to replace when the action is ``redact``.
        details: facts behind the decision (matched patterns, thresholds, timings by stage).
        ms: how long the rail took, in milliseconds (set by the guard).
    """

    rail: str
    stage: Stage
    action: Action
    reason: str
    score: float | None = None
    redactions: tuple[Redaction, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    ms: float = 0.0

    @property
    def stops(self) -> bool:
        """Whether the text must not go on (``block`` or ``escalate``)."""
        return self.action in ("block", "escalate")

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON data (what traces and ``compound guard --json`` show)."""
        return {
            "rail": self.rail, "stage": self.stage, "action": self.action,
            "reason": self.reason, "score": self.score, "ms": round(self.ms, 3),
            "redactions": [{"start": r.start, "end": r.end, "label": r.label}
                           for r in self.redactions],
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class GuardResult:
    """What a guard decided about one text, from every rail that ran.

    Attributes:
        stage: ``input`` or ``output``.
        action: the most severe verdict's action.
        text: the text with every redaction applied (the original when there is none);
            this is what the model (input) or the user (output) may see when allowed.
        verdicts: one per rail, in the guard's rail order.
    """

    stage: Stage
    action: Action
    text: str
    verdicts: tuple[Verdict, ...] = ()

    @property
    def allowed(self) -> bool:
        """Whether the (redacted) text may go on."""
        return self.action in ("allow", "redact")

    @property
    def reasons(self) -> list[str]:
        """``rail: reason`` for every verdict that did not simply allow."""
        return [f"{v.rail}: {v.reason}" for v in self.verdicts if v.action != "allow"]

    def verdict(self, rail: str) -> Verdict:
        """The verdict of the rail named ``rail``.

        Raises:
            KeyError: no rail of that name ran.
        """
        for found in self.verdicts:
            if found.rail == rail:
                return found
        raise KeyError(f"no rail named '{rail}' ran; rails: "
                       f"{', '.join(v.rail for v in self.verdicts) or 'none'}")

    @classmethod
    def of(cls, stage: Stage, text: str, verdicts: Sequence[Verdict]) -> GuardResult:
        """Combine verdicts: the most severe action, and the redactions of every verdict."""
        action = most_severe(v.action for v in verdicts)
        spans = [r for v in verdicts if v.action == "redact" for r in v.redactions]
        return cls(stage=stage, action=action, text=apply_redactions(text, spans),
                   verdicts=tuple(verdicts))

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "action": self.action, "allowed": self.allowed,
                "verdicts": [v.to_dict() for v in self.verdicts]}
