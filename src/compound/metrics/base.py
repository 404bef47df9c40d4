"""What a metric is: a function scoring one output (or all of them), plus how to read it.

A metric function asks for what it needs by naming its parameters; the runner passes those:

=============  ==============================================================
``prediction``  the target's answer as text
``reference``   the example's expected value (a string, a list of answers, ...)
``output``      the whole :class:`~compound.evaluation.targets.TargetOutput`
``example``     the :class:`~compound.evaluation.datasets.Example`
``inputs``      the example's inputs
``contexts``    the passages the answer should rest on
``judge``       the judge model (a :class:`~compound.intelligence.llm.LLM`-like object)
=============  ==============================================================

Any other parameter is an option, set under the metric's ``options`` in the spec. It returns a
number (``True``/``False`` count as 1/0), a :class:`Score` with a reason, or None when it does
not apply to the row. A *corpus* metric instead takes ``predictions`` and ``references`` (lists)
and returns one number for the whole set.

Example:
    >>> @metric(name="shorter_than", higher_is_better=True)
    ... def shorter_than(prediction: str, *, limit: int = 10) -> bool:
    ...     return len(prediction) < limit
    >>> shorter_than.bind({"limit": 3}).score_row(prediction="ok").value
    1.0
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from compound.errors import UserError

Compares = Literal["text", "label", "number"]
ROW_PARAMETERS = ("prediction", "reference", "output", "example", "inputs", "contexts", "judge")
CORPUS_PARAMETERS = ("predictions", "references")


@dataclass(frozen=True)
class Score:
    """One row's value of a metric, with the reason a person reads when it is low.

    ``value`` None means the metric does not apply to this row (it is left out, and counted).
    """

    value: float | None
    reason: str = ""


@dataclass(frozen=True)
class Metric:
    """A metric function and how to read it.

    Attributes:
        name: the registered name.
        fn: the function (see the module docstring for its parameters).
        higher_is_better: the direction; latency and cost are lower-is-better.
        aggregate: how rows combine: ``mean`` (default), ``median``, ``p95``, ``sum``...
        on_error: the value a row gets when the target failed on it (0: a failure counts
            against the system); None leaves such rows out (latency of a call that failed).
        corpus: the function scores all rows at once from ``predictions``/``references``.
        description: one line for reports.
        compares: how it reads the answer against the reference: ``text`` (free text, the
            default), ``label`` (equal or not: accuracy, recall...) or ``number`` (a numeric
            difference: MAE...). A structured answer (a record with no text field, shown as
            JSON) is refused by ``label`` and ``number`` metrics: it never equals a label.
    """

    name: str
    fn: Callable[..., Any]
    higher_is_better: bool = True
    aggregate: str = "mean"
    on_error: float | None = 0.0
    corpus: bool = False
    description: str = ""
    compares: Compares = "text"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def requested(self) -> tuple[str, ...]:
        """The runner-provided parameters the function asks for."""
        known = CORPUS_PARAMETERS if self.corpus else ROW_PARAMETERS
        return tuple(p for p in inspect.signature(self.fn).parameters if p in known)

    def bind(self, options: Mapping[str, Any] | None = None) -> BoundMetric:
        """This metric with its options, checked against the function's parameters.

        Raises:
            UserError: an option the function does not take, or a required parameter that
                nobody provides.
        """
        options = dict(options or {})
        signature = inspect.signature(self.fn)
        params = signature.parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        known = CORPUS_PARAMETERS if self.corpus else ROW_PARAMETERS
        unknown = [o for o in options if o not in params and not takes_kwargs]
        if unknown:
            takes = [p for p in params if p not in known and p not in ("args", "kwargs")]
            raise UserError(
                f"metric '{self.name}' has no option {', '.join(repr(u) for u in unknown)}; "
                f"its options are: {', '.join(takes) or 'none'}"
            )
        for name, param in params.items():
            if param.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
                continue
            if name not in known and name not in options and param.default is param.empty:
                raise UserError(
                    f"metric '{self.name}' needs the option '{name}'; set it under the "
                    f"metric's 'options' (the runner provides only: {', '.join(known)})"
                )
        return BoundMetric(self, options)


@dataclass(frozen=True)
class BoundMetric:
    """A :class:`Metric` with its options, ready to score rows."""

    metric: Metric
    options: Mapping[str, Any] = field(default_factory=dict)

    def score_row(self, **available: Any) -> Score:
        """Score one row from the runner-provided values the function asks for."""
        kwargs = {p: available.get(p) for p in self.metric.requested()}
        return as_score(self.metric.fn(**kwargs, **self.options))

    def score_corpus(self, predictions: list[Any], references: list[Any]) -> float | None:
        """Score a whole set (corpus metrics)."""
        supplied = {"predictions": predictions, "references": references}
        kwargs = {p: supplied[p] for p in self.metric.requested()}
        value = as_score(self.metric.fn(**kwargs, **self.options)).value
        return value


def as_score(value: Any) -> Score:
    """Normalise a metric function's return value.

    Raises:
        TypeError: the value is not a number, bool, Score or None.
    """
    if isinstance(value, Score):
        return value
    if value is None:
        return Score(None)
    if isinstance(value, bool | int | float):
        return Score(float(value))
    raise TypeError(
        f"a metric must return a number, a bool, a Score or None; received "
        f"{type(value).__name__}: {value!r:.80}"
    )


def metric(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    higher_is_better: bool = True,
    aggregate: str = "mean",
    on_error: float | None = 0.0,
    corpus: bool = False,
    description: str = "",
    compares: Compares = "text",
) -> Any:
    """Make a function a :class:`Metric` (usable bare, ``@metric``, or with settings).

    Example:
        >>> @metric
        ... def says_hello(prediction: str) -> bool:
        ...     return "hello" in prediction.lower()
        >>> says_hello.name, says_hello("Hello!")
        ('says_hello', True)
    """

    def wrap(function: Callable[..., Any]) -> Metric:
        doc = (inspect.getdoc(function) or "").strip().splitlines()
        return Metric(
            name=name or function.__name__, fn=function, higher_is_better=higher_is_better,
            aggregate=aggregate, on_error=on_error, corpus=corpus,
            description=description or (doc[0] if doc else ""), compares=compares,
        )

    return wrap(fn) if fn is not None else wrap
