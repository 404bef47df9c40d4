"""Cross-fitting: stratified folds, out-of-fold calibration over every training row, and the
compact out-of-fold record a router calibrates on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ml_cases import TEXT_MODEL, make_system, text_rows, write_jsonl

from compound.errors import UserError
from compound.intelligence.ml import train
from compound.intelligence.ml.crossfit import OutOfFold, folds

pytest.importorskip("sklearn")

CROSS_FIT_MODEL = TEXT_MODEL + "  split: {cross_fit: 4}\n"


def test_folds_are_disjoint_stratified_and_keep_singletons_training() -> None:
    y = np.array([0] * 40 + [1] * 20 + [2])
    held = folds(y, k=4, seed=0)
    together = np.concatenate(held)
    assert len(together) == len(set(together.tolist())) == 60  # the lone class 2 row trains
    for fold in held:
        assert np.bincount(y[fold], minlength=3).tolist() == [10, 5, 0]
    assert [f.tolist() for f in folds(y, k=4, seed=0)] == [f.tolist() for f in held]
    assert max(np.concatenate(folds(y, k=4, seed=0, keep=50))) < 50
    with pytest.raises(UserError, match="at least 2 folds"):
        folds(y, k=1, seed=0)


def test_out_of_fold_record_rounds_down_and_round_trips() -> None:
    found = OutOfFold(confidence=np.array([0.9999, 0.95, 0.9504, 0.5]),
                      correct=np.array([True, True, False, False]), folds=5)
    data = found.to_dict()
    assert data["bins"] == [[0.5, 1, 0], [0.95, 2, 1], [0.999, 1, 1]]
    back = OutOfFold.from_dict(data)
    assert back.folds == 5 and back.accuracy == found.accuracy == 0.5
    assert sorted(back.confidence.tolist()) == [0.5, 0.95, 0.95, 0.999]
    # rounding down never claims more confidence than the model gave
    assert all(b <= c for b, c in zip(sorted(back.confidence), sorted(found.confidence),
                                      strict=True))


def test_cross_fitted_model_calibrates_on_every_training_row(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(600))
    system = make_system(tmp_path, CROSS_FIT_MODEL)
    result = train(system, "intent", extra_rows=[{"text": "card missing", "label": "card_lost"}])
    assert result.rows == {"train": 481, "test": 120}  # no calibration rows held back
    assert result.calibration is not None
    assert (result.calibration["method"], result.calibration["cross_fit"]) == ("temperature", 4)
    oof = result.out_of_fold
    assert oof is not None and oof.folds == 4
    assert len(oof.confidence) == len(oof.correct) == 480  # the extra row is never held out
    assert oof.accuracy > 0.9 and ((oof.confidence > 1 / 3) & (oof.confidence <= 1)).all()
    assert result.metrics["accuracy"] > 0.9
    assert result.record is not None and result.record.calibration is not None
    bins = result.record.calibration["out_of_fold"]["bins"]
    assert sum(n for _, n, _ in bins) == 480
    assert sum(r for _, _, r in bins) == int(oof.correct.sum())


def test_cross_fit_is_validated_in_the_spec(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(30))
    with pytest.raises(UserError, match="at least 2 folds"):
        make_system(tmp_path, TEXT_MODEL + "  split: {cross_fit: 1}\n")
    with pytest.raises(UserError, match="not both"):
        make_system(tmp_path, CROSS_FIT_MODEL + "  calibration_dataset: train.jsonl\n")


def test_module_examples_run() -> None:
    import doctest

    from compound.intelligence.ml import crossfit

    assert doctest.testmod(crossfit).failed == 0


@pytest.mark.ray
def test_folds_fitted_as_ray_tasks_give_the_local_model(ray_cluster: object,
                                                         tmp_path: Path) -> None:
    from compound.scale.fan_out import RayFanOut

    class Counted(RayFanOut):
        items = 0

        def map(self, fn, shared, items):  # type: ignore[no-untyped-def]
            Counted.items += len(items)
            return super().map(fn, shared, items)

    write_jsonl(tmp_path / "train.jsonl", text_rows(200))
    system = make_system(tmp_path, CROSS_FIT_MODEL)
    local = train(system, "intent", register=False)
    on_ray = train(system, "intent", register=False, fan_out=Counted())
    assert Counted.items == 4  # the four folds went to Ray
    assert local.out_of_fold is not None and on_ray.out_of_fold is not None
    assert on_ray.out_of_fold.confidence.tolist() == local.out_of_fold.confidence.tolist()
    assert on_ray.calibration == local.calibration
    assert on_ray.metrics == local.metrics
