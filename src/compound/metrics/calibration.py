"""Calibration: whether a model's confidence matches how often it is right.

The expected calibration error (ECE) bins predictions by their top-class probability (the
confidence) into equal-width bins and averages, weighted by bin size, the gap between each
bin's mean confidence and its accuracy (Guo et al., 2017). 0 is perfectly calibrated. Bins
are right-closed, ``(lo, hi]``, as in scikit-learn's ``calibration_curve``.

Example:
    >>> expected_calibration_error(["a", "b"], [[0.9, 0.1], [0.6, 0.4]], labels=["a", "b"])
    0.35
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compound.errors import UserError
from compound.metrics.classification import ArrayLike, _probabilities


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin: its range, how many predictions fell in it, their mean confidence
    and their accuracy (the reliability diagram's points)."""

    lower: float
    upper: float
    count: int
    confidence: float
    accuracy: float


def reliability_bins(
    y_true: ArrayLike, proba: ArrayLike, labels: ArrayLike | None = None, *, n_bins: int = 15
) -> list[ReliabilityBin]:
    """The non-empty confidence bins of the top-class probability.

    Args:
        y_true: the true labels.
        proba: ``(n, classes)`` probabilities (columns in ``labels`` order), or one column
            for the positive class of a binary problem.
        labels: the class of each column; the sorted true labels when omitted.
        n_bins: equal-width bins over [0, 1].

    Example:
        >>> [b.count for b in reliability_bins([1, 0], [0.8, 0.3], n_bins=2)]
        [2]
    """
    if not isinstance(n_bins, int) or n_bins < 1:
        raise UserError(f"n_bins must be a positive whole number; received {n_bins!r}")
    truth, matrix, _ = _probabilities(y_true, proba, labels)
    confidence = matrix.max(axis=1)
    correct = matrix.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], confidence, side="left")
    found = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            found.append(
                ReliabilityBin(
                    lower=float(edges[b]), upper=float(edges[b + 1]), count=int(inside.sum()),
                    confidence=float(confidence[inside].mean()),
                    accuracy=float(correct[inside].mean()),
                )
            )
    return found


def expected_calibration_error(
    y_true: ArrayLike, proba: ArrayLike, labels: ArrayLike | None = None, *, n_bins: int = 15
) -> float:
    """Bin-size-weighted mean gap between confidence and accuracy (top-label ECE).

    Args:
        y_true: the true labels.
        proba: ``(n, classes)`` probabilities, or one column for a binary positive class.
        labels: the class of each column; the sorted true labels when omitted.
        n_bins: equal-width bins over [0, 1] (15 is the usual choice).
    """
    bins = reliability_bins(y_true, proba, labels, n_bins=n_bins)
    total = sum(b.count for b in bins)
    return float(sum(b.count * abs(b.accuracy - b.confidence) for b in bins) / total)
