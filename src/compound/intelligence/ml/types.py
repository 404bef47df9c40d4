"""What a trained model returns for one input."""

from __future__ import annotations

from dataclasses import dataclass

from compound.intelligence.ml.schema import Label


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
