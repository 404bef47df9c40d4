"""Operational metrics: latency, cost and tokens of each call.

Lower is better for all of them, and rows where the target failed are left out (a failed call
has no meaningful latency); the error count is reported beside them. Cached rows report the
original call's latency and cost: the eval measures the system, not the re-run.

Example:
    >>> from compound.evaluation.targets import TargetOutput
    >>> latency_ms(TargetOutput("hi", latency_s=0.25))
    250.0
"""

from __future__ import annotations

from typing import Any

from compound.metrics.base import metric


@metric(higher_is_better=False, on_error=None)
def latency_s(output: Any) -> float | None:
    """Seconds the target took for the row."""
    return None if output is None or output.latency_s is None else float(output.latency_s)


@metric(higher_is_better=False, on_error=None)
def latency_ms(output: Any) -> float | None:
    """Milliseconds the target took for the row."""
    return None if output is None or output.latency_s is None else 1000.0 * output.latency_s


@metric(higher_is_better=False, on_error=None)
def cost_usd(output: Any) -> float | None:
    """Dollars the row's model calls cost (list prices, or the spec's price_per_mtok)."""
    return None if output is None else float(output.cost_usd)


@metric(higher_is_better=False, on_error=None)
def total_tokens(output: Any) -> float | None:
    """Prompt plus completion tokens of the row."""
    return None if output is None else float(output.prompt_tokens + output.completion_tokens)
