"""A rail's operating point: the threshold it fires at, where that number came from, and how
well it did when it was chosen. ``compound guard SPEC --explain`` prints one per rail.

A rail type that learns or chooses a threshold defines ``operating_point()`` returning an
:class:`OperatingPoint` (the injection rail does: its classifier's threshold is chosen by
cross-validation when it is trained); for any other rail :func:`operating_point` reports the
``threshold`` it was configured with, if any.

Example:
    >>> from compound.production.rails.secrets import SecretsRail
    >>> point = operating_point(SecretsRail(name="secrets"))
    >>> point.rail, point.threshold, point.source
    ('secrets', None, 'it decides by patterns or rules: nothing to tune')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OperatingPoint:
    """Where a rail operates.

    Attributes:
        rail: the rail's name in the spec.
        type: its type (``injection``, ``topic``...).
        threshold: the score its decision turns on; None for a rail without one.
        source: where the threshold came from, in words.
        metrics: how the threshold did when chosen (e.g. out-of-fold ``precision``,
            ``recall``, ``fpr``); empty when unknown.
        model: the registered model behind the score (``name@version``), if any.
        band: the uncertain ``[low, high)`` band sent to an LLM or to review, if any.
        notes: anything else worth knowing.
    """

    rail: str
    type: str
    threshold: float | None
    source: str
    metrics: dict[str, float] = field(default_factory=dict)
    model: str | None = None
    band: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {"rail": self.rail, "type": self.type, "threshold": self.threshold,
                "source": self.source, "metrics": self.metrics, "model": self.model,
                "band": list(self.band) if self.band else None, "notes": self.notes}


def operating_point(rail: Any) -> OperatingPoint:
    """The rail's own operating point, or what its configuration says."""
    own = getattr(rail, "operating_point", None)
    if callable(own):
        found = own()
        if isinstance(found, OperatingPoint):
            return found
    name = str(getattr(rail, "name", "?"))
    kind = str(getattr(rail, "type", type(rail).__name__))
    threshold = getattr(rail, "threshold", None)
    if isinstance(threshold, int | float):
        return OperatingPoint(name, kind, float(threshold),
                              "the rail's settings (the spec's 'threshold', else the type's "
                              "default)")
    return OperatingPoint(name, kind, None, "it decides by patterns or rules: nothing to tune")
