"""The code_assistant example: its spec checks, and its workflows run their typed steps with
the scripted LLM: a syntax error is caught by the check and retried with the error as an
observation, test failures come back from the sandbox, and `solve` finds the function a
request names in the sample repository and its tests."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compound.intelligence.embedders.fake import FakeEmbedder
from compound.intelligence.llm import ScriptedLLM
from compound.orchestration.retrieval.index import DocumentIndex
from compound.system import System
from compound.workflow.loader import build_workflow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "code_assistant"
sys.path.insert(0, str(EXAMPLE))
import assist  # noqa: E402  (the example's own module, as its spec imports it)

PROBLEM = {
    "prompt": 'def double(x: int) -> int:\n    """Return twice x."""\n',
    "tests": "def check(candidate):\n    assert candidate(4) == 8\n",
    "entry_point": "double",
}


def run(workflow: str, replies: list[str], tmp_path: Path | None = None, **request: Any
        ) -> tuple[Any, ScriptedLLM]:
    llm = ScriptedLLM(replies, cycle=False)
    shared: dict[str, Any] = {"llm:llm": llm, "strategy:cache": None}
    if tmp_path is not None:  # the repository's index, with a fake embedder, in tmp_path
        shared["retrieval-index:repo"] = DocumentIndex(tmp_path / "index",
                                                       embedder=FakeEmbedder())
    flow = build_workflow(System.load(EXAMPLE), workflow, shared=shared)
    return flow.run(**request).output, llm


def test_the_spec_checks() -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "compound", "check", str(EXAMPLE)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "is a valid interaction system" in out.stdout


def test_a_syntax_error_is_retried_with_the_error_as_an_observation() -> None:
    output, llm = run("complete", ["    return (x * 2", "    return x * 2"], **PROBLEM)
    assert output.passed and output.syntax_ok
    assert output.generations == 2
    assert output.errors[0].startswith("SyntaxError: '(' was never closed")
    retry = llm.calls[1][0][-1].content  # the second prompt: the error as an observation
    assert "# Attempt 1 failed: SyntaxError: '(' was never closed" in retry
    assert "return (x * 2" not in retry  # code that did not parse is rewritten, not shown
    assert retry.endswith(PROBLEM["prompt"])  # and it ends where the model continues
    assert [params.temperature for _, params in llm.calls] == [0.0, 0.8]  # a retry samples
    assert output.code == 'def double(x: int) -> int:\n    """Return twice x."""\n' \
                          "    return x * 2\n"


def test_a_single_generation_keeps_the_syntax_error() -> None:
    output, llm = run("complete_once", ["    return (x * 2", "    return x * 2"], **PROBLEM)
    assert not output.syntax_ok and not output.passed and not output.tested
    assert output.generations == 1 and len(llm.calls) == 1


def test_an_empty_body_is_retried_and_the_retries_are_bounded() -> None:
    output, llm = run("complete", ["    # TODO", "    # TODO", "    pass # TODO", "x"],
                      **PROBLEM)
    assert output.syntax_ok and output.generations == 3 and len(llm.calls) == 3
    assert output.errors == ["`double` has no body"] * 2
    assert "# Attempt 2 failed: `double` has no body" in llm.calls[2][0][-1].content


def test_complete_does_not_retry_on_the_hidden_tests() -> None:
    output, llm = run("complete", ["    return x + 1", "    return x * 2"], **PROBLEM)
    assert output.syntax_ok and output.tested and not output.passed
    assert output.generations == 1 and len(llm.calls) == 1
    assert output.error == "AssertionError"


def test_a_hanging_answer_is_stopped_by_the_sandbox_time_limit() -> None:
    output, _ = run("complete_once", ["    while True:\n        pass"], **PROBLEM)
    assert output.syntax_ok and not output.passed
    assert "timed out" in (output.error or "")


def test_solve_finds_the_function_its_context_and_its_tests(tmp_path: Path) -> None:
    answer = "    return sep.join(words(title))"
    output, llm = run("solve", [answer], tmp_path,
                      request="Implement `slugify` in textkit/slug.py")
    assert output.passed and output.generations == 1
    assert output.function == "slugify" and answer in output.source
    prompt = llm.calls[0][0][-1].content
    assert "def words(text: str)" in prompt  # looked up: slug.py imports it
    assert prompt.rstrip().endswith('"""')  # ends at slugify's docstring


def test_solve_retries_failing_tests_showing_the_code_and_the_failing_line(
        tmp_path: Path) -> None:
    output, llm = run("solve", ["    return title"] * 3, tmp_path,
                      request="Write slugify() for the titles")
    assert not output.passed and output.generations == 3  # bounded: max_iterations 3
    assert "at `assert slugify(" in (output.error or "")
    retry = llm.calls[1][0][-1].content
    assert "# Attempt 1:\ndef slugify(title" in retry and "    return title" in retry
    assert "# Attempt 1 failed: FAILED test_slug.test_slugify_joins_lowercase_words" in retry


def test_a_request_naming_no_function_says_which_there_are() -> None:
    with pytest.raises(ValueError, match="functions: content_words, initials, slugify"):
        assist.lookup_symbols(assist.parse_request("make it faster"))


def test_the_prompt_stays_within_its_budget() -> None:
    task = assist.function_task(**PROBLEM)
    long = assist.Attempt("double", "x = 1\n" * 2000, "", True, True, False,
                          "AssertionError", 1, [], 0)
    prompt = assist.build_prompt(task, long)
    assert prompt.tokens <= prompt.budget
    assert prompt.dropped and prompt.dropped[0].startswith("earlier attempt: cut to")
    assert prompt.text.endswith(PROBLEM["prompt"])


def test_the_documented_examples_hold() -> None:
    assert doctest.testmod(assist, raise_on_error=False).failed == 0


def test_the_eval_metrics_read_the_attempt_an_eval_row_keeps() -> None:
    from compound.evaluation.targets import TargetOutput

    attempt = assist.Attempt("double", "", "", True, True, False, "AssertionError", 2, [""], 9)
    row = TargetOutput(text="", data={"syntax_ok": True, "passed": False, "generations": 2})
    for output in (attempt, row):
        assert assist.syntax_valid(output) and not assist.tests_pass(output)
        assert assist.generations(output) == 2.0
