"""`module:function` references in a spec: a missing module, a misspelt function and a module
that fails to import are each reported with the file, line and field, never a traceback."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from compound.checking import check_problems
from compound.code.references import BadReference, resolve
from compound.system import System

_names = itertools.count()

SPEC = """\
name: refs
loop: interaction
task: Answer.
models:
  llm: {{provider: scripted}}
tools:
  lookup: {{function: "{module}:lookup"}}
evals:
  qa:
    dataset: {{path: qa.jsonl, expected: answer, build: "{module}:build"}}
    target: {{function: "{module}:{target}"}}
    metrics:
      - {{name: mine, function: "{module}:score"}}
"""

CODE = """\
def lookup(query: str) -> str:
    return query


def build(system, store):
    return None


def answer(inputs):
    return "4"


def score(prediction, reference):
    return float(prediction == reference)
"""


def project(tmp_path: Path, code: str = CODE, *, target: str = "answer",
            module: str | None = None) -> System:
    """A spec naming code in a module of its own (a fresh name: imports are cached)."""
    name = module or f"refs_mod_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(code)
    (tmp_path / "compound.yaml").write_text(SPEC.format(module=name, target=target))
    return System.load(tmp_path)


def test_every_reference_in_the_spec_is_found_with_its_place(tmp_path: Path) -> None:
    system = project(tmp_path)
    found = {r.loc: r.reference.split(":")[1] for r in system.code_references()}
    assert found == {
        ("tools", "lookup", "function"): "lookup",
        ("evals", "qa", "dataset", "build"): "build",
        ("evals", "qa", "target", "function"): "answer",
        ("evals", "qa", "metrics", 0, "function"): "score",
    }
    assert check_problems(system) == []


def test_a_misspelt_function_gets_a_did_you_mean_with_file_and_line(tmp_path: Path) -> None:
    system = project(tmp_path, target="answr")
    problems = check_problems(system)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'compound.yaml'}:11: evals.qa.target.function:")
    assert "has no attribute 'answr' (did you mean 'answer'?)" in problems[0]
    assert "its public names: answer, build, lookup, score" in problems[0]


def test_a_missing_module_names_the_folder_and_the_closest_module(tmp_path: Path) -> None:
    system = project(tmp_path, module="refs_present")
    (tmp_path / "compound.yaml").write_text(
        (tmp_path / "compound.yaml").read_text().replace('"refs_present:answer"',
                                                        '"refs_presnt:answer"'))
    problems = check_problems(System.load(tmp_path))
    assert len(problems) == 1, problems
    assert ":11: evals.qa.target.function: eval 'qa' target 'refs_presnt:answer': no module " \
           "'refs_presnt'" in problems[0]
    assert "(did you mean 'refs_present'?)" in problems[0]
    del system


@pytest.mark.parametrize(("code", "line", "error"), [
    ("import os\n\nVALUE = undefined_name + 1\n", 3, "NameError: name 'undefined_name'"),
    ("def broken(:\n    pass\n", 1, "SyntaxError: "),
    ("import not_a_module_anywhere_xyz\n", 1, "ModuleNotFoundError: No module named"),
])
def test_a_module_that_raises_on_import_is_reported_at_its_own_line(
    tmp_path: Path, code: str, line: int, error: str
) -> None:
    """At run time the module is imported, and what it raises is reported at its line."""
    system = project(tmp_path, code)
    module = system.code_references()[0].reference.split(":")[0]
    for ref in system.code_references():
        with pytest.raises(BadReference) as caught:
            resolve(ref.reference, base=tmp_path, what=ref.what)
        problem = str(caught.value)
        assert f"importing module '{module}' failed at " in problem
        assert f"{module}.py:{line}: {error}" in problem
        assert "Traceback" not in problem


@pytest.mark.parametrize(("code", "line", "error"), [
    ("def broken(:\n    pass\n", 1, "SyntaxError: "),
    ("import os\nimport not_a_module_anywhere_xyz\n", 2,
     "ModuleNotFoundError: No module named 'not_a_module_anywhere_xyz'"),
    ("def f():\n    pass\nreturn 3\n", 3, "SyntaxError: 'return' outside function"),
])
def test_check_reads_what_an_import_would_fail_on_at_its_own_line(
    tmp_path: Path, code: str, line: int, error: str
) -> None:
    """compound check reads the module instead (it never runs it) and finds the same."""
    system = project(tmp_path, code)
    problems = check_problems(system)
    assert len(problems) == 4  # the tool, the build hook, the target and the metric
    module = system.code_references()[0].reference.split(":")[0]
    for problem in problems:
        assert f"importing module '{module}' would fail at " in problem
        assert f"{module}.py:{line}: {error}" in problem
        assert "Traceback" not in problem


def test_check_does_not_see_what_only_running_the_module_raises(tmp_path: Path) -> None:
    """A NameError at import time is found by 'compound run', not by reading the code."""
    system = project(tmp_path, CODE + "\nVALUE = undefined_name + 1\n")
    assert check_problems(system) == []


def test_resolve_refuses_what_is_not_a_reference_and_names_non_callables(tmp_path: Path) -> None:
    with pytest.raises(BadReference, match="must be 'module:attribute'"):
        resolve("just-a-name", what="step 'x'")
    system = project(tmp_path, CODE + "\nanswer_text = 'not callable'\n", target="answer_text")
    [problem] = check_problems(system)
    assert "is a str, not a function or a class" in problem


def test_a_tool_reference_fails_clearly_at_run_time_too(tmp_path: Path) -> None:
    """The run-time loader gives the same message as the check (no traceback)."""
    from compound.errors import UserError
    from compound.workflow.adapters import tool_from_spec

    system = project(tmp_path, CODE.replace("def lookup", "def look_up"))
    with pytest.raises(UserError, match=r"has no attribute 'lookup' \(did you mean 'look_up'"):
        tool_from_spec("lookup", system.tools["lookup"])


def test_the_spec_folder_is_appended_to_sys_path_after_the_installed_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A downloaded folder's `colorsys.py` never replaces the library a later import wants."""
    import importlib
    import sys
    import sysconfig

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    (tmp_path / "colorsys.py").write_text("raise SystemExit('the folder replaced colorsys')\n")
    system = project(tmp_path)
    folder = str(system.base_dir.resolve())
    stdlib = str(Path(sysconfig.get_paths()["stdlib"]).resolve())
    resolved = [str(Path(entry).resolve()) if entry else "" for entry in sys.path]
    assert resolved.index(folder) > resolved.index(stdlib)
    module = importlib.import_module("colorsys")
    assert not str(module.__file__).startswith(folder) and hasattr(module, "rgb_to_hsv")


