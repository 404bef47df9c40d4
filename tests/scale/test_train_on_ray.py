"""`compound train --on ray`, run as a user runs it: the cross-fitting folds and each
candidate learner's folds go to Ray as tasks, and the registered model is the one a local run
registers; a bad ``--on`` is a user error (exit 2) before anything trains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from compound.cli import main
from compound.intelligence.registry import ModelRegistry, ModelVersion
from compound.store import open_store
from compound.system import System

pytest.importorskip("sklearn")

SPEC = """\
name: shop
loop: prediction
task: Route support requests.
store: {path: store.db}
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: train.jsonl
    target: label
    features: [text]
    params: {max_features: 3, char_ngrams: null}
    split: {cross_fit: 3}
    candidates:
      - params: {}
      - params: {model: logistic, C: 2.0}
"""

PHRASES = {"card": ["lost card", "card stolen", "card missing", "new card"],
           "money": ["top up", "add money", "send money", "money transfer"],
           "loan": ["loan rate", "borrow cash", "loan limit", "credit line"]}
WORDS = ("please", "now", "help", "today", "quickly", "hi", "thanks")


def rows() -> list[dict[str, str]]:
    return [{"text": f"{phrase} {word}", "label": label} for label, phrases in PHRASES.items()
            for phrase in phrases for word in WORDS]


def project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows()))
    (folder / "compound.yaml").write_text(SPEC)
    return folder


def comparable(record: ModelVersion) -> dict[str, Any]:
    """What a version records about its model, less what depends on the clock."""
    selection = record.report["selection"]
    return {"learner": record.learner, "params": record.params, "metrics": record.metrics,
            "parts": record.parts, "calibration": record.calibration,
            "data": record.data, "chosen": selection["chosen"],
            "scores": [c["scores"] for c in selection["candidates"]]}


def probabilities(folder: Path, version: int) -> np.ndarray:
    with open_store(System.load(folder)) as store:
        registry = ModelRegistry(store)
        model = registry.load_model(registry.get("intent", version))
    frame = pd.DataFrame(rows())
    return model.outputs(model.schema.encode(frame)).proba


@pytest.mark.ray
def test_train_on_ray_registers_the_model_a_local_run_registers(
        ray_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from compound.scale.fan_out import RayFanOut

    sent: list[int] = []
    original = RayFanOut.map

    def counted(self, fn, shared, items):  # type: ignore[no-untyped-def]
        sent.append(len(items))
        return original(self, fn, shared, items)

    monkeypatch.setattr(RayFanOut, "map", counted)
    folder = project(tmp_path / "shop")
    main(["train", str(folder)])
    assert sent == []  # the local run fits everything here
    main(["train", str(folder), "--on", "ray"])
    out = capsys.readouterr().out
    # three entries x five selection folds, then the chosen learner's three cross-fit folds
    assert sent == [15, 3]
    assert "registered intent@1" in out and "registered intent@2" in out
    assert out.count("learners compared (accuracy") == 2
    with open_store(System.load(folder)) as store:
        registry = ModelRegistry(store)
        local, on_ray = registry.get("intent", 1), registry.get("intent", 2)
    assert comparable(on_ray) == comparable(local)
    assert local.report["selection"]["chosen"] == 1  # the spec's own learner lost
    assert np.array_equal(probabilities(folder, 2), probabilities(folder, 1))


@pytest.mark.ray
def test_train_on_ray_says_when_nothing_went_to_ray(
        ray_cluster: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = project(tmp_path / "shop")
    spec = folder / "compound.yaml"
    spec.write_text(SPEC.split("    split:")[0])  # no cross-fitting, no candidates
    main(["train", str(folder), "--on", "ray"])
    captured = capsys.readouterr()
    assert "registered intent@1" in captured.out
    assert ("model 'intent' has no cross-fitted folds and no 'candidates' to compare, so "
            "nothing went to Ray") in " ".join(captured.err.split())


@pytest.mark.parametrize("command", ["train", "improve"])
def test_a_bad_on_is_a_user_error_before_training(
        tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = project(tmp_path / "shop")
    with pytest.raises(SystemExit) as exit_:
        main([command, str(folder), "--on", "spark"])
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--on expects 'ray' or 'ray://HOST:PORT'; received 'spark'" in err
    with open_store(System.load(folder)) as store:
        assert ModelRegistry(store).versions("intent") == []


@pytest.mark.ray
@pytest.mark.integration
def test_train_on_ray_in_its_own_process_starts_ray_and_stops_it(tmp_path: Path) -> None:
    """No Ray in the process: the command starts a local one, fits there, and stops it."""
    import os
    import subprocess
    import sys

    folder = project(tmp_path / "shop")
    main(["train", str(folder)])
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    done = subprocess.run([sys.executable, "-m", "compound", "train", str(folder), "--on", "ray"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "registered intent@2" in done.stdout
    with open_store(System.load(folder)) as store:
        registry = ModelRegistry(store)
        assert comparable(registry.get("intent", 2)) == comparable(registry.get("intent", 1))


def test_an_unreachable_cluster_fails_fast_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    pytest.importorskip("ray")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    folder = project(tmp_path / "shop")
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(folder), "--on", f"ray://127.0.0.1:{port}"])
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot reach Ray at ray://127.0.0.1:{port}" in err and "--on ray" in err
