"""Training predictors from the spec, end to end on small synthetic files: text, tabular,
regression and ranking; predictions carry label, calibrated probability and version."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from ml_cases import (
    TABULAR_MODEL,
    TEXT_MODEL,
    make_system,
    ranking_rows,
    regression_rows,
    tabular_rows,
    text_rows,
    write_csv,
    write_jsonl,
)

from compound.errors import UserError
from compound.intelligence.ml import Prediction, Predictor, train
from compound.intelligence.registry import ModelRegistry
from compound.store import open_store

pytest.importorskip("sklearn")
pytest.importorskip("lightgbm")


def test_text_model_trains_registers_and_predicts(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", text_rows(600))
    system = make_system(tmp_path, TEXT_MODEL)
    result = train(system, "intent")
    assert result.record is not None
    assert (result.record.version, result.record.stage) == (1, "candidate")
    assert result.metrics["accuracy"] > 0.9
    assert set(result.metrics) >= {"accuracy", "macro_f1", "roc_auc", "pr_auc", "log_loss",
                                   "brier", "ece", "ece_uncalibrated"}
    assert result.calibration is not None and result.calibration["method"] == "temperature"
    assert result.calibration["ece_after"] == result.metrics["ece"]
    assert result.record.data["train"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert result.rows == {"train": 408, "test": 120, "calibration": 72}
    assert set(result.report["per_class"]) == {"card_lost", "top_up", "transfer"}
    assert len(result.report["confusion"]["matrix"]) == 3
    assert {"scikit-learn", "numpy", "python"} <= set(result.record.libraries)

    with open_store(system) as store:
        predictor = Predictor(name="intent", store=store, version=1)
        one = predictor.run("i lost my card please")
        assert isinstance(one, Prediction)
        assert (one.label, one.model, one.version) == ("card_lost", "intent", 1)
        assert one.probability is not None and 1 / 3 < one.probability <= 1.0
        assert [label for label, _ in one.alternatives] != [] and len(one.alternatives) == 2
        assert one.probability + sum(p for _, p in one.alternatives) == pytest.approx(1.0)
        assert predictor.run({"text": "i lost my card please"}) == one
        with pytest.raises(UserError, match="text feature 'text' must hold strings"):
            predictor.run({"text": 42})


def test_batches_match_single_predictions_in_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    result = train(make_system(tmp_path, TEXT_MODEL), "intent", register=False)
    texts = [r["text"] for r in text_rows(25, seed=9)]
    whole = Predictor(name="intent", model=result.model).predict_batch(texts)
    chunked = Predictor(name="intent", model=result.model, batch_size=4).predict_batch(texts)
    singles = [Predictor(name="intent", model=result.model).run(t) for t in texts]
    assert whole == chunked
    assert [p.label for p in whole] == [p.label for p in singles]
    assert [p.probability for p in whole] == pytest.approx([p.probability for p in singles])


def test_tabular_model_uses_native_categories_and_handles_unseen_ones(tmp_path: Path) -> None:
    write_csv(tmp_path / "customers.csv", tabular_rows(1500))
    result = train(make_system(tmp_path, TABULAR_MODEL), "churn", register=False)
    assert result.model.schema.kinds["city"] == "categorical"
    assert result.model.learner.booster_.pandas_categorical == [["lima", "oslo", "pune", "rome"]]
    assert result.metrics["roc_auc"] > 0.75
    assert result.primary == "roc_auc"
    predictor = Predictor(name="churn", model=result.model)
    seen = predictor.run({"income": 70.0, "city": "pune", "noise": 0.1})
    unseen = predictor.run({"income": 70.0, "city": "atlantis", "noise": 0.1})
    assert seen.label == 1 and unseen.label in (0, 1)
    assert unseen.probability is not None and 0.5 <= unseen.probability <= 1.0
    with pytest.raises(UserError, match="numeric feature 'income' holds non-numbers"):
        predictor.run({"income": "lots", "city": "pune", "noise": 0.1})
    with pytest.raises(UserError, match=r"input 0 has no 'noise' \(did you mean 'nois'\?\)"):
        predictor.run({"income": 1.0, "city": "pune", "nois": 0.0})


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "none"])
def test_binary_calibration_methods(tmp_path: Path, method: str) -> None:
    write_csv(tmp_path / "customers.csv", tabular_rows(1500))
    system = make_system(tmp_path, TABULAR_MODEL + f"  calibration: {method}\n")
    result = train(system, "churn", register=False)
    assert result.calibration is not None and result.calibration["method"] == method
    if method == "none":
        assert result.metrics["ece"] == result.metrics["ece_uncalibrated"]
    assert result.metrics["ece"] < 0.1


def test_regression(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", regression_rows(1200))
    system = make_system(tmp_path, "price:\n  kind: predictor\n  task: regression\n"
                         "  dataset: d.csv\n  target: y\n")
    result = train(system, "price", register=False)
    assert result.metrics["r2"] > 0.9 and result.metrics["rmse"] < 1.0
    assert result.calibration is None
    prediction = Predictor(name="price", model=result.model).run({"a": 1.0, "b": 0.0})
    assert prediction.label is None and prediction.probability is None
    assert prediction.value == pytest.approx(3.0, abs=0.6)


def test_ranking_with_lambdarank(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", ranking_rows(150))
    system = make_system(tmp_path, "ranker:\n  kind: predictor\n  task: ranking\n"
                         "  dataset: d.csv\n  target: relevance\n  group: query\n")
    result = train(system, "ranker", register=False)
    assert result.model.learner.name == "lightgbm_lambdarank"
    assert result.model.schema.columns == ("signal", "noise")
    assert result.metrics["ndcg@10"] > 0.85 and {"mrr@10", "map@100"} <= set(result.metrics)
    assert result.report["queries"] == 30  # 20% of 150 queries held out whole
    order = Predictor(name="ranker", model=result.model).rank(
        [{"signal": 0.1, "noise": 0.0}, {"signal": 3.0, "noise": 0.0}, {"signal": 1.5,
                                                                         "noise": 0.0}])
    assert [i for i, _ in order] == [1, 2, 0]


def test_same_seed_same_model_and_separate_files(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    write_jsonl(tmp_path / "test.jsonl", text_rows(90, seed=5))
    system = make_system(tmp_path, TEXT_MODEL + "  test_dataset: test.jsonl\n"
                         "  split: {calibration: 0.2, seed: 3}\n")
    first = train(system, "intent", register=False)
    second = train(system, "intent", register=False)
    assert first.metrics == second.metrics
    assert first.rows == {"train": 240, "test": 90, "calibration": 60}
    assert first.data["test"]["path"].endswith("test.jsonl")


def test_data_problems_are_user_errors_and_register_nothing(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", [{"txt": "a", "label": "x"}] * 10)
    system = make_system(tmp_path, TEXT_MODEL)
    with pytest.raises(UserError, match=r"no column 'text' \(did you mean 'txt'\?\)"):
        train(system, "intent")
    write_jsonl(tmp_path / "train.jsonl", [{"text": "a", "label": "x"}] * 10)
    with pytest.raises(UserError, match="has one class"):
        train(system, "intent")
    write_jsonl(tmp_path / "train.jsonl", text_rows(60))
    write_jsonl(tmp_path / "test.jsonl", [{"text": "a", "lable": "x"}])
    with_test = make_system(tmp_path, TEXT_MODEL + "  test_dataset: test.jsonl\n")
    with pytest.raises(UserError, match=r"test.jsonl: no column 'label' \(did you mean 'lable'"):
        train(with_test, "intent")
    with open_store(system) as store:
        assert ModelRegistry(store).versions("intent") == []


def test_unknown_model_name_gets_a_did_you_mean(tmp_path: Path) -> None:
    system = make_system(tmp_path, TEXT_MODEL)
    with pytest.raises(UserError, match=r"'intnet' is not declared \(did you mean 'intent'\?\)"):
        train(system, "intnet")


def test_prediction_throughput_path_is_vectorised(tmp_path: Path) -> None:
    """A batch of many rows is scored with one learner call per chunk, not one per row."""
    write_csv(tmp_path / "customers.csv", tabular_rows(800))
    result = train(make_system(tmp_path, TABULAR_MODEL), "churn", register=False)
    calls = []
    original = result.model.learner.scores

    def counting(frame: object) -> np.ndarray:
        calls.append(len(frame))  # type: ignore[arg-type]
        return original(frame)  # type: ignore[arg-type]

    result.model.learner.scores = counting  # type: ignore[method-assign]
    Predictor(name="churn", model=result.model, batch_size=300).predict_batch(tabular_rows(700))
    assert calls == [300, 300, 100]
