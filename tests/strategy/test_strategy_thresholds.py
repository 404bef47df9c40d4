"""Calibrating a confidence router on the out-of-fold predictions its model recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.errors import UserError

pytest.importorskip("sklearn")


def make_spec(tmp_path: Path, *, cross_fit: int) -> Path:
    from compound.intelligence.ml.training import train
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store
    from compound.system import System

    rows = [{"text": t, "label": label} for t, label in
            [("lost my card", "card"), ("card is gone", "card"), ("card stolen", "card"),
             ("top up money", "topup"), ("add money", "topup"), ("top up failed", "topup")] * 8]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "compound.yaml").write_text(f"""
name: intents
loop: hybrid
task: Route banking requests.
models:
  intent: {{kind: predictor, task: text_classification, dataset: train.jsonl,
            target: label, features: [text], split: {{cross_fit: {cross_fit}}}}}
strategy:
  routers:
    intent_router:
      kind: confidence
      model: intent
      fallback: review
      target: {{covered_accuracy: 0.9}}
""")
    system = System.load(tmp_path)
    with open_store(system) as store:
        train(system, "intent", store=store)
        ModelRegistry(store).promote("intent", criteria={})
    return tmp_path


def test_router_calibrates_on_the_recorded_out_of_fold_predictions(tmp_path: Path) -> None:
    from compound.store import open_store
    from compound.strategy.build import StrategyBuilder
    from compound.strategy.thresholds import calibrate_router, load_threshold
    from compound.system import System

    folder = make_spec(tmp_path, cross_fit=3)
    calibration, version = calibrate_router(folder, "intent_router", confidence_level=0.9)
    assert version == 1 and calibration.rows == 38  # every training row, none held out
    assert calibration.chosen is not None and calibration.target.endswith("90% confidence")
    system = System.load(folder)
    with open_store(system) as store:
        record = load_threshold(store, "intent_router", model_version=1)
        assert record is not None and record["threshold"] == calibration.chosen.threshold
        router = StrategyBuilder(system, store=store).router("intent_router")
        assert router.threshold == calibration.chosen.threshold


def test_router_without_data_or_out_of_fold_says_what_to_do(tmp_path: Path) -> None:
    from compound.strategy.thresholds import calibrate_router

    folder = make_spec(tmp_path, cross_fit=0)
    with pytest.raises(UserError, match=r"cross_fit: 5.*version 1 recorded none"):
        calibrate_router(folder, "intent_router")
