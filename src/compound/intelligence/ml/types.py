"""What a trained model returns for one input: a prediction, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compound.errors import UserError
from compound.intelligence.ml.schema import Label


@dataclass(frozen=True, slots=True)
class Contribution:
    """How much one feature of one input moved the model's score, and in which direction.

    Contributions are SHAP values of the model's raw score (for a binary classifier, the
    log-odds of the class explained, before calibration): for one input they add up, with
    the model's average score, to its raw score. Positive pushes toward the class explained
    (or a higher value, for regression and ranking), negative away from it.

    Attributes:
        feature: the input column.
        value: the input's value of that column, as it was given.
        contribution: the feature's share of the raw score.

    Example:
        >>> c = Contribution(feature="PAY_1", value=2, contribution=0.83)
        >>> f"{c.feature}={c.value} {'raises' if c.contribution > 0 else 'lowers'} the score"
        'PAY_1=2 raises the score'
    """

    feature: str
    value: Any
    contribution: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """One prediction of a trained model, with the confidence routing and review act on.

    Attributes:
        label: the predicted class (classification), else None.
        probability: the calibrated probability of ``label`` (classification), else None.
        value: the predicted number (regression) or relevance score (ranking), else None.
        model: the model's name in the spec.
        version: the registered version that made the prediction (None for a model that
            was never registered).
        alternatives: the next most probable classes with their probabilities, best first.
        contributions: the features that moved the score most, largest effect first, when
            asked for (:meth:`~compound.intelligence.ml.predictor.Predictor.explain`, or a
            workflow step's ``explain`` option); else empty.

    Example:
        >>> p = Prediction(label="card_arrival", probability=0.91, model="intent", version=3,
        ...                alternatives=(("card_delivery_estimate", 0.05),))
        >>> p.label, p.version, p.alternatives[0][0]
        ('card_arrival', 3, 'card_delivery_estimate')
    """

    label: Label | None = None
    probability: float | None = None
    value: float | None = None
    model: str = ""
    version: int | None = None
    alternatives: tuple[tuple[Label, float], ...] = ()
    contributions: tuple[Contribution, ...] = ()


class NotExplainable(UserError):
    """The model's learner cannot attribute a prediction to its features."""
