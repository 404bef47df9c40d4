"""Regression metrics against scikit-learn on random data."""

from __future__ import annotations

import numpy as np
import pytest

from compound.errors import UserError
from compound.metrics.regression import mae, r2, rmse

skm = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", range(5))
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=200) * 10
    pred = truth + rng.normal(size=200) * 3
    assert mae(truth, pred) == pytest.approx(skm.mean_absolute_error(truth, pred))
    assert rmse(truth, pred) == pytest.approx(np.sqrt(skm.mean_squared_error(truth, pred)))
    assert r2(truth, pred) == pytest.approx(skm.r2_score(truth, pred))


def test_r2_of_constant_truth_follows_sklearn() -> None:
    assert r2([2.0, 2.0], [2.0, 2.0]) == skm.r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert r2([2.0, 2.0], [1.0, 3.0]) == skm.r2_score([2.0, 2.0], [1.0, 3.0]) == 0.0


def test_non_numbers_are_refused() -> None:
    with pytest.raises(UserError, match="numbers"):
        mae(["a"], ["b"])
    with pytest.raises(UserError, match="same length"):
        rmse([1.0, 2.0], [1.0])

