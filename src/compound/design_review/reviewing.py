"""Running the review: every rule over a spec, each hit placed at its file and line and
matched against the spec's silences (:func:`review`).

Example:
    >>> from compound.system import System
    >>> result = review(System.from_yaml("name: demo\\nloop: interaction\\ntask: Answer."))
    >>> result.findings, result.summary()
    ([], 'no findings')
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from compound.design_review import evaluation, flywheel, latency, models, rails, resilience
from compound.design_review.finding import SEVERITIES, Finding, Hit, Location, Rule

if TYPE_CHECKING:
    from compound.specfile import PositionedYAML
    from compound.system import System

#: every rule, grouped by principle: models, rails, resilience, evaluation, flywheel, latency
RULES: tuple[Rule, ...] = (*models.RULES, *rails.RULES, *resilience.RULES, *evaluation.RULES,
                           *flywheel.RULES, *latency.RULES)


@dataclass(frozen=True)
class Review:
    """The findings of one spec, most severe first."""

    system: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def open(self) -> list[Finding]:
        """The findings the spec does not silence: those ``--strict`` fails on."""
        return [f for f in self.findings if not f.silenced]

    def summary(self) -> str:
        """One line: how many findings of each severity, and how many are silenced.

        Example:
            >>> Review("demo").summary()
            'no findings'
        """
        if not self.findings:
            return "no findings"
        counts = [f"{n} {s}{'s' if n > 1 else ''}" for s in SEVERITIES
                  if (n := sum(1 for f in self.open if f.severity == s))]
        silenced = len(self.findings) - len(self.open)
        text = ", ".join(counts) or "no open findings"
        return text + (f"; {silenced} silenced" if silenced else "")


def review(system: System) -> Review:
    """Hold ``system`` against every rule; silence what its ``design_review.silence`` names.

    A silenced id that no rule has comes back as a ``silence-unknown`` finding, so a typo
    does not silence nothing quietly.
    """
    doc = _positions(system)
    silence = system.design_review.silence
    found: list[Finding] = []
    for rule in RULES:
        for hit in rule.check(system):
            found.append(Finding(rule.id, rule.severity, hit.loc, hit.message, rule.reason,
                                 hit.fix, silenced_because=silence.get(rule.id)))
    found += _unknown_silences(system)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    found.sort(key=lambda f: (f.silenced, order[f.severity]))
    return Review(system.name, [replace(f, where=_where(system, doc, f.loc)) for f in found])


def _unknown_silences(system: System) -> list[Finding]:
    from compound.specfile import did_you_mean

    ids = [rule.id for rule in RULES]
    hits = [Hit(("design_review", "silence", key),
                f"'{key}' is not a finding id{did_you_mean(key, ids)}, so it silences nothing",
                f"use one of: {', '.join(ids)}")
            for key in system.design_review.silence if key not in ids]
    return [Finding("silence-unknown", "warning", hit.loc, hit.message,
                    "a silence names the finding it accepts", hit.fix) for hit in hits]


def _positions(system: System) -> PositionedYAML | None:
    from compound.errors import UserError
    from compound.specfile import load_yaml

    if system.source is None:
        return None
    with contextlib.suppress(OSError, UserError):
        return load_yaml(system.source.read_text(encoding="utf-8"), source=str(system.source))
    return None


def _where(system: System, doc: PositionedYAML | None, loc: Location) -> str:
    """``file:line`` of ``loc`` (the nearest key written above it), or the file alone."""
    if system.source is None:
        return "<spec>"
    line = doc.line_of(loc) if doc is not None else None
    return f"{system.source}:{line}" if line else str(system.source)
