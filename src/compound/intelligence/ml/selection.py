"""Choosing a predictor's learner: its own and its ``candidates``, compared by k-fold
cross-validation on the training rows.

A predictor that lists ``candidates`` (other learners, or the same learner with other
``params``) has each of them, and its own ``learner``/``params`` first, fitted on
:data:`FOLDS` - 1 folds of the training rows and scored on the remaining fold, once per fold.
Only the training rows are cut: the calibration, test, gate and final rows are never seen by
the comparison, so the test metrics of the chosen model are as unselected as without one.
The score is the predictor's primary metric (accuracy, ROC-AUC for two classes, R², nDCG@k),
on the learner's own scores (before calibration). The best mean wins; a tie keeps the
earlier entry, so the spec's own learner stays unless a candidate does better.

Each (candidate, fold) fit is one call of :func:`fit_candidate_fold`, run here one after the
other or as Ray tasks through a :class:`~compound.intelligence.ml.crossfit.FanOut`
(``compound train --on ray``): the same folds and seeds, so the same choice.

Example:
    >>> import numpy as np
    >>> held = selection_folds("regression", np.arange(6.0), None, k=3, seed=0)
    >>> sorted(len(f) for f in held)
    [2, 2, 2]
    >>> held = selection_folds("ranking", np.zeros(6), np.array(list("aabbcc")), k=3, seed=0)
    >>> sorted(f.tolist() for f in held)
    [[0, 1], [2, 3], [4, 5]]
    >>> found = Selection(metric="accuracy", folds=2, chosen=1, candidates=[
    ...     CandidateScore("tfidf_linear", {}, [0.8, 0.82], [0.1, 0.1]),
    ...     CandidateScore("tfidf_linear", {"C": 2.0}, [0.9, 0.92], [0.1, 0.1])])
    >>> found.best.label, round(found.best.mean, 3)
    ('tfidf_linear C=2.0', 0.91)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from compound.intelligence.ml import evaluate
from compound.intelligence.ml.crossfit import FanOut, folds
from compound.intelligence.ml.learners import learner_class, softmax
from compound.intelligence.ml.params import CLASSIFICATION_TASKS, params_for

if TYPE_CHECKING:
    import pandas as pd

    from compound.intelligence.embedders import Embedder
    from compound.intelligence.ml.schema import FeatureSchema
    from compound.intelligence.spec import PredictorSpec

#: Folds of the comparison.
FOLDS = 5


@dataclass(frozen=True)
class CandidateScore:
    """One entry's cross-validated metric.

    Attributes:
        learner, params: what was fitted.
        scores: the metric on each fold.
        fit_seconds: how long each fold's fit took (where it ran).
    """

    learner: str
    params: dict[str, Any]
    scores: list[float]
    fit_seconds: list[float]

    @property
    def label(self) -> str:
        """``learner`` with its params, as a table shows it."""
        shown = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.learner} {shown}".strip()

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    def to_dict(self) -> dict[str, Any]:
        return {"learner": self.learner, "params": self.params, "mean": self.mean,
                "std": self.std, "scores": self.scores,
                "fit_seconds": float(np.mean(self.fit_seconds))}


@dataclass(frozen=True)
class Selection:
    """The comparison a training run made, kept in the version's report (``selection``).

    Attributes:
        metric: what the candidates were compared on.
        folds: how many folds of the training rows.
        candidates: the spec's own learner first, then its ``candidates``, in order.
        chosen: the position of the winner in ``candidates``.
        rows: the training rows the folds were cut from (no other rows take part).
    """

    metric: str
    folds: int
    candidates: list[CandidateScore]
    chosen: int
    rows: int = 0

    @property
    def best(self) -> CandidateScore:
        return self.candidates[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "folds": self.folds, "chosen": self.chosen,
                "rows": self.rows, "candidates": [c.to_dict() for c in self.candidates]}


@dataclass(frozen=True)
class FoldSetup:
    """What every fit of the comparison shares besides the rows (sent once to Ray)."""

    task: str
    schema: FeatureSchema
    seed: int
    n_classes: int
    metric: str
    ndcg_at: int


def entries(spec: PredictorSpec) -> list[tuple[str, dict[str, Any]]]:
    """The spec's own learner and params, then each candidate's (the spec's learner when a
    candidate names none)."""
    own = spec.learner_name
    return [(own, dict(spec.params)),
            *[(c.learner or own, dict(c.params)) for c in spec.candidates]]


def selection_folds(task: str, y: np.ndarray, groups: np.ndarray | None, *, k: int,
                    seed: int) -> list[np.ndarray]:
    """The rows each fold holds out: stratified by class for classification, whole queries
    for ranking, at random for regression."""
    if task in CLASSIFICATION_TASKS:
        return folds(y, k=k, seed=seed)
    if groups is None:
        return folds(np.zeros(len(y), dtype=int), k=k, seed=seed)
    unique, codes = np.unique(groups, return_inverse=True)
    fold_of = np.random.default_rng(seed).permutation(len(unique)) % k
    return [np.flatnonzero(fold_of[codes] == fold) for fold in range(k)]


def select(spec: PredictorSpec, frame: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None,
           *, schema: FeatureSchema, n_classes: int, metric: str, ndcg_at: int,
           fan_out: FanOut | None = None, embedder: Embedder | None = None) -> Selection:
    """Compare :func:`entries` of ``spec`` on the training rows ``frame`` and ``y``.

    Args:
        fan_out: run the fits there (Ray tasks); None: here, one after the other.
        embedder: the predictor's embedder, for fits here (with one, fits stay here).
    """
    setup = FoldSetup(task=spec.task, schema=schema, seed=spec.split.seed, n_classes=n_classes,
                      metric=metric, ndcg_at=ndcg_at)
    held = [f for f in selection_folds(spec.task, y, groups, k=FOLDS, seed=spec.split.seed + 3)
            if len(f)]
    found = entries(spec)
    items = [(learner, params, fold) for learner, params in found for fold in held]
    if fan_out is not None and embedder is None:
        results = fan_out.map(fit_candidate_fold, (frame, y, groups, setup), items)
    else:
        results = [fit_candidate_fold(frame, y, groups, setup, *item, embedder=embedder)
                   for item in items]
    scored = []
    for number, (learner, params) in enumerate(found):
        mine = results[number * len(held):(number + 1) * len(held)]
        scored.append(CandidateScore(learner, params, [float(m) for m, _ in mine],
                                     [float(s) for _, s in mine]))
    # a fold the metric could not be measured on (nan) ranks an entry last
    best = max(range(len(scored)), key=lambda i: (
        -np.inf if np.isnan(scored[i].mean) else scored[i].mean, -i))
    return Selection(metric=metric, folds=len(held), candidates=scored, chosen=best,
                     rows=len(y))


def fit_candidate_fold(frame: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None,
                       setup: FoldSetup, learner: str, params: dict[str, Any],
                       fold: np.ndarray, embedder: Embedder | None = None
                       ) -> tuple[float, float]:
    """Fit ``learner`` with ``params`` on every row but ``fold``'s and score ``fold``: the
    metric and the fit's seconds (a module-level function so that it can run in another
    process)."""
    rest = np.setdiff1d(np.arange(len(frame)), fold, assume_unique=True)
    model = learner_class(learner)(task=setup.task, params=params_for(learner, params),
                                   schema=setup.schema, seed=setup.seed, embedder=embedder)
    started = time.perf_counter()
    model.fit(frame.iloc[rest], y[rest], n_classes=setup.n_classes or None,
              groups=None if groups is None else groups[rest])
    seconds = time.perf_counter() - started
    scores = np.asarray(model.scores(frame.iloc[fold]))
    return _metric(setup, y[fold], scores, None if groups is None else groups[fold]), seconds


def _metric(setup: FoldSetup, y: np.ndarray, scores: np.ndarray,
            groups: np.ndarray | None) -> float:
    if setup.task in CLASSIFICATION_TASKS:
        proba = softmax(scores)
        found = evaluate.classification(y, proba, proba, list(range(setup.n_classes)))
    elif setup.task == "ranking":
        assert groups is not None
        found = evaluate.ranking(y, scores, groups, k=setup.ndcg_at)
    else:
        found = evaluate.regression(y, scores)
    return float(found.metrics.get(setup.metric, float("nan")))


def describe(selection: Selection) -> str:
    """One line for a version's details: what won, on what, over what."""
    best = selection.best
    others = sum(1 for i in range(len(selection.candidates)) if i != selection.chosen)
    return (f"{best.label} ({selection.metric} {best.mean:.4f} ± {best.std:.4f} over "
            f"{selection.folds} folds of {selection.rows:,} training rows; {others} other(s) "
            "compared)")


def selection_from(record: dict[str, Any]) -> Selection:
    """A :class:`Selection` from its :meth:`Selection.to_dict` (a version's report)."""
    return Selection(metric=record["metric"], folds=record["folds"], chosen=record["chosen"],
                     rows=record.get("rows", 0),
                     candidates=[CandidateScore(c["learner"], c["params"], c["scores"],
                                                [c["fit_seconds"]] * len(c["scores"]))
                                 for c in record["candidates"]])
