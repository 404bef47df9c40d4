"""The `evals:` section of a compound.yaml: typed, checked against the rest of the spec."""

from __future__ import annotations

import pytest

from compound.errors import SpecError
from compound.system import System

BASE = """\
name: qa
loop: interaction
task: Answer questions.
models:
  llm: {provider: scripted}
workflows:
  answer:
    steps: [{name: respond, uses: llm}]
evals:
  smoke:
"""


def load(evals: str) -> System:
    return System.from_yaml(BASE + evals, source="compound.yaml")


def test_a_full_eval_section_loads() -> None:
    system = load("""\
    dataset: {path: "shared:hotpotqa/dev500.jsonl", expected: answers, inputs: [question]}
    target: {model: llm, prompt: "Q: {question}", max_tokens: 16}
    metrics: [token_f1, {name: em, metric: exact_match, tolerance: 0.02}]
    suites: [{kind: invariance, perturbations: [typos]}]
    judge: {model: llm, human_field: rating}
    sample: 50
""")
    spec = system.evals["smoke"]
    assert spec.target.kind == "model" and spec.sample == 50
    assert [m.name for m in spec.metric_specs()] == ["token_f1", "em"]


def test_references_to_unknown_models_and_workflows_are_errors_with_lines() -> None:
    with pytest.raises(SpecError) as info:
        load("""\
    dataset: {path: d.jsonl}
    target: {model: lm}
    judge: {model: judge}
""")
    text = str(info.value)
    assert "compound.yaml:12: evals.smoke.target.model: LLM 'lm' is not declared" in text
    assert "did you mean 'llm'" in text
    assert "evals.smoke.judge.model: LLM 'judge'" in text
    with pytest.raises(SpecError, match=r"workflow 'answr' is not declared.*did you mean 'answer'"):
        load("    dataset: {path: d.jsonl}\n    target: {workflow: answr}\n")


def test_unknown_keys_and_conflicting_targets_are_explained() -> None:
    with pytest.raises(SpecError, match=r"unknown key 'metrix'.*did you mean 'metrics'"):
        load("    dataset: {path: d.jsonl}\n    metrix: [token_f1]\n")
    with pytest.raises(SpecError, match="received model and function: keep one"):
        load("    dataset: {path: d.jsonl}\n    target: {model: llm, function: 'a:b'}\n")
    with pytest.raises(SpecError, match="em appear twice"):
        load("    dataset: {path: d.jsonl}\n    metrics: [em, {name: em, metric: token_f1}]\n")
