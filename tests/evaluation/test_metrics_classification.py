"""Classification and calibration metrics, each checked against scikit-learn on random data."""

from __future__ import annotations

import numpy as np
import pytest

from compound.errors import UserError
from compound.metrics.calibration import (
    expected_calibration_error,
    reliability_bins,
)
from compound.metrics.classification import (
    accuracy,
    brier_score,
    confusion_matrix,
    log_loss,
    macro_f1,
    per_class_scores,
    pr_auc,
    roc_auc,
)

skm = pytest.importorskip("sklearn.metrics")
SEEDS = range(5)


def _random_problem(seed: int, classes: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """True labels and a probability matrix that is informative but imperfect."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), truth] += rng.uniform(0, 2)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return truth, proba


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [2, 5])
def test_label_metrics_match_sklearn(seed: int, classes: int) -> None:
    truth, proba = _random_problem(seed, classes)
    names = np.array([f"c{k}" for k in range(classes)])
    y, pred = names[truth], names[proba.argmax(axis=1)]
    assert accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred))
    assert macro_f1(y, pred) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    np.testing.assert_array_equal(confusion_matrix(y, pred), skm.confusion_matrix(y, pred))
    precision, recall, _, support = skm.precision_recall_fscore_support(
        y, pred, labels=names, zero_division=0
    )
    scores = per_class_scores(y, pred, labels=names)
    assert [scores[n].precision for n in names] == pytest.approx(precision)
    assert [scores[n].recall for n in names] == pytest.approx(recall)
    assert [scores[n].support for n in names] == list(support)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [2, 4])
def test_probability_metrics_match_sklearn(seed: int, classes: int) -> None:
    truth, proba = _random_problem(seed, classes)
    labels = list(range(classes))
    if classes == 2:
        expected_auc = skm.roc_auc_score(truth, proba[:, 1])
        expected_ap = skm.average_precision_score(truth, proba[:, 1])
        expected_brier = skm.brier_score_loss(truth, proba[:, 1])
    else:
        expected_auc = skm.roc_auc_score(truth, proba, multi_class="ovr", average="macro")
        onehot = np.eye(classes)[truth]
        expected_ap = skm.average_precision_score(onehot, proba, average="macro")
        expected_brier = np.mean(np.sum((proba - onehot) ** 2, axis=1))
    assert roc_auc(truth, proba, labels) == pytest.approx(expected_auc)
    assert pr_auc(truth, proba, labels) == pytest.approx(expected_ap)
    assert brier_score(truth, proba, labels) == pytest.approx(expected_brier)
    assert log_loss(truth, proba, labels) == pytest.approx(skm.log_loss(truth, proba))


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_auc_with_ties_and_one_column_input(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, 200)
    score = np.round(rng.uniform(size=200) + 0.3 * truth, 1)  # many ties
    assert roc_auc(truth, score) == pytest.approx(skm.roc_auc_score(truth, score))
    assert pr_auc(truth, score) == pytest.approx(skm.average_precision_score(truth, score))


def test_brier_multiclass_matches_sklearn_when_available() -> None:
    truth, proba = _random_problem(7, 3)
    try:
        expected = skm.brier_score_loss(truth, proba, labels=[0, 1, 2])
    except (TypeError, ValueError):
        pytest.skip("this scikit-learn has no multiclass Brier score")
    assert brier_score(truth, proba, [0, 1, 2]) == pytest.approx(expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_ece_matches_sklearn_calibration_curve(seed: int) -> None:
    from sklearn.calibration import calibration_curve

    truth, proba = _random_problem(seed, 4, n=500)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == truth).astype(int)
    accuracy_per_bin, confidence_per_bin = calibration_curve(
        correct, confidence, n_bins=10, strategy="uniform"
    )
    counts = [b.count for b in reliability_bins(truth, proba, [0, 1, 2, 3], n_bins=10)]
    expected = np.sum(np.array(counts) * np.abs(accuracy_per_bin - confidence_per_bin)) / 500
    got = expected_calibration_error(truth, proba, [0, 1, 2, 3], n_bins=10)
    assert got == pytest.approx(expected)


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    # 10 predictions at confidence 0.8, 8 of them right.
    truth = np.array([0] * 8 + [1] * 2)
    proba = np.tile([0.8, 0.2], (10, 1))
    assert expected_calibration_error(truth, proba, [0, 1]) == pytest.approx(0.0)
    overconfident = np.tile([0.99, 0.01], (10, 1))
    assert expected_calibration_error(truth, overconfident, [0, 1]) == pytest.approx(0.19)


def test_bad_inputs_say_what_was_expected() -> None:
    with pytest.raises(UserError, match="same length"):
        accuracy([1, 2], [1])
    with pytest.raises(UserError, match="empty"):
        accuracy([], [])
    with pytest.raises(UserError, match=r"shape \(2, 3\)"):
        log_loss([0, 1], [[0.5, 0.5], [0.5, 0.5]], labels=[0, 1, 2])
    with pytest.raises(UserError, match="both classes"):
        roc_auc([1, 1], [0.3, 0.8], labels=[0, 1])
    with pytest.raises(UserError, match="not among"):
        log_loss(["x", "z"], [[0.5, 0.5], [0.5, 0.5]], labels=["x", "y"])
