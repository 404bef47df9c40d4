"""Calibrated confidence: mapping a learner's scores to probabilities that mean what they say.

A calibrator is fitted on held-out rows the learner never trained on, so that among the
predictions given probability 0.8, about 80% are right. Routing and human review act on that
number. Methods:

* ``temperature``: one parameter for all classes, ``softmax(scores / T)``; the multinomial
  form of sigmoid (Platt) scaling. It never changes which class wins, and with one parameter
  it is stable even when each of many classes has few held-out rows. The default above two
  classes.
* ``sigmoid``: Platt scaling, ``1 / (1 + exp(-(a*s + b)))``, on the margin of a binary model,
  or one-vs-rest per class (then normalised) above two.
* ``isotonic``: a monotone step function per class (one-vs-rest), the most flexible; it needs
  about a thousand held-out rows to beat sigmoid.
* ``none``: the learner's own softmax, as it is.

``auto`` picks temperature above two classes (or below 50 held-out rows) and sigmoid for
two. Isotonic's steps tie many scores together, which costs ROC-AUC, and it can answer exactly
0 or 1, a certainty no held-out sample supports; ask for it where its flexibility is worth that.

Example:
    >>> import numpy as np
    >>> scores = np.array([[4.0, 0.0], [0.0, 4.0], [3.0, 0.0], [0.0, 3.0], [4.0, 0.0]])
    >>> calibrator = make_calibrator("temperature", n_classes=2)
    >>> calibrator.fit(scores, np.array([0, 1, 1, 1, 0]))
    >>> bool(calibrator.proba(scores).max() < 0.98)
    True
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from compound.errors import UserError
from compound.intelligence.ml.learners.base import softmax

METHODS = ("temperature", "sigmoid", "isotonic", "none")
#: Fewer held-out rows than this make ``auto`` choose temperature scaling for two classes.
FEW_ROWS = 50


class Calibrator(abc.ABC):
    """Maps ``(n, classes)`` scores (whose softmax is the raw probability) to probabilities."""

    method: ClassVar[str]

    @abc.abstractmethod
    def fit(self, scores: np.ndarray, y: np.ndarray) -> None:
        """Fit on held-out scores and true class indices."""

    @abc.abstractmethod
    def proba(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated ``(n, classes)`` probabilities, rows summing to 1."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The fitted parameters as JSON (artifact manifests keep them)."""

    @classmethod
    @abc.abstractmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """Rebuild from :meth:`to_dict`."""


class Uncalibrated(Calibrator):
    """The learner's own softmax."""

    method: ClassVar[str] = "none"

    def fit(self, scores: np.ndarray, y: np.ndarray) -> None:
        return None

    def proba(self, scores: np.ndarray) -> np.ndarray:
        return softmax(scores)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls()


class TemperatureScaling(Calibrator):
    """``softmax(scores / T)`` with ``T`` minimising the held-out log loss."""

    method: ClassVar[str] = "temperature"

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def fit(self, scores: np.ndarray, y: np.ndarray) -> None:
        from scipy.optimize import minimize_scalar

        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            scaled = scores / np.exp(log_t)
            shifted = scaled - scaled.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(shifted).sum(axis=1))
            return float(np.mean(log_norm - shifted[rows, y]))

        found = minimize_scalar(nll, bounds=(-7.0, 7.0), method="bounded")
        self.temperature = float(np.exp(found.x))

    def proba(self, scores: np.ndarray) -> np.ndarray:
        return softmax(scores / self.temperature)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "temperature": self.temperature}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls(float(data["temperature"]))


