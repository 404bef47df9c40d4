"""The ML metrics as eval metrics: classification and regression scores over a whole run.

These adapt :mod:`compound.metrics.classification` and
:mod:`compound.metrics.regression` (functions of ``y_true, y_pred``) to the eval
runner, which hands a corpus metric every row's ``predictions`` (the answer text) and
``references``. Labels are compared after answer normalisation, so an LLM answering
``"Yes."`` for the label ``yes`` counts as right; regression answers must parse as numbers.
Their interval is a bootstrap that recomputes the metric on resampled rows.

Example:
    >>> accuracy(["Yes.", "no", "maybe"], ["yes", "no", "no"])
    0.6666666666666666
    >>> mae(["1.5", "3"], [1, 2])
    0.75
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compound.metrics.base import metric
from compound.metrics.text import normalize_answer


def _labels(values: Sequence[Any]) -> list[str]:
    return [normalize_answer(str(v)) for v in values]


def _numbers(values: Sequence[Any], what: str) -> list[float]:
    out = []
    for index, value in enumerate(values):
        try:
            out.append(float(str(value).strip()))
        except ValueError:
            raise ValueError(
                f"{what} row {index} is not a number: {str(value)[:60]!r}; a regression metric "
                "needs numeric answers (use json_schema with a number field and 'output')"
            ) from None
    return out


@metric(corpus=True, compares="label")
def accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """The share of answers equal to the label (after normalisation)."""
    from compound.metrics import classification

    return classification.accuracy(_labels(references), _labels(predictions))


@metric(corpus=True, compares="label")
def macro_f1(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """F1 averaged over classes, each class weighing the same."""
    from compound.metrics import classification

    return classification.macro_f1(_labels(references), _labels(predictions))


@metric(corpus=True, higher_is_better=False, on_error=None, compares="number")
def mae(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Mean absolute error of numeric answers."""
    from compound.metrics import regression

    return regression.mae(_numbers(references, "reference"), _numbers(predictions, "answer"))


@metric(corpus=True, higher_is_better=False, on_error=None, compares="number")
def rmse(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Root mean squared error of numeric answers."""
    from compound.metrics import regression

    return regression.rmse(_numbers(references, "reference"), _numbers(predictions, "answer"))


@metric(corpus=True, compares="number")
def r2(predictions: Sequence[Any], references: Sequence[Any]) -> float:
    """Coefficient of determination of numeric answers."""
    from compound.metrics import regression

    return regression.r2(_numbers(references, "reference"), _numbers(predictions, "answer"))


def _share_positive(predictions: Sequence[Any], references: Sequence[Any], positive: Any, *,
                    among: str) -> float:
    """Among rows whose ``among`` side ("reference" or "prediction") is ``positive``, the share
    whose other side is ``positive`` too."""
    target = normalize_answer(str(positive))
    pairs = list(zip(_labels(predictions), _labels(references), strict=True))
    if among == "reference":
        pairs = [(r, p) for p, r in pairs]
    chosen = [other for side, other in pairs if side == target]
    if not chosen:
        raise ValueError(f"no {among} is the positive label {positive!r}; the metric is undefined")
    return sum(other == target for other in chosen) / len(chosen)


@metric(corpus=True, compares="label")
def recall(predictions: Sequence[Any], references: Sequence[Any], positive: Any = 1) -> float:
    """Of the rows labelled ``positive``, the share answered ``positive`` (e.g. attacks caught).

    Example:
        >>> recall(["1", "0", "1", "1"], [1, 1, 0, 1])
        0.6666666666666666
    """
    return _share_positive(predictions, references, positive, among="reference")


@metric(corpus=True, compares="label")
def precision(predictions: Sequence[Any], references: Sequence[Any], positive: Any = 1) -> float:
    """Of the rows answered ``positive``, the share labelled ``positive``.

    Example:
        >>> precision(["1", "0", "1", "1"], [1, 1, 0, 1])
        0.6666666666666666
    """
    return _share_positive(predictions, references, positive, among="prediction")


# doctest finds examples in functions and classes, not in Metric objects: point it at theirs
__test__ = {"recall": recall.fn, "precision": precision.fn}
