"""What a design review finds: a rule of the framework's principles, and one place in a spec
that breaks it.

A :class:`Rule` is data: its id, severity, the principle (the *reason* every finding of it
gives) and a check, a function of the spec yielding a :class:`Hit` per place it applies to,
with the message and the fix for that place. The review (:func:`compound.design_review.review`)
turns hits into :class:`Finding` objects with the file and line and whether the spec silenced
them.

Example:
    >>> hit = Hit(("guardrails", "pii"), "output rail 'pii' is used by no step", "use it")
    >>> finding = Finding("output-rail-unused", "warning", hit.loc, hit.message,
    ...                   "rails run only as steps", hit.fix, where="compound.yaml:80")
    >>> finding.location, finding.silenced
    ('compound.yaml:80 guardrails.pii', False)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from compound.specfile import dotted

if TYPE_CHECKING:
    from compound.system import System

Severity = Literal["error", "warning", "info"]
Location = tuple[str | int, ...]
#: most severe first: the order findings are listed in
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Hit:
    """One place a rule applies to: where in the spec, what is wrong there, and the fix."""

    loc: Location
    message: str
    fix: str


@dataclass(frozen=True)
class Rule:
    """A principle, checked: ``check(system)`` yields a :class:`Hit` where it is broken."""

    id: str
    severity: Severity
    reason: str
    check: Callable[[System], Iterator[Hit]]


@dataclass(frozen=True)
class Finding:
    """A rule broken at one place of a spec.

    Attributes:
        id: the rule's stable id (``llm-as-classifier``), the key that silences it.
        severity: ``error``, ``warning`` or ``info``.
        loc: the key path in the spec.
        message: what is wrong, naming the components.
        reason: the principle it breaks.
        fix: what to change.
        where: ``file:line`` of the key path (``file`` alone when the key is not written).
        silenced_because: the spec's reason for accepting it, when it silences it.
    """

    id: str
    severity: Severity
    loc: Location
    message: str
    reason: str
    fix: str
    where: str = ""
    silenced_because: str | None = None

    @property
    def silenced(self) -> bool:
        return self.silenced_because is not None

    @property
    def location(self) -> str:
        """``file:line key.path``, as a reader looks it up."""
        return " ".join(part for part in (self.where, dotted(self.loc)) if part)

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {"id": self.id, "severity": self.severity, "where": self.where,
                "field": dotted(self.loc), "message": self.message, "reason": self.reason,
                "fix": self.fix, "silenced": self.silenced_because}
