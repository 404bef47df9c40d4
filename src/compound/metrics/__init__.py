"""Metrics: functions scoring outputs. Text, structured output, code, groundedness, latency and
cost here; classification, regression and ranking metrics in their own modules. Nothing heavy
is imported until a metric is used.

Example:
    >>> from compound.metrics import get_metric
    >>> get_metric("exact_match")("Paris", "Paris")
    1.0
"""

from compound.metrics.base import BoundMetric, Metric, Score, metric
from compound.metrics.registry import (
    available_metrics,
    get_metric,
    metric_from_function,
)

__all__ = [
    "BoundMetric",
    "Metric",
    "Score",
    "available_metrics",
    "get_metric",
    "metric",
    "metric_from_function",
]
