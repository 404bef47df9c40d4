"""A fake :class:`~compound.intelligence.ml.predictor.Predictor`: scripted labels, no model.

It has the two methods a predictor step and the serving batcher use (``run`` for one input,
``predict_batch`` for many), answers at once, and records the size of each batch, so tests
and benchmarks can exercise prediction, batching and serving without training anything.

Example:
    >>> model = ScriptedPredictor(lambda text: "long" if len(text) > 5 else "short")
    >>> [p.label for p in model.predict_batch(["hi", "hello there"])], model.batches
    (['short', 'long'], [2])
    >>> ScriptedPredictor(["yes", "no"]).run({"amount": 3}).label
    'yes'
    >>> unsure = ScriptedPredictor(["yes"], confidence=lambda row: 0.55, version=2)
    >>> unsure.run({"amount": 3}).probability, unsure.run({"amount": 3}).version
    (0.55, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from compound.intelligence.ml.types import Prediction


class ScriptedPredictor:
    """A fake predictor: labels from a function or a cycling list, no model, no latency.

    Args:
        labels: a function of one input returning its label, or labels used in turn.
        name: the model name reported in predictions.
        confidence: the probability of each label: a number, or a function of the input.
        version: the model version reported in predictions.

    Attributes:
        batches: the size of every ``predict_batch`` call, in order (tests read it).
    """

    def __init__(self, labels: Callable[[Any], str] | Sequence[str] = ("ok",), *,
                 name: str = "scripted", confidence: Callable[[Any], float] | float = 1.0,
                 version: int = 1) -> None:
        self.labels = labels
        self.name = name
        self.confidence = confidence
        self.version = version
        self.batches: list[int] = []
        self._turn = 0

    def _label(self, example: Any) -> str:
        if callable(self.labels):
            return str(self.labels(example))
        label = self.labels[self._turn % len(self.labels)]
        self._turn += 1
        return label

    def predict_batch(self, examples: Sequence[Mapping[str, Any] | str]) -> list[Prediction]:
        self.batches.append(len(examples))
        return [Prediction(label=self._label(e), probability=self._confidence(e),
                           model=self.name, version=self.version) for e in examples]

    def _confidence(self, example: Any) -> float:
        if callable(self.confidence):
            return float(self.confidence(example))
        return float(self.confidence)

    def run(self, example: Mapping[str, Any] | str) -> Prediction:
        return self.predict_batch([example])[0]
