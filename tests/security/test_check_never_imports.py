"""`compound check` never runs the spec folder's own Python (issue 14 meets issue 15).

A downloaded folder with a `compound.yaml` and a `desk.py` whose top level writes a file (or
would call ``os.system``) is checked the way a linter checks code: the module is read with
``ast``, never imported. Every place a spec names code is covered: a step's ``uses:``, a tool,
an eval target's ``function:``, a metric's ``function:``, a dataset ``build:`` hook; and the
ways around them: a helper module the first imports, a ``*.dist-info`` in the folder that
registers a plugin, the folder being the working directory. ``compound run`` does import the
code (that is running the system), which shows the canary would have been written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SPEC = """\
name: canary
loop: interaction
task: Answer questions.
models:
  llm: {{provider: scripted, options: {{replies: ["It is 4."]}}}}
tools:
  lookup: {{function: "{module}:lookup"}}
workflows:
  answer:
    input: {{question: str}}
    steps:
      - {{name: prep, uses: "{module}:{prepare}", inputs: {{question: input.question}}}}
      - {{name: reply, uses: llm, options: {{template: "Answer: {{text}}"}},
         inputs: {{text: prep.text}}}}
evals:
  qa:
    dataset: {{path: qa.jsonl, inputs: {{question: question}}, expected: answer,
              build: "{module}:build"}}
    target: {{function: "{module}:answer"}}
    metrics:
      - {{name: mine, function: "{module}:score"}}
"""

DESK = '''\
import os
from dataclasses import dataclass

import helpers

open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "CANARY"), "w").write("desk")
if os.environ.get("COMPOUND_CANARY_SYSTEM"):
    os.system("touch " + os.environ["COMPOUND_CANARY_SYSTEM"])


@dataclass
class Prepared:
    text: str
    words: int


def prepare(question: str) -> Prepared:
    return Prepared(question.strip(), len(question.split()))


def lookup(query: str) -> str:
    """Look a word up.

    Args:
        query: the word.
    """
    return helpers.shout(query)


def build(system, store):
    return None


def answer(inputs) -> str:
    return "4"


def score(prediction, reference) -> float:
    return float(prediction == reference)
'''

HELPERS = '''\
import os

open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "CANARY_HELPERS"), "w").write("x")


def shout(text: str) -> str:
    return text.upper()
'''


def folder(tmp_path: Path, *, module: str = "desk", prepare: str = "prepare",
           desk: str = DESK) -> Path:
    """A downloaded system: compound.yaml, desk.py (top-level side effects), helpers.py."""
    root = tmp_path / "downloaded"
    root.mkdir()
    (root / "compound.yaml").write_text(SPEC.format(module=module, prepare=prepare))
    (root / f"{module}.py").write_text(desk)
    (root / "helpers.py").write_text(HELPERS)
    (root / "qa.jsonl").write_text('{"question": "2+2?", "answer": "4"}\n')
    return root


def compound(*args: str, cwd: Path, extra_env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter (wide, so that no message is wrapped)."""
    env = {**os.environ, "COLUMNS": "4000", "NO_COLOR": "1", **(extra_env or {})}
    out = subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                         text=True, env=env, cwd=cwd, timeout=180)
    return out


def canaries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("CANARY"))


def test_check_reads_every_kind_of_reference_and_runs_none_of_it(tmp_path: Path) -> None:
    root = folder(tmp_path)
    marker = tmp_path / "os_system_ran"
    out = compound("check", str(root), cwd=tmp_path,
                   extra_env={"COMPOUND_CANARY_SYSTEM": str(marker)})
    assert out.returncode == 0, out.stderr
    assert "is a valid interaction system" in out.stdout
    assert canaries(root) == [] and not marker.exists()
    assert "Traceback" not in out.stderr


