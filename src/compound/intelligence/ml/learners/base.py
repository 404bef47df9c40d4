"""What every learner does: fit on typed rows, score rows, and save itself as artifact parts.

Scores follow one convention so that calibration and prediction treat all learners alike:

* classification: an ``(n, classes)`` matrix whose row-wise softmax is the learner's own,
  uncalibrated, probability (log-probabilities, or a linear model's margins);
* regression: the ``(n,)`` predicted values;
* ranking: the ``(n,)`` relevance scores (higher ranks first).

A learner saves itself as named byte strings (:meth:`Learner.dump`) in formats that load
without running code: skops for scikit-learn objects, LightGBM's own text format for trees.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from compound.intelligence.ml.schema import FeatureSchema

if TYPE_CHECKING:
    import pandas as pd

    from compound.intelligence.embedders import Embedder

#: Called with the fraction of fitting done (0 to 1) and a short description of the stage.
FitProgress = Callable[[float, str], None]


def no_progress(fraction: float, stage: str) -> None:
    """A :data:`FitProgress` that ignores its calls."""


class Learner(abc.ABC):
    """A model family: scikit-learn text pipelines, LightGBM trees.

    Args:
        task: the predictor's task.
        params: the learner's validated parameters (see :mod:`~compound.intelligence.ml.params`).
        schema: the input columns and their kinds.
        seed: the random seed of everything stochastic in fitting.
        embedder: a text embedder whose vectors join the features (text learners only).
    """

    name: ClassVar[str]

    def __init__(
        self,
        *,
        task: str,
        params: Any,
        schema: FeatureSchema,
        seed: int = 0,
        embedder: Embedder | None = None,
    ) -> None:
        self.task = task
        self.params = params
        self.schema = schema
        self.seed = seed
        self.embedder = embedder

    @abc.abstractmethod
    def fit(
        self,
        frame: pd.DataFrame,
        y: np.ndarray,
        *,
        n_classes: int | None = None,
        groups: np.ndarray | None = None,
        progress: FitProgress = no_progress,
    ) -> None:
        """Learn from encoded rows and targets (class indices, values or grades)."""

    @abc.abstractmethod
    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores of encoded rows, by the convention in the module docstring."""

    @abc.abstractmethod
    def dump(self) -> dict[str, bytes]:
        """The fitted state as named artifact parts."""

    @abc.abstractmethod
    def load_parts(self, parts: Mapping[str, bytes]) -> None:
        """Restore the fitted state from :meth:`dump`'s parts.

        Raises:
            ArtifactError: a part is missing or cannot be read.
        """

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Per-feature contributions to the raw scores of encoded rows.

        Returns:
            an ``(n, k, features + 1)`` array: for each row, each of the ``k`` classes (one
            for regression and ranking) and each feature in ``schema.columns`` order, the
            feature's share of that class's raw score; the last column is the average score.

        Raises:
            NotExplainable: this learner cannot attribute scores to features (the default).
        """
        from compound.intelligence.ml.types import NotExplainable

        raise NotExplainable(
            f"the '{self.name}' learner cannot attribute a prediction to its features; "
            "feature contributions need a tree learner (learner: lightgbm)"
        )

    def state(self) -> dict[str, Any]:
        """Small JSON facts about the fit (e.g. the number of trees), kept in the manifest."""
        return {}

    def set_state(self, state: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore :meth:`state`."""


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large scores."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
