"""`compound train` and `compound models show|promote|rollback`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

SPEC = """\
name: shop
loop: prediction
task: Route support requests.
criteria:
  accuracy: {{threshold: {threshold}, tolerance: 0.01}}
store: {{path: store.db}}
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: train.jsonl
    target: label
    features: [text]
"""

PHRASES = {"card": ["lost card", "card stolen", "card missing", "new card"],
           "money": ["top up", "add money", "send money", "money transfer"]}


def compound(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def write_project(folder: Path, threshold: float = 0.8) -> None:
    rows = [{"text": f"{phrase} {extra}", "label": label}
            for label, phrases in PHRASES.items() for phrase in phrases
            for extra in ("please", "now", "help", "today", "quickly", "hi")]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "compound.yaml").write_text(SPEC.format(threshold=threshold))


def test_train_promote_show_rollback(tmp_path: Path) -> None:
    write_project(tmp_path)
    trained = compound("train", "compound.yaml", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "roc_auc (primary)" in trained.stdout and "ECE before -> after" in trained.stdout
    assert "registered intent@1 as a candidate" in trained.stdout
    assert "training intent" in trained.stderr  # the progress bar

    promoted = compound("models", "promote", "compound.yaml", "intent", cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "intent@1 is now in production" in promoted.stdout

    again = compound("train", "compound.yaml", "intent", "--promote", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "intent@2 is now in production (replacing version 1)" in again.stdout

    shown = compound("models", "show", "compound.yaml", "intent", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "intent@2 (production)" in shown.stdout and "archived" in shown.stdout
    assert "sha256" in shown.stdout and "scikit-learn" in shown.stdout

    rolled = compound("models", "rollback", "compound.yaml", "intent", cwd=tmp_path)
    assert rolled.returncode == 0, rolled.stderr
    assert "version 1 is in production again" in rolled.stdout


def test_refused_promotion_exits_1_and_user_errors_exit_2(tmp_path: Path) -> None:
    write_project(tmp_path, threshold=1.01)
    assert compound("train", "compound.yaml", cwd=tmp_path).returncode == 0
    refused = compound("models", "promote", "compound.yaml", "intent", cwd=tmp_path)
    assert refused.returncode == 1
    assert "fail" in refused.stdout and "was not promoted" in refused.stdout

    typo = compound("train", "compound.yaml", "intnet", cwd=tmp_path)
    assert typo.returncode == 2
    assert "did you mean 'intent'" in typo.stderr

    (tmp_path / "train.jsonl").write_text('{"txt": "a", "label": "x"}\n')
    missing = compound("train", "compound.yaml", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no column 'text' (did you mean 'txt'?)" in missing.stderr
    assert "Traceback" not in missing.stderr
