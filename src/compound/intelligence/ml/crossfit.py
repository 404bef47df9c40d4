"""Cross-fitting: out-of-fold scores over the training rows, for calibration and routing.

With ``split.cross_fit: k`` a classifier is not calibrated on a held-out share of its data.
The training rows are cut into ``k`` stratified folds; for each fold a copy of the learner is
fitted on the other folds and scores the fold. Every training row then has a score from a
model that never saw it (an *out-of-fold* score). The calibrator is fitted on all of them,
and the final model trains on every row: nothing is held back, and calibration sees
``k`` times more rows than a 1/k split would give it.

The out-of-fold predictions also say how often the model is right at each confidence, over
the whole training set: :class:`OutOfFold` keeps them, and a confidence router calibrates its
threshold on them (:func:`compound.strategy.thresholds.calibrate_router`) when no labelled
file is given. On Banking77 (train + valid, 10,162 rows) a threshold chosen on 5-fold
out-of-fold predictions for covered accuracy 0.98 with a 95% Wilson lower bound held 0.982 on
the test split at 87.7% coverage; the point estimate (no bound) gave 0.979, and a threshold
chosen on the 1,540-row validation split alone gave 0.977 (see ``bench/routing.py``). The
out-of-fold models train on
(k-1)/k of the rows, so they are slightly weaker than the final model: a threshold chosen on
them errs on the careful side.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    >>> held = folds(y, k=2, seed=0)
    >>> [sorted(y[f].tolist()) for f in held]
    [[0, 0, 1, 1], [0, 0, 1]]
    >>> oof = OutOfFold(confidence=np.array([0.91, 0.62, 0.9]),
    ...                 correct=np.array([True, False, True]), folds=2)
    >>> oof.to_dict()["bins"]
    [[0.62, 1, 0], [0.9, 1, 1], [0.91, 1, 1]]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from compound.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from compound.intelligence.ml.learners import FitProgress, Learner

#: Out-of-fold confidences are kept in the registry rounded down to this step, which keeps a
#: version's record small (at most 1,001 bins) and never overstates a confidence.
STEP = 0.001


def folds(strata: np.ndarray, *, k: int, seed: int, keep: int | None = None
          ) -> list[np.ndarray]:
    """Stratified folds: the row positions each of the ``k`` folds holds out.

    Each class's rows are shuffled and dealt round the folds, so every fold holds about
    1/k of each class. A class with a single row is never held out, so that every fold's
    training rows hold every class.

    Args:
        strata: the class index of each row.
        k: the number of folds (at least 2).
        seed: the random seed.
        keep: only the first ``keep`` rows may be held out (the rest always train); None:
            all rows.

    Returns:
        ``k`` sorted arrays of row positions, disjoint.
    """
    if k < 2:
        raise UserError(f"cross-fitting needs at least 2 folds; received {k}")
    rng = np.random.default_rng(seed)
    limit = len(strata) if keep is None else keep
    assigned = np.full(len(strata), -1)
    offset = 0
    for value in np.unique(strata[:limit]):
        members = np.flatnonzero(strata[:limit] == value)
        if np.count_nonzero(strata == value) < 2:
            continue
        shuffled = rng.permutation(members)
        assigned[shuffled] = (np.arange(len(shuffled)) + offset) % k
        offset += len(shuffled)  # the next class starts where this one stopped: even folds
    return [np.flatnonzero(assigned == fold) for fold in range(k)]


def out_of_fold_scores(
    make_learner: Callable[[], Learner],
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    n_classes: int,
    k: int,
    seed: int,
    keep: int | None = None,
    progress: Callable[[int], FitProgress] | None = None,
    fan_out: FanOut | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each held-out row's scores from a learner fitted on the other folds.

    Args:
        make_learner: a fresh, unfitted learner.
        frame: the encoded training rows.
        y: their class indices.
        n_classes: the number of classes (columns of the scores).
        k: the number of folds.
        seed: the seed of the folds.
        keep: as for :func:`folds`.
        progress: the progress callback of fold ``i``, when there is a bar to move.
        fan_out: fit the folds there, in parallel (Ray tasks); the same folds and seeds
            give the same scores as here.

    Returns:
        ``(rows, scores)``: the positions that were held out, and their ``(n, classes)``
        scores in that order.
    """
    held = folds(y, k=k, seed=seed, keep=keep)
    rows = np.sort(np.concatenate(held))
    scores = np.zeros((len(frame), n_classes))
    work = [(index, fold) for index, fold in enumerate(held) if len(fold)]
    if fan_out is not None:  # elsewhere, all at once: no progress to show, same seeds
        found_all = fan_out.map(fit_fold, (make_learner, frame, y, n_classes),
                                [(index, fold) for index, fold in work])
    else:
        found_all = [fit_fold(make_learner, frame, y, n_classes, index, fold,
                              progress=None if progress is None else progress(index))
                     for index, fold in work]
    for (index, fold), found in zip(work, found_all, strict=True):
        if found.shape != (len(fold), n_classes):
            raise UserError(
                f"cross-fitting: the '{spec_name(make_learner)}' learner scored "
                f"{found.shape[1]} classes on fold {index + 1} of {k}, expected {n_classes}; "
                "give each class at least two rows, or set 'split.cross_fit: 0'"
            )
        scores[fold] = found
    return rows, scores[rows]


