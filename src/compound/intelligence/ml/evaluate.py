"""Test metrics of a trained model, by task, from :mod:`compound.metrics`.

* classification: accuracy, macro-F1, ROC-AUC, PR-AUC, log loss, Brier score and expected
  calibration error (after calibration, and of the learner's own probabilities as
  ``ece_uncalibrated``); the report adds per-class precision, recall and F1, and the
  confusion matrix;
* regression: MAE, RMSE, R²;
* ranking: nDCG@k, MRR@10 and MAP over the test queries.

Example:
    >>> PRIMARY_METRIC["regression"]
    'r2'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compound.errors import UserError
from compound.metrics import calibration as cal
from compound.metrics import classification as cls
from compound.metrics import regression as reg

PRIMARY_METRIC = {
    "text_classification": "accuracy",
    "tabular_classification": "accuracy",
    "regression": "r2",
    "ranking": "ndcg@10",
}


def primary_metric(task: str, n_classes: int | None) -> str:
    """The metric a task is judged by first: ROC-AUC for binary, accuracy above two classes."""
    if task in ("text_classification", "tabular_classification") and n_classes == 2:
        return "roc_auc"
    return PRIMARY_METRIC[task]


@dataclass(frozen=True)
class Evaluation:
    """Scalar metrics (what criteria gate on) and the detailed report."""

    metrics: dict[str, float]
    report: dict[str, Any] = field(default_factory=dict)


def classification(
    y: np.ndarray, proba: np.ndarray, raw: np.ndarray, classes: list[Any]
) -> Evaluation:
    """Metrics of calibrated ``proba`` and uncalibrated ``raw`` against class indices ``y``."""
    labels = list(range(len(classes)))
    predicted = proba.argmax(axis=1)
    metrics = {
        "accuracy": cls.accuracy(y, predicted),
        "macro_f1": cls.macro_f1(y, predicted),
        "log_loss": cls.log_loss(y, proba, labels),
        "brier": cls.brier_score(y, proba, labels),
        "ece": cal.expected_calibration_error(y, proba, labels),
        "ece_uncalibrated": cal.expected_calibration_error(y, raw, labels),
    }
    notes = []
    for name, fn in (("roc_auc", cls.roc_auc), ("pr_auc", cls.pr_auc)):
        try:
            metrics[name] = fn(y, proba, labels)
        except UserError as exc:  # a class absent from the test rows
            notes.append(f"{name} not computed: {exc}")
    per_class = cls.per_class_scores(y, predicted, labels)
    report = {
        "per_class": {str(classes[k]): vars(s) for k, s in per_class.items()},
        "confusion": {"labels": [str(c) for c in classes],
                      "matrix": cls.confusion_matrix(y, predicted, labels).tolist()},
        "rows": len(y),
    }
    if notes:
        report["notes"] = notes
    return Evaluation(metrics, report)


def regression(y: np.ndarray, values: np.ndarray) -> Evaluation:
    """MAE, RMSE and R² of predicted ``values``."""
    return Evaluation({"mae": reg.mae(y, values), "rmse": reg.rmse(y, values),
                       "r2": reg.r2(y, values)}, {"rows": len(y)})


def ranking(y: np.ndarray, scores: np.ndarray, groups: np.ndarray, *, k: int = 10) -> Evaluation:
    """nDCG@k, MRR@10 and MAP@100 over the queries in ``groups``."""
    from compound.metrics.ranking import evaluate_ranking

    run: dict[str, list[str]] = {}
    qrels: dict[str, dict[str, float]] = {}
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        order = rows[np.argsort(-scores[rows], kind="stable")]
        run[str(group)] = [str(r) for r in order]
        qrels[str(group)] = {str(r): float(y[r]) for r in rows}
    found = evaluate_ranking(run, qrels, ndcg_k=(k,), recall_k=(), mrr_k=(10,), map_k=(100,))
    return Evaluation(dict(found.metrics), {"queries": found.queries, "rows": len(y)})
