"""The reference models on slices of the real datasets (full size runs in bench/ml.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ml_cases import make_system

from compound.errors import UserError
from compound.intelligence.ml import Predictor, train

pytest.importorskip("sklearn")
pytest.importorskip("lightgbm")
pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.dataset


def every_kth_line(source: Path, target: Path, k: int) -> Path:
    """A deterministic slice that keeps every class of a file grouped by label."""
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(lines[::k]) + "\n", encoding="utf-8")
    return target


def test_banking77_slice_text_model(
    tmp_path: Path, shared_dataset: Callable[[str], Path]
) -> None:
    every_kth_line(shared_dataset("banking77/train.jsonl"), tmp_path / "train.jsonl", 3)
    every_kth_line(shared_dataset("banking77/valid.jsonl"), tmp_path / "valid.jsonl", 2)
    every_kth_line(shared_dataset("banking77/test.jsonl"), tmp_path / "test.jsonl", 3)
    system = make_system(tmp_path, """\
intent:
  kind: predictor
  task: text_classification
  dataset: train.jsonl
  calibration_dataset: valid.jsonl
  test_dataset: test.jsonl
  target: label
  features: [text]
""")
    result = train(system, "intent")
    assert len(result.model.classes or []) == 77
    assert result.metrics["accuracy"] > 0.8
    assert result.calibration is not None
    assert result.calibration["ece_after"] < 0.06 < result.calibration["ece_before"]
    first = json.loads(shared_dataset("banking77/test.jsonl").read_text().splitlines()[0])
    prediction = Predictor.from_system(system, "intent", version=1).run(first["text"])
    assert prediction.version == 1 and prediction.label in (result.model.classes or [])


@pytest.mark.parametrize(
    ("name", "target", "rows", "floor"),
    [("adult-income.csv", "income >50K", 8000, 0.88), ("credit-default.csv", "default", 8000,
                                                        0.74)],
)
def test_tabular_slices(
    tmp_path: Path, shared_dataset: Callable[[str], Path], name: str, target: str, rows: int,
    floor: float,
) -> None:
    frame = pd.read_csv(shared_dataset(f"tabular/{name}"), nrows=rows)
    frame.to_csv(tmp_path / "data.csv", index=False)
    system = make_system(tmp_path, f"m:\n  kind: predictor\n  task: tabular_classification\n"
                         f"  dataset: data.csv\n  target: '{target}'\n")
    result = train(system, "m", register=False)
    assert result.metrics["roc_auc"] > floor
    assert result.metrics["ece"] < 0.05


def test_misspelt_target_on_real_data(tmp_path: Path, shared_dataset: Callable[[str], Path]
                                      ) -> None:
    pd.read_csv(shared_dataset("tabular/adult-income.csv"), nrows=200).to_csv(
        tmp_path / "data.csv", index=False)
    system = make_system(tmp_path, "m:\n  kind: predictor\n  task: tabular_classification\n"
                         "  dataset: data.csv\n  target: income>50K\n")
    with pytest.raises(UserError, match=r"no column 'income>50K' \(did you mean 'income >50K'"):
        train(system, "m")