def test_a_folder_module_named_like_an_installed_one_is_reported(tmp_path: Path) -> None:
    """`uses: code:run` with code.py in the folder: Python's `code` comes first; say so."""
    (tmp_path / "code.py").write_text("def lookup(query: str) -> str:\n    return query\n")
    system = project(tmp_path)
    with pytest.raises(BadReference, match=r"the module 'code' is found first at .*code\.py, so "
                                           r".*code\.py in the spec's folder is never imported.*"
                                           r"rename code\.py"):
        resolve("code:lookup", base=system.base_dir, what="tool 'lookup'")


def test_a_reference_given_on_the_command_line_uses_the_same_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`compound run module:workflow` finds the current folder's module, appended like a spec
    folder, with the loader's own did-you-mean."""
    import sys

    from compound.workflow.loader import _python_workflow

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    name = f"refs_cli_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(
        "from compound.workflow import Workflow\n\n\ndef make():\n    return 1\n")
    with pytest.raises(BadReference, match=rf"workflow '{name}:mak': module '{name}'.* has no "
                                           r"attribute 'mak' \(did you mean 'make'\?\)"):
        _python_workflow(f"{name}:mak")
    assert sys.path[-1] == str(tmp_path.resolve())


def test_two_spec_folders_with_a_module_of_the_same_name_each_get_their_own(
        tmp_path: Path) -> None:
    # two systems in one process (a test session, a notebook, a server of two specs), each
    # with its own desk_twin.py: by name alone the one imported first would answer for both
    answers = {}
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "desk_twin.py").write_text(f"def answer(q):\n    return {name!r}\n")
        (folder / "compound.yaml").write_text(
            "name: twin\nloop: interaction\ntask: Answer.\n"
            "models: {llm: {provider: scripted}}\n")
        System.load(folder).make_importable()
        answers[name] = resolve("desk_twin:answer", base=folder)("q")
    assert answers == {"first": "first", "second": "second"}
    # and back: the first folder's reference gets the first folder's code again
    assert resolve("desk_twin:answer", base=tmp_path / "first")("q") == "first"
