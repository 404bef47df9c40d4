"""The `compound` command as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTED = """\
name: demo
loop: interaction
task: Answer questions.
models:
  llm:
    provider: scripted
    options:
      replies: ["Paris is the capital of France."]
"""


def compound(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "compound", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )


def test_help_lists_the_commands() -> None:
    out = compound("--help")
    assert out.returncode == 0
    for command in ("init", "check", "ask", "models"):
        assert command in out.stdout


@pytest.mark.parametrize("args", [("trace", "a" * 32, "extra"), ("run", "--no-such-option"),
                                  ("no-such-command",)])
def test_a_usage_error_is_a_message_and_exit_2_not_a_traceback(args: tuple[str, ...]) -> None:
    out = compound(*args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "Usage:" in out.stderr and "--help" in out.stderr


def test_check_a_bad_spec_exits_2_with_line(tmp_path: Path) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text("name: x\nloop: interaction\ntask: t\nmodles: {}\n")
    out = compound("check", str(spec))
    assert out.returncode == 2
    assert "compound.yaml:4" in out.stderr and "did you mean 'models'" in out.stderr


def test_ask_streams_the_answer(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SCRIPTED)
    out = compound("ask", str(tmp_path), "What is the capital of France?")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Paris is the capital of France."
    assert "tok/s" in out.stderr


def test_ask_says_it_asks_the_llm_alone_and_names_compound_run(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(
        SCRIPTED + "workflows:\n  answer:\n    steps:\n      - {name: draft, uses: llm}\n")
    out = compound("ask", str(tmp_path), "capital?")
    assert out.returncode == 0, out.stderr
    assert "asking the LLM 'llm' alone" in out.stderr
    assert "compound run" in out.stderr and "answer" in out.stderr
    assert out.stdout.strip() == "Paris is the capital of France."  # the header is not data
    helped = compound("ask", "--help")
    assert "not its workflow" in helped.stdout and "compound run" in helped.stdout


def test_ask_json_and_unknown_model(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SCRIPTED)
    out = compound("ask", str(tmp_path), "capital?", "--json")
    assert json.loads(out.stdout)["text"] == "Paris is the capital of France."
    wrong = compound("ask", str(tmp_path), "capital?", "--model", "lm")
    assert wrong.returncode == 2 and "did you mean 'llm'" in wrong.stderr


def test_models_list_shows_whether_each_loads(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(
        SCRIPTED + "  remote:\n    provider: openai\n    model: gpt-4o-mini\n"
        "    api_key_env: COMPOUND_TEST_NO_SUCH_KEY\n"
    )
    out = compound("models", "list", str(tmp_path))
    assert out.returncode == 0
    assert "loads" in out.stdout
    assert "COMPOUND_TEST_NO_SUCH_KEY" in out.stdout


@pytest.mark.integration
def test_ask_the_embedded_default(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    out = compound("ask", str(repo / "examples" / "quickstart"), "What is the capital of France?")
    assert out.returncode == 0, out.stderr
    assert "Paris" in out.stdout
