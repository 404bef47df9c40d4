"""Trained ML models declared in the spec: data, learners, calibration, prediction, training.

A predictor in `compound.yaml` names its dataset, task, features and learner;
:func:`train` fits it, calibrates its confidence on held-out rows, reports test metrics and
registers it as a candidate version in the :class:`~compound.intelligence.registry.ModelRegistry`.
:class:`Predictor` serves a registered version, one input or a batch at a time, and every
:class:`Prediction` carries its label, calibrated probability and model version; a tree
model also says which features moved one prediction most (:meth:`Predictor.explain`, a list
of :class:`Contribution`). :class:`ScriptedPredictor` is its fake: scripted labels, no model.

Nothing heavy (scikit-learn, LightGBM, pandas) is imported until a model is trained or loaded.

Example:
    >>> from compound.intelligence.ml import Prediction
    >>> Prediction(label="card_arrival", probability=0.93, model="intent", version=2).version
    2
"""

import typing as _typing

from compound.lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from compound.intelligence.ml.predictor import Predictor
    from compound.intelligence.ml.scripted import ScriptedPredictor
    from compound.intelligence.ml.training import TrainResult, train
    from compound.intelligence.ml.types import Contribution, NotExplainable, Prediction

_EXPORTS = {
    "Contribution": "compound.intelligence.ml.types",
    "NotExplainable": "compound.intelligence.ml.types",
    "Prediction": "compound.intelligence.ml.types",
    "Predictor": "compound.intelligence.ml.predictor",
    "ScriptedPredictor": "compound.intelligence.ml.scripted",
    "TrainResult": "compound.intelligence.ml.training",
    "train": "compound.intelligence.ml.training",
}

__all__ = [
    "Contribution",
    "NotExplainable",
    "Prediction",
    "Predictor",
    "ScriptedPredictor",
    "TrainResult",
    "train",
]


__getattr__, __dir__ = _attach(__name__, _EXPORTS)
