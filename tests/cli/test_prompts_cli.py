"""`compound prompts list|show|diff|add|promote|rollback`, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.evaluation.test_prompt_promotion import SPEC, reply
from typer.testing import CliRunner, Result

import compound.intelligence.llm as llm_module
from compound.cli import build
from compound.errors import UserError
from compound.intelligence.llm import ScriptedLLM


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(llm_module, "build_llm", lambda spec: ScriptedLLM(reply))
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "compound.yaml").write_text(SPEC)
    (tmp_path / "qa.jsonl").write_text(
        "".join(f'{{"question": "q{i}", "answer": "yes"}}\n' for i in range(4)))
    return tmp_path


def compound(*args: str) -> Result:
    return CliRunner().invoke(build(), list(args))


def test_list_add_show_diff_promote_rollback(project: Path) -> None:
    spec = str(project)
    listed = compound("prompts", "list", spec, "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [{"name": "support.answer", "versions": 1,
                                          "production": 1, "source": "spec",
                                          "candidates": [], "metrics": {}}]
    examples = project / "examples.jsonl"
    examples.write_text('{"input": {"question": "Open?"}, "output": "yes"}\n')
    added = compound("prompts", "add", spec, "support.answer", "--examples", str(examples),
                     "--note", "[bold]from feedback")
    assert added.exit_code == 0 and "support.answer@2 as a candidate" in added.stdout
    shown = compound("prompts", "show", spec, "support.answer@2")
    assert shown.exit_code == 0
    assert "[bold]from feedback" in shown.stdout  # user text is not markup
    assert '{"question": "Open?"}' in shown.stdout
    diff = compound("prompts", "diff", spec, "support.answer", "1", "2")
    assert "+++ support.answer@2" in diff.stdout and "+yes" in diff.stdout
    promoted = compound("prompts", "promote", spec, "support.answer", "2")
    assert promoted.exit_code == 0, promoted.output
    assert "support.answer@2 is now in production (replacing version 1)" in promoted.stdout
    table = compound("prompts", "list", spec).stdout
    assert "2 (cli)" in table and "exact_match 1" in table
    run_id = "ab" * 16
    ran = compound("run", spec, "support", "--input", '{"question": "Open?"}', "--run-id", run_id)
    assert ran.exit_code == 0, ran.output
    traced = compound("trace", run_id, "--spec", spec)
    assert "answer [step]" in traced.stdout and "prompt=support.answer@2" in traced.stdout
    rolled = compound("prompts", "rollback", spec, "support.answer")
    assert "version 2 archived, version 1 is in production again" in rolled.stdout
    shown = json.loads(compound("prompts", "show", spec, "support.answer", "--json").stdout)
    assert (shown["version"], shown["stage"]) == (1, "production")


def test_a_worse_candidate_is_refused_with_exit_code_one(project: Path) -> None:
    spec = str(project)
    compound("prompts", "add", spec, "support.answer", "--system", "Ramble on.")
    refused = compound("prompts", "promote", spec, "support.answer", "2", "--json")
    assert refused.exit_code == 1
    decision = json.loads(refused.stdout)
    assert not decision["promoted"]
    assert [(c["name"], c["status"]) for c in decision["checks"]] == [("exact_match", "fail")]
    listed = json.loads(compound("prompts", "list", spec, "--json").stdout)
    assert listed[0]["production"] == 1 and listed[0]["candidates"] == [2]


def test_errors_name_what_there_is(project: Path) -> None:
    spec = str(project)
    unknown = compound("prompts", "show", spec, "support.answr")
    assert isinstance(unknown.exception, UserError)
    assert "did you mean 'support.answer'" in str(unknown.exception)
    missing = compound("prompts", "diff", spec, "support.answer", "1", "5")
    assert isinstance(missing.exception, UserError)
    assert "has no version 5 (versions: 1)" in str(missing.exception)
    early = compound("prompts", "rollback", spec, "support.answer")
    assert "no earlier production version" in str(early.exception)
    rewired = compound("prompts", "add", spec, "support.answer", "--template", "Reply: {text}")
    assert "--template reads fields ['text'], but the step's template in the spec reads " \
        "['question']" in str(rewired.exception)
