"""The topic model alone, as an evaluation target: the label its production version predicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_LOADED: dict[str, Any] = {}


def predict(inputs: dict[str, Any]) -> str:
    """The predicted topic of ``inputs["text"]``."""
    if "model" not in _LOADED:
        from compound.intelligence.ml.predictor import Predictor
        from compound.system import System

        system = System.load(Path(__file__).with_name("compound.yaml"))
        _LOADED["model"] = Predictor.from_system(system, "topic")
    return str(_LOADED["model"].run({"text": inputs["text"]}).label)
