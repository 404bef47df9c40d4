"""`compound guard SPEC --explain`: each rail's operating point, the injection rail's
cross-validated threshold included (real CLI; the classifier trains on the public dataset)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compound.production.rails.classifier import FixedClassifier
from compound.production.rails.injection import InjectionRail
from compound.production.rails.operating import operating_point

SPEC = """\
name: guarded
loop: interaction
task: Answer questions.
guardrails:
  injection: {type: injection}
  strict: {type: injection, threshold: 0.7, options: {uncertain: [0.4, 0.7]}}
  pii: {type: pii}
"""


def test_a_spec_threshold_is_reported_as_the_spec_s() -> None:
    rail = InjectionRail(name="inj", classifier=FixedClassifier({}), threshold=0.65)
    point = operating_point(rail)
    assert (point.threshold, point.metrics) == (0.65, {})
    assert "spec" in point.source
    assert operating_point(InjectionRail(name="x", classifier=FixedClassifier({}))
                           ).source.startswith("the default 0.5")


@pytest.mark.integration
@pytest.mark.dataset
def test_explain_shows_the_cross_validated_threshold_and_its_out_of_fold_rates(
        shared_dataset: object, tmp_path: Path) -> None:
    shared_dataset("prompt-injections/train.jsonl")  # type: ignore[operator]
    (tmp_path / "compound.yaml").write_text(SPEC)
    env = {**os.environ, "COMPOUND_HOME": str(tmp_path / "home"), "COLUMNS": "200"}

    def explain(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "compound", "guard", str(tmp_path),
                               "--explain", *extra], capture_output=True, text=True, env=env,
                              timeout=300)

    out = explain("--json")
    assert out.returncode == 0, out.stderr
    points = {p["rail"]: p for p in json.loads(out.stdout)["rails"]}
    learned = points["injection"]
    assert learned["source"].startswith("cross-validation")
    assert 0.0 < learned["threshold"] < 1.0
    assert learned["metrics"]["fpr"] <= 0.05 + 1e-9  # the selection rule, out of fold
    assert learned["metrics"]["recall"] > 0.5
    assert learned["model"] == "rails-injection@1"
    strict = points["strict"]
    assert strict["threshold"] == 0.7 and strict["band"] == [0.4, 0.7]
    assert strict["metrics"] == {}  # rates at another threshold would mislead
    assert f"{learned['threshold']:.4f}" in strict["notes"][-1]
    assert points["pii"]["threshold"] is None
    text = explain()  # the classifier is in the registry now: loaded, not retrained
    assert text.returncode == 0, text.stderr
    assert "when chosen (out of fold): precision" in text.stdout
    assert f"threshold {learned['threshold']:.4f}" in text.stdout


def test_guard_without_text_or_explain_says_what_to_pass(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SPEC)
    out = subprocess.run([sys.executable, "-m", "compound", "guard", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "--explain" in out.stderr and "Traceback" not in out.stderr
