"""The test metrics of a trained model, defined as metrics, so that each says, like every
registered metric, whether higher is better.

A trained model's test report (:mod:`compound.intelligence.ml.evaluate`) computes these from
class probabilities, scores or per-query rankings, which an eval target does not give, so they
are not registered for evals under ``compound.metrics``; they are defined here instead, and
:func:`compound.metrics.registry.lower_is_better` reads their direction the same
way as a registered metric's. A ranking metric at a cut-off (``ndcg@10``) is defined once, by
its name before the ``@``.

Example:
    >>> TRAINED_METRICS["log_loss"].higher_is_better, TRAINED_METRICS["roc_auc"].higher_is_better
    (False, True)
"""

from __future__ import annotations

from collections.abc import Sequence

from compound.metrics import calibration as cal
from compound.metrics import classification as cls
from compound.metrics import ranking as rank
from compound.metrics import regression as reg
from compound.metrics.base import Metric, metric
from compound.metrics.stability import prediction_churn


def _churn(before: Sequence[object], before_confidence: Sequence[float],
           after: Sequence[object], after_confidence: Sequence[float]) -> float:
    return prediction_churn(before, before_confidence, after, after_confidence).churn


def _confident_churn(before: Sequence[object], before_confidence: Sequence[float],
                     after: Sequence[object], after_confidence: Sequence[float]) -> float:
    return prediction_churn(before, before_confidence, after, after_confidence).confident_churn


def _negative_flips(before: Sequence[object], before_confidence: Sequence[float],
                    after: Sequence[object], after_confidence: Sequence[float],
                    truth: Sequence[object]) -> float | None:
    return prediction_churn(before, before_confidence, after, after_confidence,
                            truth=truth).negative_flips


_DEFINED: tuple[Metric, ...] = (
    metric(cls.accuracy, name="accuracy"),
    metric(cls.macro_f1, name="macro_f1"),
    metric(cls.roc_auc, name="roc_auc"),
    metric(cls.pr_auc, name="pr_auc"),
    metric(cls.log_loss, name="log_loss", higher_is_better=False),
    metric(cls.brier_score, name="brier", higher_is_better=False),
    metric(cal.expected_calibration_error, name="ece", higher_is_better=False),
    metric(cal.expected_calibration_error, name="ece_uncalibrated", higher_is_better=False,
           description="expected calibration error of the learner's own probabilities"),
    metric(reg.mae, name="mae", higher_is_better=False),
    metric(reg.rmse, name="rmse", higher_is_better=False),
    metric(reg.r2, name="r2"),
    metric(rank.ndcg_at_k, name="ndcg"),
    metric(rank.mrr_at_k, name="mrr"),
    metric(rank.average_precision, name="map"),
    metric(rank.recall_at_k, name="recall"),
    metric(rank.precision_at_k, name="precision"),
    # between the production and the candidate version on the same rows (promotion only)
    metric(_churn, name="churn", higher_is_better=False,
           description="share of rows whose predicted label changed between two versions"),
    metric(_confident_churn, name="confident_churn", higher_is_better=False,
           description="share of rows whose label changed while both versions were confident"),
    metric(_negative_flips, name="negative_flips", higher_is_better=False,
           description="share of rows the older version had right and the newer gets wrong"),
)

#: every trained model's test metric, by name (a ranking metric by its name before the ``@``)
TRAINED_METRICS: dict[str, Metric] = {m.name: m for m in _DEFINED}
