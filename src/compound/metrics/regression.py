"""Regression metrics: predicted numbers against true numbers.

Plain numpy, following scikit-learn's definitions (tested against it on random data).

Example:
    >>> mae([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])
    0.5
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compound.errors import UserError


def _pair(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    try:
        truth, pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"regression metrics take numbers; received something else: {exc}"
        ) from None
    if truth.ndim != 1 or truth.shape != pred.shape:
        raise UserError(
            f"expected two flat sequences of numbers of the same length; received shapes "
            f"{truth.shape} and {pred.shape}"
        )
    if len(truth) == 0:
        raise UserError("cannot score an empty set: received 0 examples")
    return truth, pred


def mae(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> float:
    """Mean absolute error."""
    truth, pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(truth - pred)))


def rmse(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> float:
    """Root mean squared error.

    Example:
        >>> rmse([0.0, 0.0], [3.0, 4.0])
        3.5355339059327378
    """
    truth, pred = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((truth - pred) ** 2)))


def r2(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> float:
    """Coefficient of determination: 1 minus residual over total sum of squares.

    A constant truth gives 1.0 when predicted exactly and 0.0 otherwise (scikit-learn's
    ``force_finite`` convention) rather than a division by zero.
    """
    truth, pred = _pair(y_true, y_pred)
    residual = float(np.sum((truth - pred) ** 2))
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total

