"""A latency criterion that fails warns in `compound up` (which still exits 0 and would serve)
unless --strict; `compound eval`, the CI gate, fails on it. A quality criterion blocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.cli import main

SPEC = """\
name: tiny
loop: interaction
task: Answer capitals.
criteria:
  answer_f1: {{metric: token_f1, threshold: {f1}}}
  p95_latency_ms: {{metric: p95_latency_ms, threshold: 0.000001, direction: lower}}
models:
  llm: {{kind: llm, provider: scripted, options: {{replies: ["Paris."]}}}}
workflows:
  ask:
    input: {{question: str}}
    steps:
      - {{name: answer, uses: llm, options: {{template: "{{question}}"}}}}
evals:
  qa:
    dataset: {{path: qa.jsonl, inputs: [question], expected: answer}}
    target: {{workflow: ask}}
    metrics: [token_f1, {{name: p95_latency_ms, metric: latency_ms, aggregate: p95}}]
"""


def tiny(tmp_path: Path, *, f1: float = 0.5) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "compound.yaml").write_text(SPEC.format(f1=f1))
    (folder / "qa.jsonl").write_text(json.dumps({"question": "Capital of France?",
                                                 "answer": "Paris."}) + "\n")
    return folder


def run(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], home: str) -> tuple[int, str]:
    monkeypatch.setenv("COMPOUND_HOME", str(tmp_path / home))
    monkeypatch.setenv("COLUMNS", "60")
    with pytest.raises(SystemExit) as exit_:
        main(args)
    captured = capsys.readouterr()
    return int(exit_.value.code or 0), captured.out + captured.err


def test_latency_warns_in_up_and_fails_with_strict_and_in_eval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(tiny(tmp_path))
    code, out = run(["up", spec, "--no-serve"], tmp_path, monkeypatch, capsys, "a")
    assert code == 0, out
    assert "FAIL (warning)" in out and "latency warning" in out
    assert "p95_latency_ms:" in out and "is not <= 0.000001" in out and "cores" in out
    assert "scorecard passed: every quality criterion is met" in out
    code, out = run(["up", spec, "--no-serve", "--strict"], tmp_path, monkeypatch, capsys, "b")
    assert code == 1 and "scorecard failed:" in out and "p95_latency_ms" in out
    code, out = run(["eval", spec], tmp_path, monkeypatch, capsys, "c")
    assert code == 1 and "p95_latency_ms" in out


def test_a_failed_quality_criterion_blocks_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(tiny(tmp_path, f1=1.5))
    code, out = run(["up", spec, "--no-serve"], tmp_path, monkeypatch, capsys, "a")
    assert code == 1 and "scorecard failed:" in out and "answer_f1" in out