class _PerColumn(Calibrator):
    """One-dimensional maps per class (one-vs-rest), or on the margin of a binary model."""

    def __init__(self, maps: list[dict[str, list[float]]] | None = None) -> None:
        self.maps = maps or []

    @staticmethod
    def _inputs(scores: np.ndarray) -> list[np.ndarray]:
        if scores.shape[1] == 2:
            return [scores[:, 1] - scores[:, 0]]
        return [scores[:, k] for k in range(scores.shape[1])]

    @abc.abstractmethod
    def _fit_one(self, x: np.ndarray, positive: np.ndarray) -> dict[str, list[float]]: ...

    @abc.abstractmethod
    def _apply_one(self, x: np.ndarray, fitted: Mapping[str, list[float]]) -> np.ndarray: ...

    def fit(self, scores: np.ndarray, y: np.ndarray) -> None:
        inputs = self._inputs(scores)
        targets = [y == 1] if len(inputs) == 1 else [y == k for k in range(len(inputs))]
        self.maps = [self._fit_one(x, t) for x, t in zip(inputs, targets, strict=True)]

    def proba(self, scores: np.ndarray) -> np.ndarray:
        columns = [self._apply_one(x, m) for x, m in zip(self._inputs(scores), self.maps,
                                                           strict=True)]
        if len(columns) == 1:
            return np.column_stack([1.0 - columns[0], columns[0]])
        matrix = np.column_stack(columns)
        totals = matrix.sum(axis=1, keepdims=True)
        uniform = np.full_like(matrix, 1.0 / matrix.shape[1])
        return np.where(totals > 0, matrix / np.where(totals > 0, totals, 1.0), uniform)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "maps": self.maps}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls([dict(m) for m in data["maps"]])


class SigmoidCalibration(_PerColumn):
    """Platt scaling with Platt's smoothed targets, as scikit-learn's ``sigmoid``."""

    method: ClassVar[str] = "sigmoid"

    def _fit_one(self, x: np.ndarray, positive: np.ndarray) -> dict[str, list[float]]:
        from scipy.optimize import minimize

        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        target = np.where(positive, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

        def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
            z = ab[0] * x + ab[1]
            p = 1.0 / (1.0 + np.exp(-z))
            value = np.sum(np.logaddexp(0.0, z) - target * z)
            grad = p - target
            return float(value), np.array([np.sum(grad * x), np.sum(grad)])

        start = np.array([1.0, np.log((n_pos + 1.0) / (n_neg + 1.0))])
        found = minimize(loss, start, jac=True, method="L-BFGS-B")
        return {"a": [float(found.x[0])], "b": [float(found.x[1])]}

    def _apply_one(self, x: np.ndarray, fitted: Mapping[str, list[float]]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(fitted["a"][0] * x + fitted["b"][0])))


class IsotonicCalibration(_PerColumn):
    """A monotone piecewise-linear map per column, fitted by isotonic regression."""

    method: ClassVar[str] = "isotonic"

    def _fit_one(self, x: np.ndarray, positive: np.ndarray) -> dict[str, list[float]]:
        from sklearn.isotonic import IsotonicRegression

        fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        fitted.fit(x, positive.astype(float))
        return {"x": fitted.X_thresholds_.tolist(), "y": fitted.y_thresholds_.tolist()}

    def _apply_one(self, x: np.ndarray, fitted: Mapping[str, list[float]]) -> np.ndarray:
        return np.interp(x, fitted["x"], fitted["y"])


CALIBRATORS: dict[str, type[Calibrator]] = {
    c.method: c for c in (Uncalibrated, TemperatureScaling, SigmoidCalibration,
                          IsotonicCalibration)
}


def resolve_method(method: str, *, n_classes: int, n_rows: int | None = None) -> str:
    """The concrete method ``auto`` stands for, given the classes and held-out rows.

    Below :data:`FEW_ROWS` held-out rows a binary model gets temperature scaling too: one
    parameter overfits a handful of rows less than Platt's two.
    """
    if method != "auto":
        return method
    if n_classes > 2 or (n_rows is not None and n_rows < FEW_ROWS):
        return "temperature"
    return "sigmoid"


def make_calibrator(method: str, *, n_classes: int, n_rows: int | None = None) -> Calibrator:
    """An unfitted calibrator for ``method`` (``auto`` resolved by :func:`resolve_method`)."""
    resolved = resolve_method(method, n_classes=n_classes, n_rows=n_rows)
    if resolved not in CALIBRATORS:
        raise UserError(f"unknown calibration '{method}'; expected auto, {', '.join(METHODS)}")
    return CALIBRATORS[resolved]()


def calibrator_from_dict(data: Mapping[str, Any]) -> Calibrator:
    """Rebuild a fitted calibrator from its manifest entry."""
    return CALIBRATORS[str(data["method"])].from_dict(data)
