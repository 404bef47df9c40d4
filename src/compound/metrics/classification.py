"""Classification metrics over whole sets: labels, or class probabilities, against the truth.

Plain numpy, so that evaluating an LLM classifier needs no scikit-learn; each function is
tested against scikit-learn's own on random data and follows its conventions:

* ``labels`` fixes the class order of a probability matrix (its columns); when omitted, it
  is the sorted set of labels seen, as scikit-learn does.
* A binary probability may be given as one column (the probability of ``labels[1]``) or two.
* ROC-AUC and PR-AUC of more than two classes are one-vs-rest, macro-averaged.
* Division by zero (a class never predicted) counts as 0, as scikit-learn's default does.

Example:
    >>> y = ["spam", "ham", "spam", "ham"]
    >>> accuracy(y, ["spam", "spam", "spam", "ham"])
    0.75
    >>> round(roc_auc(y, [0.9, 0.2, 0.6, 0.4], labels=["ham", "spam"]), 3)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compound.errors import UserError

ArrayLike = Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall, F1 and support (true count) of one class."""

    precision: float
    recall: float
    f1: float
    support: int


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    if truth.ndim != 1 or pred.ndim != 1 or len(truth) != len(pred):
        raise UserError(
            f"expected two flat sequences of the same length (truth, prediction); received "
            f"shapes {truth.shape} and {pred.shape}"
        )
    if len(truth) == 0:
        raise UserError("cannot score an empty set: received 0 examples")
    return truth, pred


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The share of predictions equal to the truth.

    Example:
        >>> accuracy([1, 2, 3], [1, 2, 0])
        0.6666666666666666
    """
    truth, pred = _pair(y_true, y_pred)
    return float(np.mean(truth == pred))


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None
) -> np.ndarray:
    """Counts of each (true, predicted) pair: row ``i`` is true class ``labels[i]``.

    Example:
        >>> confusion_matrix(["a", "b", "b"], ["a", "a", "b"]).tolist()
        [[1, 0], [1, 1]]
    """
    truth, pred = _pair(y_true, y_pred)
    classes = np.unique(np.concatenate([truth, pred])) if labels is None else np.asarray(labels)
    index = {label: i for i, label in enumerate(classes.tolist())}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    rows = np.array([index.get(t, -1) for t in truth.tolist()])
    cols = np.array([index.get(p, -1) for p in pred.tolist()])
    keep = (rows >= 0) & (cols >= 0)
    np.add.at(counts, (rows[keep], cols[keep]), 1)
    return counts


def per_class_scores(
    y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None
) -> dict[Any, ClassScores]:
    """Precision, recall, F1 and support of every class, keyed by label.

    Example:
        >>> scores = per_class_scores(["a", "b", "b"], ["a", "a", "b"])
        >>> scores["a"].precision, scores["b"].recall
        (0.5, 0.5)
    """
    truth, pred = _pair(y_true, y_pred)
    classes = np.unique(np.concatenate([truth, pred])) if labels is None else np.asarray(labels)
    counts = confusion_matrix(truth, pred, classes)
    hits = np.diag(counts).astype(float)
    predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return {
        label: ClassScores(float(precision[i]), float(recall[i]), float(f1[i]), int(actual[i]))
        for i, label in enumerate(classes.tolist())
    }


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The unweighted mean of each class's F1 (classes seen in truth or prediction).

    Example:
        >>> round(macro_f1(["a", "b", "b"], ["a", "a", "b"]), 4)
        0.6667
    """
    scores = per_class_scores(y_true, y_pred)
    return float(np.mean([s.f1 for s in scores.values()]))


