"""docs/deploy.md's commands stay true: every `compound ...` line in its shell blocks parses
with the options the CLI has today, and every extra a `pip install 'compound[...]'` names
exists. (What each command does is tested where the page says; this test keeps the page from
drifting away from the CLI.)"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer

from compound.cli import build

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "deploy.md"
SHELL = re.compile(r"^```bash[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_lines() -> list[str]:
    lines = []
    for block in SHELL.findall(PAGE.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip().removesuffix("&").strip()
            if line:
                lines.append(line)
    return lines


COMMANDS = [line for line in shell_lines() if line.startswith("compound ")]


def test_the_page_shows_each_deployment_command() -> None:
    verbs = {" ".join(shlex.split(c)[1:3]) for c in COMMANDS}
    assert any(v.startswith("serve-model") for v in verbs)
    assert any("--on ray" in c and "--address" in c for c in COMMANDS)
    assert any("--on ray" in c and "--address" not in c for c in COMMANDS)


@pytest.mark.parametrize("line", COMMANDS)
def test_every_compound_command_parses(line: str) -> None:
    # typer may carry its own copy of click: commands are told apart by what they do
    command: Any = typer.main.get_command(build())
    args = shlex.split(line)[1:]
    while hasattr(command, "resolve_command"):  # a group: find its subcommand
        name, sub, rest = command.resolve_command(command.context_class(command), args)
        assert sub is not None, f"{line}: no command {name!r}"
        command, args = sub, rest
    command.make_context(command.name, list(args))  # raises on an unknown option or value


def test_every_extra_named_exists() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                 ["optional-dependencies"])
    for line in shell_lines():
        for named in re.findall(r"compound\[([^\]]+)\]", line):
            unknown = set(named.split(",")) - extras
            assert not unknown, f"{line}: no extra {unknown}"
