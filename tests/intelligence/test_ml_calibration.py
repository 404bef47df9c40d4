"""Calibrators: they fix over-confidence, agree with scikit-learn's Platt and isotonic fits,
keep rows summing to one, and survive a round trip through the artifact manifest."""

from __future__ import annotations

import numpy as np
import pytest

from compound.intelligence.ml.calibration import (
    IsotonicCalibration,
    SigmoidCalibration,
    TemperatureScaling,
    calibrator_from_dict,
    make_calibrator,
    resolve_method,
)
from compound.intelligence.ml.learners import softmax
from compound.metrics.calibration import expected_calibration_error

pytest.importorskip("sklearn")


def overconfident(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose softmax is far more confident than the labels justify."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), y] += 1.0
    return logits * 6.0, y


@pytest.mark.parametrize("method", ["temperature", "sigmoid", "isotonic"])
@pytest.mark.parametrize("classes", [2, 5])
def test_calibration_lowers_ece_on_held_out_rows(method: str, classes: int) -> None:
    fit_scores, fit_y = overconfident(3000, classes, seed=1)
    test_scores, test_y = overconfident(3000, classes, seed=2)
    labels = list(range(classes))
    before = expected_calibration_error(test_y, softmax(test_scores), labels)
    calibrator = make_calibrator(method, n_classes=classes)
    calibrator.fit(fit_scores, fit_y)
    proba = calibrator.proba(test_scores)
    assert proba.shape == (3000, classes)
    assert np.allclose(proba.sum(axis=1), 1.0)
    after = expected_calibration_error(test_y, proba, labels)
    assert before > 0.15 and after < before / 3


def test_temperature_keeps_the_winning_class() -> None:
    scores, y = overconfident(500, 4, seed=3)
    calibrator = TemperatureScaling()
    calibrator.fit(scores, y)
    assert calibrator.temperature > 1.0
    assert (calibrator.proba(scores).argmax(axis=1) == scores.argmax(axis=1)).all()


def test_sigmoid_matches_sklearn_platt_scaling() -> None:
    from sklearn.calibration import _sigmoid_calibration

    scores, y = overconfident(800, 2, seed=4)
    margin = scores[:, 1] - scores[:, 0]
    calibrator = SigmoidCalibration()
    calibrator.fit(scores, y)
    a, b = _sigmoid_calibration(margin, y)  # sklearn: p = 1 / (1 + exp(a * f + b))
    expected = 1.0 / (1.0 + np.exp(a * margin + b))
    assert calibrator.proba(scores)[:, 1] == pytest.approx(expected, abs=1e-4)


def test_isotonic_matches_sklearn_isotonic_regression() -> None:
    from sklearn.isotonic import IsotonicRegression

    scores, y = overconfident(800, 3, seed=5)
    calibrator = IsotonicCalibration()
    calibrator.fit(scores, y)
    new_scores, _ = overconfident(200, 3, seed=6)
    raw = np.column_stack([
        IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
        .fit(scores[:, k], y == k).predict(new_scores[:, k]) for k in range(3)
    ])
    expected = raw / raw.sum(axis=1, keepdims=True)
    assert calibrator.proba(new_scores) == pytest.approx(expected)


@pytest.mark.parametrize("method", ["temperature", "sigmoid", "isotonic", "none"])
def test_round_trip_through_json(method: str) -> None:
    import json

    scores, y = overconfident(400, 3, seed=7)
    calibrator = make_calibrator(method, n_classes=3)
    calibrator.fit(scores, y)
    restored = calibrator_from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert restored.proba(scores) == pytest.approx(calibrator.proba(scores))


def test_auto_method() -> None:
    assert resolve_method("auto", n_classes=77, n_rows=100) == "temperature"
    assert resolve_method("auto", n_classes=2, n_rows=5000) == "sigmoid"
    assert resolve_method("auto", n_classes=2) == "sigmoid"
    assert resolve_method("auto", n_classes=2, n_rows=20) == "temperature"
    assert resolve_method("isotonic", n_classes=77, n_rows=10) == "isotonic"