def test_the_same_folder_is_imported_by_compound_run(tmp_path: Path) -> None:
    """The static reading is for check only: running the system imports its code."""
    root = folder(tmp_path)
    out = compound("run", str(root), "answer", "-i", '{"question": "2+2?"}', "--home",
                   str(tmp_path / "home"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "It is 4." in out.stdout
    assert canaries(root) == ["CANARY", "CANARY_HELPERS"]


def test_check_from_inside_the_folder_runs_none_of_it(tmp_path: Path) -> None:
    """`cd downloaded && python -m compound check .`: the folder is the first sys.path entry."""
    root = folder(tmp_path)
    out = compound("check", ".", cwd=root)
    assert out.returncode == 0, out.stderr
    assert canaries(root) == []


def test_a_misspelt_step_function_is_a_precise_problem_and_nothing_runs(tmp_path: Path) -> None:
    root = folder(tmp_path, prepare="prepar")
    out = compound("check", str(root), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "compound.yaml:12: workflows.answer.steps[0]: step 'prep' 'desk:prepar': module " \
           "'desk' (" in out.stderr
    assert "desk.py) has no attribute 'prepar' (did you mean 'prepare'?)" in out.stderr
    assert "its public names: Prepared, answer, build, lookup, prepare, score" in out.stderr
    assert canaries(root) == []


def test_a_wiring_problem_is_found_from_the_annotations_alone(tmp_path: Path) -> None:
    """The step's return annotation (a dataclass of the folder) is read, not imported: a
    template field the record does not have is found."""
    root = folder(tmp_path)
    spec = root / "compound.yaml"
    spec.write_text(spec.read_text().replace("inputs: {text: prep.text}",
                                             "inputs: {text: prep.txt}"))
    out = compound("check", str(root), cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "workflows.answer.steps[1]: step 'reply' input 'text' refers to 'prep.txt', but " \
           "Prepared has no field 'txt' (did you mean 'text'?); it has text, words" in out.stderr
    assert canaries(root) == []


def test_a_syntax_error_is_reported_at_the_users_file_and_line(tmp_path: Path) -> None:
    root = folder(tmp_path, desk=DESK + "\n\ndef broken(:\n    pass\n")
    out = compound("check", str(root), cwd=tmp_path)
    assert out.returncode == 2
    assert "importing module 'desk' would fail at " in out.stderr
    line = DESK.count("\n") + 3
    assert f"desk.py:{line}: SyntaxError: " in out.stderr
    assert canaries(root) == []


def test_what_reading_cannot_tell_is_a_note_not_an_error(tmp_path: Path) -> None:
    code = DESK.replace("def answer(inputs) -> str:\n    return \"4\"\n",
                        'globals()["answer"] = lambda inputs: "4"\n')
    root = folder(tmp_path, desk=code)
    out = compound("check", str(root), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "note: " in out.stderr and "evals.qa.target.function" in out.stderr
    assert "'desk:answer' was not verified" in out.stderr
    assert "'compound run' or 'compound up' will import it" in out.stderr
    assert canaries(root) == []


def test_a_plugin_registered_by_a_dist_info_in_the_folder_is_not_imported(
    tmp_path: Path,
) -> None:
    """Entry points are found on sys.path, which the folder is on at run time: a folder that
    ships `x.dist-info/entry_points.txt` could register a metric; check does not load it."""
    root = folder(tmp_path)
    info = root / "sneaky-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sneaky\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[compound.metrics]\nsneaky = desk:score\n")
    spec = root / "compound.yaml"
    spec.write_text(spec.read_text().replace("      - {name: mine, function: \"desk:score\"}",
                                             "      - sneaky"))
    out = compound("check", str(root), cwd=tmp_path)
    assert "no metric named 'sneaky'" in out.stderr, out.stderr
    assert canaries(root) == []
    inside = compound("check", ".", cwd=root)
    assert "no metric named 'sneaky'" in inside.stderr, inside.stderr
    assert canaries(root) == []


def test_check_import_opts_into_running_the_folders_code(tmp_path: Path) -> None:
    root = folder(tmp_path)
    help_text = compound("check", "--help", cwd=tmp_path).stdout
    assert "--import" in help_text and "RUNS" in help_text
    out = compound("check", "--import", str(root), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert canaries(root) == ["CANARY", "CANARY_HELPERS"]


def test_a_package_module_and_relative_imports_are_read_in_process(tmp_path: Path) -> None:
    """`pkg.steps:prepare`, where pkg/steps.py imports a sibling relatively: all read."""
    from compound.checking import check_all
    from compound.system import System

    root = folder(tmp_path, module="pkg.steps")
    os.remove(root / "pkg.steps.py")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text(
        "import os\nopen(os.path.join(os.path.dirname(__file__), '..', 'CANARY_INIT'), 'w')\n")
    (root / "pkg" / "steps.py").write_text(DESK.replace("import helpers\n",
                                                        "from . import shared\n"))
    (root / "pkg" / "shared.py").write_text(textwrap.dedent("""\
        import os
        open(os.path.join(os.path.dirname(__file__), "..", "CANARY_SHARED"), "w")
        def shout(text: str) -> str:
            return text
    """))
    before = set(sys.modules)
    problems, notes = check_all(System.load(root))
    assert problems == [] and notes == []
    assert canaries(root) == []
    assert not {m for m in set(sys.modules) - before if m.startswith("pkg")}


@pytest.mark.parametrize(("code", "expected"), [
    ("import not_installed_xyz\n", "No module named 'not_installed_xyz'"),
    ("from helpers import shot\n", "cannot import name 'shot' from 'helpers'"),
])
def test_imports_that_would_fail_are_found_by_reading(tmp_path: Path, code: str,
                                                      expected: str) -> None:
    from compound.checking import check_all
    from compound.system import System

    root = folder(tmp_path, desk=code + DESK)
    problems, _ = check_all(System.load(root))
    assert problems and all(expected in p and "desk.py:1" in p for p in problems), problems
    assert canaries(root) == []
