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


def make_calibrated_spec(tmp_path: Path, *, router_extra: str = "") -> Path:
    """A model calibrated on calib.jsonl (its temperature fitted there), and a router that
    calibrates its threshold on the same file, as a new spec most often says."""
    import random

    from compound.intelligence.ml.training import train
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store
    from compound.system import System

    rng = random.Random(0)
    words = {"card": ["card", "lost", "stolen", "blocked", "pin"],
             "topup": ["top", "up", "add", "money", "balance"],
             "transfer": ["send", "transfer", "payee", "iban", "wire"]}
    noise = ["please", "my", "the", "help", "today", "now", "why", "is"]

    def rows(n: int) -> list[dict[str, str]]:
        found = []
        for _ in range(n):
            label, other = rng.sample(sorted(words), 2)
            if rng.random() < 0.3:  # a hard row: as much of one intent as of another
                text = f"{rng.choice(words[label])} {rng.choice(words[other])}"
                label = rng.choice([label, other])
            else:
                text = " ".join(rng.choice(words[label]) for _ in range(3))
            found.append({"text": f"{text} {rng.choice(noise)}", "label": label})
        return found

    for name, n in (("train", 300), ("calib", 400), ("test", 200)):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows(n)))
    (tmp_path / "compound.yaml").write_text(f"""
name: intents
loop: hybrid
task: Route banking requests.
models:
  intent: {{kind: predictor, task: text_classification, dataset: train.jsonl,
            calibration_dataset: calib.jsonl, test_dataset: test.jsonl,
            target: label, features: [text]}}
strategy:
  routers:
    intent_router:
      kind: confidence
      model: intent
      fallback: review
      target: {{covered_accuracy: 0.95}}
      calibration_dataset: calib.jsonl
{router_extra}""")
    system = System.load(tmp_path)
    with open_store(system) as store:
        train(system, "intent", store=store)
        ModelRegistry(store).promote("intent", criteria={})
    return tmp_path


def test_by_default_the_threshold_clears_a_lower_bound_on_cross_fitted_confidences(
        tmp_path: Path) -> None:
    """The defaults a new spec gets: the rows that fitted the model's temperature are
    scored with a cross-fitted calibrator, and the chosen threshold's 95% Wilson lower bound
    (not its point estimate) clears the target; the test file is never read."""
    from compound.strategy.thresholds import calibrate_router

    folder = make_calibrated_spec(tmp_path)
    (folder / "test.jsonl").write_text("not json: calibration must never read the test rows")
    calibration, _ = calibrate_router(folder, "intent_router", save=False)
    assert calibration.rows == 400  # the calibration file's rows, and only those
    assert calibration.confidence_level == 0.95
    assert "cross-fitted" in calibration.source and "calib.jsonl" in calibration.source
    chosen = calibration.chosen
    assert chosen is not None and chosen.covered_lower is not None
    assert chosen.covered_lower >= 0.95 - 1e-12
    assert chosen.covered_lower < chosen.covered_accuracy < chosen.covered_upper  # type: ignore[operator]
    assert chosen.coverage < 1.0
    # the point estimate alone would have answered more: the bound costs coverage
    point, _ = calibrate_router(folder, "intent_router", save=False, confidence_level=0.5001)
    assert point.chosen is not None and point.chosen.coverage > chosen.coverage
    assert "90% interval" in calibration.expected()


def test_rows_the_calibrator_never_saw_are_scored_as_the_model_scores_them(
        tmp_path: Path) -> None:
    from compound.strategy.thresholds import calibrate_router

    folder = make_calibrated_spec(tmp_path)
    held = folder / "held.jsonl"
    held.write_text((folder / "calib.jsonl").read_text() + "\n")  # other bytes: other rows
    calibration, _ = calibrate_router(folder, "intent_router", data=held, save=False)
    assert "cross-fitted" not in calibration.source
    assert calibration.source.startswith("the model's confidences on the 400 rows")


def test_a_spec_can_ask_for_the_point_estimate(tmp_path: Path) -> None:
    from compound.strategy.thresholds import calibrate_router

    folder = make_calibrated_spec(tmp_path, router_extra="      confidence_level: null\n")
    calibration, _ = calibrate_router(folder, "intent_router", save=False)
    assert calibration.confidence_level is None
    assert calibration.chosen is not None and calibration.chosen.covered_lower is None
    assert calibration.chosen.covered_accuracy >= 0.95  # type: ignore[operator]


def test_out_of_fold_calibration_never_scores_a_row_with_a_calibrator_fitted_on_it() -> None:
    """Rows whose scores the calibrator would fit to certainty: in-sample, a fitted
    temperature makes them near-certain; out of fold, the fold without them says less."""
    import numpy as np

    from compound.intelligence.ml.calibration import make_calibrator
    from compound.intelligence.ml.crossfit import out_of_fold_calibration

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = np.eye(2)[y] * 3 + rng.normal(scale=1.5, size=(200, 2))
    oof = out_of_fold_calibration("temperature", scores, y, k=5)
    assert oof.shape == (200, 2) and np.allclose(oof.sum(axis=1), 1)
    in_sample = make_calibrator("temperature", n_classes=2)
    in_sample.fit(scores, y)
    assert not np.allclose(oof, in_sample.proba(scores))  # other calibrators per fold
    # unknown labels (-1) are never fitted on and always wrong, but still scored
    y[:10] = -1
    assert out_of_fold_calibration("temperature", scores, y, k=5).shape == (200, 2)


def test_a_router_s_model_with_no_calibration_rows_is_cross_fitted_by_default(
        tmp_path: Path) -> None:
    """Nothing but a target in the router, nothing but data in the model: the model trains
    cross-fitted and the router calibrates on its out-of-fold predictions, with the bound."""
    from compound.intelligence.ml.training import train
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store
    from compound.strategy.thresholds import calibrate_router
    from compound.system import System

    folder = make_calibrated_spec(tmp_path)
    spec = (folder / "compound.yaml").read_text()
    spec = spec.replace("calibration_dataset: calib.jsonl, ", "").replace(
        "      calibration_dataset: calib.jsonl\n", "")
    (folder / "compound.yaml").write_text(spec)
    system = System.load(folder)
    with open_store(system) as store:
        result = train(system, "intent", store=store)
        ModelRegistry(store).promote("intent", criteria={})
    assert result.out_of_fold is not None and result.out_of_fold.folds == 5
    calibration, version = calibrate_router(folder, "intent_router", save=False)
    assert version == 2 and calibration.rows == 300  # every training row, out of fold
    assert calibration.source.startswith("the 5-fold out-of-fold predictions")
    assert calibration.confidence_level == 0.95


def test_a_router_without_rows_calibrates_on_its_model_s_calibration_file(
        tmp_path: Path) -> None:
    from compound.strategy.thresholds import calibrate_router

    folder = make_calibrated_spec(tmp_path)
    spec = (folder / "compound.yaml").read_text()
    (folder / "compound.yaml").write_text(
        spec.replace("      calibration_dataset: calib.jsonl\n", ""))
    calibration, _ = calibrate_router(folder, "intent_router", save=False)
    assert calibration.rows == 400 and "cross-fitted" in calibration.source


def test_calibrating_on_the_training_file_says_it_is_optimistic(tmp_path: Path) -> None:
    from compound.strategy.thresholds import calibrate_router

    folder = make_calibrated_spec(tmp_path)
    calibration, _ = calibrate_router(folder, "intent_router", data=folder / "train.jsonl",
                                      save=False)
    assert "the file it was trained on: optimistic" in calibration.source