def _probabilities(
    y_true: ArrayLike, proba: ArrayLike, labels: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth as column indices, an ``(n, k)`` probability matrix, and the labels."""
    truth = np.asarray(y_true)
    matrix = np.asarray(proba, dtype=float)
    classes = np.unique(truth) if labels is None else np.asarray(labels)
    if matrix.ndim == 1:
        if len(classes) != 2:
            raise UserError(
                "a one-column probability is the positive class's of a binary problem; "
                f"received {len(classes)} classes. Pass the full (n, classes) matrix."
            )
        matrix = np.column_stack([1.0 - matrix, matrix])
    if matrix.ndim != 2 or matrix.shape[0] != len(truth) or matrix.shape[1] != len(classes):
        raise UserError(
            f"expected probabilities of shape ({len(truth)}, {len(classes)}) (one column per "
            f"label, in label order); received {matrix.shape}"
        )
    if len(truth) == 0:
        raise UserError("cannot score an empty set: received 0 examples")
    index = {label: i for i, label in enumerate(classes.tolist())}
    unknown = sorted({str(t) for t in truth.tolist() if t not in index})
    if unknown:
        raise UserError(
            f"true labels {', '.join(unknown[:5])} are not among the probability columns' "
            f"labels ({', '.join(map(str, classes.tolist()[:10]))}); pass 'labels' in column order"
        )
    return np.array([index[t] for t in truth.tolist()]), matrix, classes


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic, ties counted as half."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise UserError(
            "ROC-AUC needs both classes among the true labels; received only "
            f"{'positives' if n_neg == 0 else 'negatives'}"
        )
    ranks = _average_ranks(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(values)]])
    ranks = np.empty(len(values), dtype=float)
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2  # mean of ranks start+1 .. end
    return ranks


def _binary_average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """Sum over thresholds of (recall step) x precision, as scikit-learn defines it."""
    if not positive.any():
        raise UserError("PR-AUC needs at least one positive true label; received none")
    order = np.argsort(-score, kind="mergesort")
    ordered, hits = score[order], positive[order].astype(float)
    last_of_tie = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    true_pos = np.cumsum(hits)[last_of_tie]
    predicted = last_of_tie + 1
    precision = true_pos / predicted
    recall = true_pos / true_pos[-1]
    steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(steps * precision))


def roc_auc(y_true: ArrayLike, proba: ArrayLike, labels: ArrayLike | None = None) -> float:
    """Area under the ROC curve; one-vs-rest macro average above two classes.

    Example:
        >>> roc_auc([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.5])
        0.75
    """
    truth, matrix, classes = _probabilities(y_true, proba, labels)
    if len(classes) == 2:
        return _binary_auc(truth == 1, matrix[:, 1])
    return float(np.mean([_binary_auc(truth == k, matrix[:, k]) for k in range(len(classes))]))


def pr_auc(y_true: ArrayLike, proba: ArrayLike, labels: ArrayLike | None = None) -> float:
    """Area under the precision-recall curve (average precision); one-vs-rest macro above two.

    Example:
        >>> round(pr_auc([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.5]), 4)
        0.8333
    """
    truth, matrix, classes = _probabilities(y_true, proba, labels)
    if len(classes) == 2:
        return _binary_average_precision(truth == 1, matrix[:, 1])
    present = [k for k in range(len(classes)) if (truth == k).any()]
    return float(np.mean([_binary_average_precision(truth == k, matrix[:, k]) for k in present]))


def log_loss(y_true: ArrayLike, proba: ArrayLike, labels: ArrayLike | None = None) -> float:
    """Mean negative log-probability of the true class (probabilities clipped away from 0).

    Example:
        >>> round(log_loss(["a", "b"], [[0.9, 0.1], [0.2, 0.8]]), 4)
        0.1643
    """
    truth, matrix, _ = _probabilities(y_true, proba, labels)
    eps = np.finfo(matrix.dtype).eps
    picked = np.clip(matrix[np.arange(len(truth)), truth], eps, 1 - eps)
    return float(-np.mean(np.log(picked)))


def brier_score(y_true: ArrayLike, proba: ArrayLike, labels: ArrayLike | None = None) -> float:
    """Mean squared error of the probabilities against one-hot truth.

    Binary: the squared error of the positive class's probability (0 to 1). More classes:
    the sum over classes (0 to 2), as scikit-learn's multiclass Brier score.

    Example:
        >>> round(brier_score([0, 1], [0.2, 0.6]), 4)
        0.1
    """
    truth, matrix, classes = _probabilities(y_true, proba, labels)
    onehot = np.zeros_like(matrix)
    onehot[np.arange(len(truth)), truth] = 1.0
    if len(classes) == 2:
        return float(np.mean((matrix[:, 1] - onehot[:, 1]) ** 2))
    return float(np.mean(np.sum((matrix - onehot) ** 2, axis=1)))

