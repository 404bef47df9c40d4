"""`compound check` finds what would fail or mislead at run time: unknown metric names, a
criterion gating nothing, and a label metric given a structured output."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from compound.checking import check_problems
from compound.system import System

_names = itertools.count()

SPEC = """\
name: m
loop: hybrid
task: Route requests.
criteria:
  intent_accuracy: {{metric: {criterion}, threshold: 0.5}}
models:
  intent: {{kind: predictor, task: text_classification, dataset: train.jsonl, target: label,
           features: [text]}}
  llm: {{provider: scripted}}
workflows:
  answer:
    input: {{question: str}}
    steps:
      - {{name: classify, uses: intent, inputs: {{text: input.question}}}}
evals:
  intents:
    dataset: {{path: test.jsonl, inputs: {{question: text}}, expected: label}}
    target: {target}
    metrics: {metrics}
"""


def problems(tmp_path: Path, *, criterion: str = "accuracy", metrics: str = "[accuracy]",
             target: str = "{workflow: answer, output: classify.label}") -> list[str]:
    (tmp_path / "compound.yaml").write_text(
        SPEC.format(criterion=criterion, metrics=metrics, target=target))
    return check_problems(System.load(tmp_path))


def test_a_correct_spec_has_no_problems(tmp_path: Path) -> None:
    assert problems(tmp_path) == []
    assert problems(tmp_path, target="{model: intent}") == []


def test_unknown_metric_names_get_a_did_you_mean_with_their_line(tmp_path: Path) -> None:
    found = problems(tmp_path, criterion="acuracy",
                     metrics="[accuracy, {name: f1, metric: macro_f}]")
    assert len(found) == 2, found
    spec = tmp_path / "compound.yaml"
    assert found[0].startswith(f"{spec}:19: evals.intents.metrics[1].metric: eval 'intents': "
                               "no metric named 'macro_f' (did you mean 'macro_f1'?)")
    assert found[1].startswith(f"{spec}:5: criteria.intent_accuracy.metric: criterion "
                               "'intent_accuracy' gates metric 'acuracy'")
    assert "(did you mean 'accuracy'?)" in found[1]


def test_a_criterion_may_gate_an_eval_metric_or_a_model_metric(tmp_path: Path) -> None:
    assert problems(tmp_path, criterion="roc_auc") == []  # a trained model reports it
    assert problems(tmp_path, criterion="p95_ms",
                    metrics="[accuracy, {name: p95_ms, metric: latency_ms, aggregate: p95}]") == []


def test_metric_options_are_checked(tmp_path: Path) -> None:
    [found] = problems(tmp_path, metrics="[{name: r, metric: recall, options: {positve: 1}}]")
    assert "metric 'recall' has no option 'positve'" in found


def test_a_label_metric_on_a_structured_workflow_output_is_an_error_naming_the_fix(
    tmp_path: Path,
) -> None:
    [found] = problems(tmp_path, target="{workflow: answer}")
    assert found.startswith(f"{tmp_path / 'compound.yaml'}:19: evals.intents.metrics[0]: ")
    assert "eval 'intents': metric 'accuracy' compares the answer with the expected 'label' " \
           "as a label, but the target's output is a Prediction" in found
    assert "'output: classify.label'" in found


def test_a_text_metric_on_a_structured_output_is_left_alone(tmp_path: Path) -> None:
    assert problems(tmp_path, target="{workflow: answer}", metrics="[latency_ms]") == []


def test_an_output_field_the_step_does_not_have_is_an_error(tmp_path: Path) -> None:
    [found] = problems(tmp_path, target="{workflow: answer, output: classify.labl}")
    assert ":18: evals.intents.target.output: " in found
    assert "step 'classify' outputs a Prediction, which has no field 'labl' " \
           "(did you mean 'label'?)" in found


def test_a_function_target_returning_a_record_is_checked_by_its_annotation(
    tmp_path: Path,
) -> None:
    module = f"check_fn_{next(_names)}"
    code = ("from dataclasses import dataclass\n\n@dataclass\nclass Guess:\n    label: str\n"
            "    score: float\n\ndef guess(inputs) -> Guess:\n    return Guess('a', 1.0)\n\n"
            "def label(inputs) -> str:\n    return 'a'\n")
    (tmp_path / f"{module}.py").write_text(code)
    [found] = problems(tmp_path, target=f"{{function: '{module}:guess'}}")
    assert "the target's output is a Guess" in found and "return the label itself" in found
    assert problems(tmp_path, target=f"{{function: '{module}:label'}}") == []


@pytest.mark.parametrize("metric", ["exact_match", "recall", "mae"])
def test_every_comparing_metric_refuses_a_structured_output(tmp_path: Path, metric: str) -> None:
    [found] = problems(tmp_path, target="{workflow: answer}", metrics=f"[{metric}]")
    assert f"metric '{metric}'" in found


def test_compound_check_reports_every_problem_with_exit_2_and_no_traceback(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "compound.yaml").write_text(SPEC.format(
        criterion="acuracy", metrics="[accuracy]", target="{workflow: answer}"))
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "compound", "check", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "invalid system spec (2 problems)" in out.stderr
    assert "compound.yaml:5: criteria.intent_accuracy.metric" in out.stderr
    assert "compound.yaml:19: evals.intents.metrics[0]" in out.stderr
    (tmp_path / "compound.yaml").write_text(SPEC.format(
        criterion="accuracy", metrics="[accuracy]", target="{model: intent}"))
    ok = subprocess.run([sys.executable, "-m", "compound", "check", str(tmp_path)],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