def fit_fold(make_learner: Callable[[], Learner], frame: pd.DataFrame, y: np.ndarray,
             n_classes: int, index: int, fold: np.ndarray,
             progress: FitProgress | None = None) -> np.ndarray:
    """Fit a fresh learner on every row but ``fold``'s and return its scores of ``fold``
    (one fold of :func:`out_of_fold_scores`; a module-level function so that it can run in
    another process)."""
    rest = np.setdiff1d(np.arange(len(frame)), fold, assume_unique=True)
    learner = make_learner()
    kwargs: dict[str, Any] = {} if progress is None else {"progress": progress}
    learner.fit(frame.iloc[rest], y[rest], n_classes=n_classes, **kwargs)
    return np.asarray(learner.scores(frame.iloc[fold]))


def spec_name(make_learner: Callable[[], Learner]) -> str:
    """The learner's name, for a message."""
    return str(getattr(make_learner(), "name", "?"))


class FanOut(Protocol):
    """Runs one function over many items elsewhere (Ray tasks:
    :class:`compound.scale.fan_out.RayFanOut`), returning the results in the items' order.

    ``shared`` is sent once and passed first to every call: ``fn(*shared, *item)``.
    """

    def map(self, fn: Callable[..., Any], shared: tuple[Any, ...],
            items: Sequence[tuple[Any, ...]]) -> list[Any]: ...


@dataclass(frozen=True)
class OutOfFold:
    """The out-of-fold predictions of a cross-fitted classifier, after calibration.

    Attributes:
        confidence: the calibrated probability of the predicted class, per held-out row.
        correct: whether the predicted class was the true one, per row.
        folds: how many folds they came from.
    """

    confidence: np.ndarray
    correct: np.ndarray
    folds: int

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if len(self.correct) else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON form for the registry: rows counted per confidence bin of
        :data:`STEP` (rounded down), as ``[confidence, rows, right]`` triples."""
        bins = np.floor(np.asarray(self.confidence, dtype=float) / STEP + 1e-9).astype(int)
        keys, inverse = np.unique(bins, return_inverse=True)
        rows = np.bincount(inverse, minlength=len(keys))
        right = np.bincount(inverse, weights=np.asarray(self.correct, dtype=float),
                            minlength=len(keys))
        return {"folds": self.folds, "step": STEP, "bins": [
            [round(float(key) * STEP, 6), int(n), int(r)]
            for key, n, r in zip(keys, rows, right, strict=True)]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutOfFold:
        """Rebuild from :meth:`to_dict` (confidences come back rounded down to the bin)."""
        confidence: list[float] = []
        correct: list[bool] = []
        for value, rows, right in data["bins"]:
            confidence.extend([float(value)] * int(rows))
            correct.extend([True] * int(right) + [False] * (int(rows) - int(right)))
        return cls(np.array(confidence), np.array(correct, dtype=bool), int(data["folds"]))


def out_of_fold_calibration(method: str, scores: np.ndarray, y: np.ndarray, *, k: int = 5,
                            seed: int = 0) -> np.ndarray:
    """Calibrated probabilities of rows the calibrator was fitted on, cross-fitted.

    A model calibrated on a labelled file is over-confident *on that file*: the calibrator
    has seen those rows. Here each of ``k`` folds is scored by a calibrator of the same
    ``method`` fitted on the other folds, so every row's probability comes from a calibrator
    that never saw it. The learner's scores are given: the learner never trained on these
    rows, only the calibrator did.

    Args:
        method: the calibration method (``temperature``, ``sigmoid``, ...).
        scores: the learner's ``(n, classes)`` scores.
        y: class indices; -1 for a label the model does not know (never fitted on, always
            wrong).
        k: folds.
        seed: seed of the folds.

    Returns:
        ``(n, classes)`` probabilities.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 60)
        >>> scores = np.eye(3)[y] * 4 + rng.normal(size=(60, 3))
        >>> out_of_fold_calibration("temperature", scores, y, k=3).shape
        (60, 3)
    """
    from compound.intelligence.ml.calibration import make_calibrator

    n, n_classes = scores.shape
    assigned = np.random.default_rng(seed).permutation(n) % k  # every row held out once
    proba = np.zeros((n, n_classes))
    for fold in range(k):
        held = assigned == fold
        fit = ~held & (y >= 0)
        calibrator = make_calibrator(method, n_classes=n_classes, n_rows=int(fit.sum()))
        calibrator.fit(scores[fit], y[fit])
        proba[held] = calibrator.proba(scores[held])
    return proba
