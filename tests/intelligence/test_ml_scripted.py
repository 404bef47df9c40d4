"""The shipped predictor fake stands in for a Predictor where one is used."""

from __future__ import annotations

import inspect

from compound.intelligence.ml import Prediction, Predictor, ScriptedPredictor
from compound.production.serving.batcher import batch_function


def test_it_answers_through_the_predictor_methods() -> None:
    for method in ("run", "predict_batch"):
        fake = list(inspect.signature(getattr(ScriptedPredictor, method)).parameters)
        real = list(inspect.signature(getattr(Predictor, method)).parameters)
        assert fake == real, method
    model = ScriptedPredictor(lambda row: "high" if row["amount"] > 100 else "low", name="risk")
    assert model.run({"amount": 500}) == Prediction("high", 1.0, model="risk", version=1)
    assert [p.label for p in model.predict_batch([{"amount": 5}, {"amount": 150}])] == [
        "low", "high"]
    assert model.batches == [1, 2]


def test_listed_labels_are_used_in_turn_and_the_batcher_batches_it() -> None:
    model = ScriptedPredictor(["a", "b"])
    assert [model.run("x").label for _ in range(3)] == ["a", "b", "a"]
    assert batch_function(model) == model.predict_batch
