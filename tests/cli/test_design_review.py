"""`compound check --review` as a user runs it, and the review table as text, never markup."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from compound.cli.design_review import print_review, review_table
from compound.console import new_console
from compound.design_review import RULES, review
from compound.system import System

BAD = Path(__file__).resolve().parents[1] / "design_review" / "bad_system"


def compound(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_review_lists_every_finding_and_strict_fails_on_them() -> None:
    out = compound("check", str(BAD), "--review")
    assert out.returncode == 0, out.stderr
    for rule in RULES:
        if rule.id != "no-criteria":  # the bad spec has criteria (without evals)
            assert rule.id in out.stdout, rule.id
    assert "compound.yaml:25" in out.stdout  # the unused pii rail, by file and line
    assert "design review: 2 errors, 12 warnings" in out.stdout
    strict = compound("check", str(BAD), "--review", "--strict")
    assert strict.returncode == 1


def test_strict_passes_when_every_finding_is_silenced(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text("""\
name: demo
loop: interaction
task: Answer.
criteria:
  f1: {metric: token_f1, threshold: 0.5}
design_review:
  silence:
    criterion-without-eval: measured by the team's own harness until the eval lands
""", encoding="utf-8")
    out = compound("check", str(tmp_path), "--strict")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "silenced" in out.stdout and "own harness" in out.stdout
    assert "design review: no open findings; 1 silenced" in out.stdout


def test_text_from_the_spec_is_shown_as_written_never_as_markup(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text("""\
name: demo
loop: interaction
task: Answer.
models: {llm: {provider: scripted}}
workflows:
  answer:
    input: {question: str}
    steps:
      - name: label
        uses: llm
        inputs: {question: input.question}
        options:
          template: "{question}"
          json_schema: {enum: ["[bold red]billing[/]", "[link=http://x]sync"]}
design_review:
  silence:
    no-input-rail: "[/] internal tool \\x1b[31m behind the VPN"
""", encoding="utf-8")
    found = review(System.load(tmp_path))
    out = new_console(file=io.StringIO(), width=200)
    print_review(out, found)
    text = out.file.getvalue()
    assert "[bold red]billing[/], [link=http://x]sync" in text
    assert "[/] internal tool ␛[31m behind the VPN" in text
    assert "\x1b" not in text
    assert review_table(found, silenced=False).row_count == len(found.open)


def test_up_lists_the_open_findings_after_the_scorecard_and_still_passes(tmp_path: Path
                                                                        ) -> None:
    (tmp_path / "qa.jsonl").write_text('{"question": "Capital of France?", "answer": "Paris"}\n'
                                       * 3, encoding="utf-8")
    (tmp_path / "compound.yaml").write_text("""\
name: demo
loop: interaction
task: Answer.
models:
  llm: {provider: scripted, options: {replies: ["Paris"]}}
criteria:
  contains: {threshold: 0.5}
evals:
  qa:
    dataset: {path: qa.jsonl, inputs: [question], expected: answer}
    target: {model: llm, prompt: "{question}"}
    metrics: [contains]
""", encoding="utf-8")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "COMPOUND_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "compound", "up", str(tmp_path), "--no-serve"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]  # findings warn, never block
    assert out.stdout.index("scorecard of demo") < out.stdout.index("design review of demo")
    assert "thin-eval" in out.stdout and "on 3 rows" in out.stdout
    assert "design review: 1 warning" in out.stderr
