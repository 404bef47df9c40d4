"""How strategy decisions reach the trace: one ``strategy`` span per decision, attributes on it.

Routing decisions, fallback attempts, cache lookups, ensemble votes and escalations to review
are recorded as spans of kind ``strategy`` under the current step, through the run context
(never a global tracer). Attribute names:

* routing: ``compound.route.router``, ``compound.route.chosen``, ``compound.route.reason``,
  ``compound.route.confidence``, ``compound.route.threshold``;
* fallback: ``compound.fallback.chain``, ``compound.fallback.attempts`` (a list of
  ``{option, attempt, outcome, reason, error, latency_s}``), ``compound.fallback.used``,
  ``compound.fallback.count``;
* cache: ``compound.cache.hit``, ``compound.cache.kind`` (``exact``/``semantic``),
  ``compound.cache.similarity``, ``compound.cache.hit_rate``, ``compound.cache.refused``;
* ensemble: ``compound.ensemble.combine``, ``compound.ensemble.votes``,
  ``compound.ensemble.agreement``;
* review: ``compound.review.id``, ``compound.review.reason``.

Example:
    >>> with decision_span(None, "route") as span:
    ...     note(span, "compound.route.chosen", "intent")
    >>> span is None
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compound.workflow.context import RunContext
    from compound.workflow.tracing import Span

KIND = "strategy"


@contextmanager
def decision_span(
    ctx: RunContext | None, name: str, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span | None]:
    """A ``strategy`` span under the current step; None when there is no context or tracer."""
    if ctx is None:
        yield None
        return
    with ctx.span(name, kind=KIND, **dict(attributes or {})) as span:
        yield span


def note(span: Span | None, key: str, value: Any) -> None:
    """Set an attribute on ``span`` when there is one."""
    if span is not None:
        span.set(key, value)
