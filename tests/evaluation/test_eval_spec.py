"""The `evals:` section of a compound.yaml: typed, checked against the rest of the spec."""

from __future__ import annotations

from pathlib import Path

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
    assert "compound.yaml:12: evals.smoke.target.model: model 'lm' is not declared" in text
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


def test_a_store_dataset_is_built_by_its_hook_when_missing(tmp_path: Path) -> None:
    """``dataset.build`` creates a 'store:' dataset the first time an eval needs it."""
    from compound.evaluation.plan import load_dataset
    from compound.store import MemoryStore
    from compound.system import System

    (tmp_path / "holdout_hook.py").write_text(
        "from compound.evaluation.dataset_store import DatasetRegistry\n"
        "from compound.evaluation.datasets import Dataset\n"
        "CALLS = []\n"
        "def build(system, store):\n"
        "    CALLS.append(1)\n"
        "    rows = [{'id': str(i), 'x': i, 'y': i % 2} for i in range(4)]\n"
        "    DatasetRegistry(store).save(Dataset(rows, name='held'))\n"
    )
    (tmp_path / "compound.yaml").write_text(
        "name: t\nloop: interaction\ntask: t\nevals:\n  e:\n"
        "    dataset: {path: 'store:held', build: 'holdout_hook:build', expected: y}\n"
        "    target: {function: 'holdout_hook:build'}\n    metrics: [exact_match]\n"
    )
    system = System.load(tmp_path)
    store = MemoryStore()
    first = load_dataset(system, system.evals["e"], store)
    again = load_dataset(system, system.evals["e"], store)
    import holdout_hook  # type: ignore[import-not-found]

    assert len(first.examples()) == len(again.examples()) == 4
    assert holdout_hook.CALLS == [1]
