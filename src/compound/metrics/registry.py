"""Finding metrics by name: built-ins and third parties register under ``compound.metrics``.

A package adds a metric with an entry point (``my_metric = "my_pkg.metrics:my_metric"``) whose
target is a :class:`~compound.metrics.base.Metric` or a plain function; a spec can
also name a function directly (``function: module:fn``).

Example:
    >>> get_metric("token_f1").name
    'token_f1'
    >>> "latency_ms" in available_metrics()
    True
    >>> [lower_is_better(n) for n in ("latency_ms", "ece_uncalibrated", "ndcg@10")]
    [True, True, False]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compound.errors import UserError
from compound.metrics.base import Metric, metric
from compound.plugins import load, registered

GROUP = "compound.metrics"


def available_metrics() -> list[str]:
    """Names of every registered metric."""
    return sorted(registered(GROUP))


def as_metric(obj: Any, name: str) -> Metric:
    """``obj`` as a :class:`Metric` named ``name`` (a plain function is wrapped).

    Raises:
        UserError: ``obj`` is neither a Metric nor a function.
    """
    if isinstance(obj, Metric):
        return obj if obj.name == name else _renamed(obj, name)
    if callable(obj):
        wrapped: Metric = metric(obj, name=name)
        return wrapped
    raise UserError(f"metric '{name}' must be a function or a Metric; received {type(obj)}")


def _renamed(m: Metric, name: str) -> Metric:
    from dataclasses import replace

    return replace(m, name=name)


def get_metric(name: str) -> Metric:
    """The registered metric ``name``.

    Raises:
        UserError: no metric has that name (with a did-you-mean and the list).
    """
    return as_metric(load(GROUP, name), name)


def lower_is_better(name: str) -> bool:
    """Whether smaller values of metric ``name`` are better, as the metric's definition says.

    The one place a direction is looked up: the registered metric's ``higher_is_better``
    (built-in or a third party's), else that of a trained model's test metric
    (:mod:`compound.metrics.trained`; ``ndcg@10`` by ``ndcg``). A name with no
    definition (a metric an eval names itself, a ``function:``) reads higher-is-better; the
    eval runner records each measured metric's own direction with its value, and a criterion's
    ``direction:`` overrides both.
    """
    from compound.metrics.trained import TRAINED_METRICS

    base = name.partition("@")[0]
    if name in registered(GROUP):
        return not get_metric(name).higher_is_better
    definition = TRAINED_METRICS.get(name) or TRAINED_METRICS.get(base)
    return definition is not None and not definition.higher_is_better


def metric_from_function(reference: str, *, base: str | None = None) -> Metric:
    """A metric from a ``module:function`` reference (``base`` is importable too)."""
    from compound.code.references import resolve

    fn: Callable[..., Any] = resolve(reference, base=base, what="metric function")
    return as_metric(fn, reference.rpartition(":")[2])
