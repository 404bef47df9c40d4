"""A small system for the Ray tests (the cluster is ``ray_cluster`` in tests/conftest.py),
whose answers do not depend on which process or in which order rows run."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

CODE = textwrap.dedent('''
    def answer(inputs):
        if inputs["question"] == "explode":
            raise RuntimeError("the model crashed on this row")
        return inputs["question"].split()[-1].rstrip("?")
''')

SPEC = textwrap.dedent('''
    name: capitals
    loop: interaction
    task: Name capitals.
    criteria:
      accuracy: {metric: exact_match, threshold: 0.3}
    models:
      llm: {provider: scripted, options: {replies: ["Paris"], delay_s: DELAY}}
    evals:
      capitals:
        concurrency: 1
        dataset: {path: qa.jsonl, inputs: [question], expected: answer}
        target: {model: llm, prompt: "Capital of {question}"}
        metrics: [exact_match, token_f1]
      echo:
        dataset: {path: qa.jsonl, inputs: [question], expected: answer}
        target: {function: "fake_system:answer"}
        metrics: [exact_match]
''')


def make_system(folder: Path, *, rows: int = 24, delay_s: float = 0.0) -> Path:
    """The spec folder: ``rows`` questions (a third answered Paris, one missing its answer,
    one that makes the function target fail)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(rows):
        answer = "Paris" if i % 3 == 0 else f"City{i}"
        row = {"id": f"q{i}", "question": f"country {i} is {answer}?", "answer": answer}
        if i == 4:
            row["question"] = "explode"
        if i == 7:
            del row["answer"]
        lines.append(json.dumps(row))
    (folder / "qa.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "fake_system.py").write_text(CODE)
    (folder / "compound.yaml").write_text(SPEC.replace("DELAY", str(delay_s)))
    return folder


@pytest.fixture
def capitals(tmp_path: Path) -> Callable[..., Path]:
    """``capitals(rows=24, delay_s=0.0)``: the spec folder of :data:`SPEC`."""
    return lambda **options: make_system(tmp_path / "capitals", **options)
