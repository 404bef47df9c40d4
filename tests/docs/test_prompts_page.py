"""docs/prompts.md runs as written: its system in a fresh folder, then every `compound
prompts` line of its shell block, in order, as a user types them."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compound.cli import build

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "prompts.md").read_text(encoding="utf-8")


def block(language: str) -> str:
    [found] = re.findall(rf"^```{language}[ \t]*\n(.*?)^```", PAGE, re.MULTILINE | re.DOTALL)
    return str(found)


def test_the_page_commands_register_promote_and_roll_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compound.yaml").write_text(block("yaml"), encoding="utf-8")
    (tmp_path / "data").symlink_to(ROOT / "docs" / "data")
    monkeypatch.chdir(tmp_path)
    lines = [shlex.split(line, comments=True) for line in block("bash").splitlines()]
    commands = [words[1:] for words in lines if words[:2] == ["compound", "prompts"]]
    assert [c[1] for c in commands] == ["list", "add", "show", "diff", "promote", "rollback"]
    runner = CliRunner()
    for args in commands:
        result = runner.invoke(build(), args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        if args[1] == "promote":
            assert "capitals.answer@2 is now in production" in result.stdout
    listed = json.loads(runner.invoke(build(), ["prompts", "list", ".", "--json"]).stdout)
    assert listed == [{"name": "capitals.answer", "versions": 2, "production": 1,
                       "source": "spec", "candidates": [],
                       "metrics": {"exact_match": 1.0}}]


def test_the_flywheel_commands_run_on_the_page_system(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `compound improve` lines of the flywheel section, after users edited two answers:
    the scripted model answers the same whatever the prompt, so no candidate beats
    production and nothing is promoted."""
    from compound.orchestration.prompts import PromptRegistry
    from compound.production.feedback import FeedbackLog, parse_signal
    from compound.store import open_store
    from compound.system import System
    from compound.workflow import build_workflow, start

    (tmp_path / "compound.yaml").write_text(block("yaml"), encoding="utf-8")
    (tmp_path / "data").symlink_to(ROOT / "docs" / "data")
    monkeypatch.chdir(tmp_path)
    system = System.load(tmp_path)
    with open_store(system) as store:
        flow = build_workflow(system, "capitals", shared={"store": store})
        for question, edit in (("Capital of Peru?", "Lima"), ("Capital of Chile?", "Santiago")):
            run = start(flow, {"question": question}, store=store)
            FeedbackLog(store).record(parse_signal({"run_id": run.run_id, "kind": "edit",
                                                    "value": edit}))
    lines = [shlex.split(line, comments=True) for line in block("shell").splitlines()]
    commands = [words[1:] for words in lines if words[:2] == ["compound", "improve"]]
    assert len(commands) == 2
    runner = CliRunner()
    for args in commands:
        result = runner.invoke(build(), args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "capitals.answer" in result.stdout and "unchanged" in result.stdout
        assert "model calls at most" in result.stderr
    with open_store(system) as store:
        assert PromptRegistry(store).production("capitals.answer").version == 1  # type: ignore[union-attr]
