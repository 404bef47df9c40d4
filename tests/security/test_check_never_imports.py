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

import contextlib
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


# -- in process: the shapes code takes, each read without running it ------------------------

CANARY_LINE = "open(__file__ + '.CANARY', 'w')\n"


def read(tmp_path: Path, code: str, reference: str, *, files: dict[str, str] | None = None
         ) -> object:
    """What compound check reads ``reference`` as, in a folder holding ``code`` as desk.py."""
    from compound.code.guard import reading_only
    from compound.code.references import resolve

    root = tmp_path / "folder"
    root.mkdir(exist_ok=True)
    (root / "desk.py").write_text(CANARY_LINE + code)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(CANARY_LINE + text)
    with reading_only(root) as reading:
        try:
            return resolve(reference, base=root, what="step 's'")
        finally:
            assert not list(root.rglob("*.CANARY")), "the folder's code ran"
            del reading


def test_a_class_an_instance_and_a_method_are_read_with_their_signatures(tmp_path: Path) -> None:
    import inspect

    from compound.workflow.step import Step

    code = textwrap.dedent("""\
        class Desk:
            def __init__(self, tone: str = "kind") -> None:
                self.tone = tone

            def run(self, question: str, k: int = 3) -> str:
                return question

        desk = Desk()
    """)
    cls = read(tmp_path, code, "desk:Desk")
    assert str(inspect.signature(cls)) == "(tone: str = 'kind')"  # as Python shows a class
    step = Step(read(tmp_path, code, "desk:desk"), name="s")
    assert sorted(step.params) == ["k", "question"] and step.output_type is str
    method = read(tmp_path, code, "desk:desk.run")
    assert list(inspect.signature(method).parameters) == ["question", "k"]


def test_a_tool_declared_with_side_effects_in_code_is_seen_by_reading(tmp_path: Path) -> None:
    from compound.errors import UserError
    from compound.orchestration.spec import ToolSpec
    from compound.orchestration.tools import Tool
    from compound.workflow.adapters import tool_from_spec

    code = ("from compound import tool\n\n@tool(side_effects=True)\n"
            "def send(to: str) -> str:\n    '''Send it.'''\n    return to\n")
    target = read(tmp_path, code, "desk:send")
    assert isinstance(target, Tool) and target.side_effects
    from compound.code.guard import reading_only

    with reading_only(tmp_path / "folder"), pytest.raises(UserError, match="has side effects"):
        tool_from_spec("send", ToolSpec(function="desk:send"))


@pytest.mark.parametrize(("code", "files", "reference", "expected"), [
    ("import helpers\n", {"helpers.py": "def shout(t: str) -> str:\n    return t\n"},
     "desk:helpers.shout", "shout"),
    ("from helpers import shout as loud\n", {"helpers.py": "def shout(t: str) -> str: ...\n"},
     "desk:loud", "shout"),
    ("", {"ns/inner.py": "def go() -> None: ...\n"}, "ns.inner:go", "go"),
    ("f = lambda x: x\n", None, "desk:f", "f"),
    ("import json\nhandler = json.dumps\nfrom json import dumps\n", None, "desk:dumps",
     "dumps"),
])
def test_names_are_followed_through_imports_and_aliases(
    tmp_path: Path, code: str, files: dict[str, str] | None, reference: str, expected: str
) -> None:
    assert getattr(read(tmp_path, code, reference, files=files), "__name__", None) == expected


@pytest.mark.parametrize(("code", "expected"), [
    ("ANSWER = 'text'\n", "is a str, not a function"),
    ("ANSWERS = [1, 2]\n", "is a list, not a function"),
])
def test_a_literal_is_not_a_function(tmp_path: Path, code: str, expected: str) -> None:
    from compound.checking import check_problems
    from compound.system import System

    root = folder(tmp_path, desk=DESK + code)
    spec = root / "compound.yaml"
    name = code.split(" ")[0]
    spec.write_text(spec.read_text().replace('"desk:answer"', f'"desk:{name}"'))
    [problem] = check_problems(System.load(root))
    assert f"'desk:{name}' {expected}" in problem and "evals.qa.target.function" in problem


@pytest.mark.parametrize(("code", "why"), [
    ("def __getattr__(name):\n    return len\n", "may create 'answer' when it runs"),
    ("answer = make()\n", "is computed when the code runs"),
    ("from os.path import *\n", "may create 'answer' when it runs"),
])
def test_what_only_running_could_tell_is_unverified(tmp_path: Path, code: str, why: str) -> None:
    from compound.code.guard import UnverifiedReference

    with pytest.raises(UnverifiedReference, match=why):
        read(tmp_path, code, "desk:answer")


@pytest.mark.parametrize(("code", "expected"), [
    ("x = " + "(" * 300 + ")" * 300 + "\n", "would fail at"),
    ("x = 1\n\x00\n", "would fail at"),
    ("def f(a, a):\n    pass\n", "duplicate argument"),
])
def test_hostile_source_is_a_problem_never_a_crash(tmp_path: Path, code: str,
                                                   expected: str) -> None:
    from compound.code.references import BadReference

    with pytest.raises(BadReference, match=expected):
        read(tmp_path, code, "desk:f")


def test_a_module_past_the_size_limit_is_noted_not_read(tmp_path: Path) -> None:
    from compound.code.guard import UnverifiedReference
    from compound.code.modules import MAX_MODULE_BYTES

    with pytest.raises(UnverifiedReference, match="more than the"):
        read(tmp_path, "# padding\n" * (MAX_MODULE_BYTES // 10 + 1), "desk:f")


_SNIPPETS = [
    "import os\n", "os.system('touch pwned')\n", "def answer(q: str) -> str:\n    return q\n",
    "class answer:\n    def run(self, x: 'list[int]') -> 'Answer': ...\n",
    "answer = answer\n", "from . import answer\n", "from desk import answer\n",
    "import desk as answer\n", "answer: int = 3\n", "if True:\n    def answer(): ...\n",
    "try:\n    import numpy\nexcept ImportError:\n    answer = None\n",
    "@dataclass\nclass Answer:\n    x: 'Answer | None'\n",
    "def answer(*a, b: 'int |' = f(), **k) -> Optional[List[Dict[str, Any]]]: ...\n",
    "x = (" * 3 + "1" + ")" * 3 + "\n", "globals()['answer'] = 1\n", "def (:\n", "\x00",
    "class B(answer):\n    pass\nanswer = B\n", "answer = lambda *, k=[]: k\n",
]


def test_reading_any_mix_of_code_answers_a_problem_a_note_or_a_stand_in(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from compound.code.guard import UnverifiedReference
    from compound.code.references import BadReference

    @settings(max_examples=60, deadline=None, suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(st.sampled_from(_SNIPPETS), max_size=8),
           st.sampled_from(["desk:answer", "desk:answer.run", "desk:B", "desk:Answer.x"]))
    def check(parts: list[str], reference: str) -> None:
        with contextlib.suppress(BadReference, UnverifiedReference):
            read(tmp_path, "".join(parts), reference)

    check()
