"""A spec never makes compound run code: input types, when/until conditions, router rules
(issue 14, part 1).

Every payload below would run code, read interpreter internals or exhaust memory if spec text
reached Python's ``eval``. Each must end in a clear error (or, for a harmless expression, a
plain value) and leave the canary file unwritten.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compound
from compound import conditions
from compound.conditions import MAX_ITEMS, Condition, ConditionError, read_field
from compound.errors import SpecError
from compound.system import System
from compound.workflow import type_names
from compound.workflow.type_names import parse_type

SPEC = """
name: probe
loop: interaction
task: Answer.
models:
  llm: {{kind: llm, provider: scripted, options: {{replies: ["ok"]}}}}
workflows:
  answer:
    input: {{question: {type}}}
    steps:
      - name: draft
        uses: llm
        inputs: {{question: input.question}}
        when: {when}
strategy:
  routers:
    by_rule:
      kind: rules
      rules: [{{when: {rule}, use: llm}}]
      default: llm
"""


def spec(*, type: str = "str", when: str = "input.question != ''",
         rule: str = "length > 10") -> str:
    quote = lambda text: "'" + text.replace("'", "''") + "'"  # noqa: E731 (YAML single quotes)
    return SPEC.format(type=quote(type), when=quote(when), rule=quote(rule))


def canary_payloads(canary: Path) -> list[str]:
    """Code that writes ``canary`` if anything evaluates it."""
    path = str(canary)
    return [
        # the classic escape from eval with empty builtins: it wrote the file before the fix
        "[c for c in ().__class__.__bases__[0].__subclasses__() if c.__name__ == "
        f"'catch_warnings'][0]()._module.__builtins__['open']('{path}', 'w')",
        f"__import__('os').system('touch {path}')",
        f"open('{path}', 'w')",
        f"str if open('{path}', 'w') else int",
        f"(lambda: open('{path}', 'w'))()",
        f"[open('{path}', 'w') for _ in [1]]",
        f"(f := open('{path}', 'w'))",
        f"list[open('{path}', 'w')]",
        f"dict[str, __import__('pathlib').Path('{path}').touch()]",
        f"().__class__.__bases__[0].__subclasses__()[0]('{path}')",
        f"str.__class__.__call__(open, '{path}', 'w')",
        f"exec(\"open('{path}', 'w')\")",
        f"eval(\"open('{path}', 'w')\")",
        f"getattr(__builtins__, 'open')('{path}', 'w')",
        f"f'{{open(\"{path}\", \"w\")}}'",
        f"input.__class__.__init__.__globals__['os'].system('touch {path}')",
        f"str | open('{path}', 'w')",
        f"len(open('{path}', 'w'))",
        f"[x for x in [open('{path}', 'w')]]",
        f"{{open('{path}', 'w'): 1}}",
        f"str; open('{path}', 'w')",
    ]


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "a payload in a spec ran code"


# -- input types -------------------------------------------------------------------------------


def test_no_input_type_payload_runs_code(canary: Path) -> None:
    for payload in canary_payloads(canary):
        with pytest.raises(SpecError, match=r"input\.question: unknown type") as info:
            System.from_yaml(spec(type=payload), source="probe.yaml")
        assert "probe.yaml:" in str(info.value), payload
        assert not canary.exists(), payload


@pytest.mark.parametrize("payload", [
    "().__class__.__bases__[0].__subclasses__()", "__builtins__", "str.mro", "type",
    "object", "int()", "list[str](1)", "Any.__init__", "None.__class__", "dict[str]",
    "list[str, int]", "list[" * 50 + "str" + "]" * 50, "str " * 3, "x" * 10_000, "", "|",
    "str |", "[str]", "list[]", "\x00", "str\nimport os",
])
def test_input_types_outside_the_grammar_are_errors_naming_the_field(payload: str) -> None:
    with pytest.raises(ValueError, match=r"^input\.q: unknown type .*; use str, int"):
        parse_type(payload, where="input.q")


@pytest.mark.parametrize(("text", "expected"), [
    ("str", str), ("int", int), ("float", float), ("bool", bool), ("None", None),
    ("list", list), ("dict", dict), ("list[str]", list[str]), ("dict[str, int]", dict[str, int]),
    ("int | None", int | None), ("list[dict[str, float]] | None", list[dict[str, float]] | None),
    ("  str  ", str), ("Any", Any), ("any", Any),
])
def test_the_type_grammar_reads_every_type_the_docs_name(text: str, expected: Any) -> None:
    assert parse_type(text, where="input.q") == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(
    ["str", "int", "list", "dict", "None", "any", "[", "]", ",", "|", " ", "(", ")", ".", "_",
     "__class__", "os", "'", "lambda", ":", "*", "import"]), max_size=40).map("".join))
def test_type_names_fuzzed_give_a_type_or_a_value_error(text: str) -> None:
    try:
        parse_type(text, where="input.q")
    except ValueError as exc:
        assert str(exc).startswith("input.q: unknown type")


# -- conditions --------------------------------------------------------------------------------


def test_no_when_or_rule_payload_runs_code(canary: Path) -> None:
    for payload in canary_payloads(canary):
        for where in ("when", "rule"):
            with pytest.raises(SpecError, match=r"probe\.yaml:\d+: "):
                System.from_yaml(spec(**{where: payload}), source="probe.yaml")
            assert not canary.exists(), payload


@pytest.mark.parametrize("payload", [
    "input.__class__", "input.__dict__", "classify.__class__.__mro__", "_secret",
    "__import__('os')", "open('x')", "getattr(input, 'x')", "len.__self__", "len",
    "lambda: 1", "(lambda x: x)(1)", "[x for x in input]", "{x for x in input}",
    "{k: v for k, v in input}", "(x for x in input)", "f'{input}'", "(y := 1)",
    "2 ** 10 ** 10", "'a' * 10 ** 9", "input[1:2]", "input[::-1]", "{'a': 1}", "{1, 2}",
    "*input", "input @ input", "input // 2", "input << 2", "~input", "input & 1",
    "len(input, 2)", "len(*input)", "len(x=input)", "b'bytes'", "1j", "...",
    "not " * 100 + "x", "(" * 300 + "x" + ")" * 300, "x" + " + x" * 1000, "a" * 3000,
    "import os", "x = 1", "await x", "yield x", "x if y", "\x00",
])
def test_condition_escapes_are_refused_when_parsed(payload: str) -> None:
    with pytest.raises(ConditionError, match=r"^when: "):
        Condition.parse(payload, where="when")


def test_a_when_with_an_escape_fails_the_spec_check_with_the_file_and_line() -> None:
    with pytest.raises(SpecError) as info:
        System.from_yaml(spec(when="input.__class__"), source="probe.yaml")
    assert "probe.yaml:14:" in str(info.value)
    assert "names starting with '_' are not allowed" in str(info.value)


def test_resource_bombs_in_conditions_stop_at_the_limit_quickly() -> None:
    started = time.monotonic()
    for payload in ("'a' * 1000000000", "[0] * 1000000000", "'ab' * 100000 * 100000",
                    "1000000000 * 'a'", "len('a' * 99999999)"):
        check = Condition.parse(payload, where="when")
        with pytest.raises(ConditionError, match="would build"):
            check({})
    with pytest.raises(ConditionError, match="takes two numbers"):
        Condition.parse("'%999999999d' % 1", where="when")({})
    assert time.monotonic() - started < 30


def test_multiplication_below_the_limit_still_works() -> None:
    assert Condition.parse("len('ab' * 10) == 20", where="when")({})
    assert Condition.parse("len(items * 2)", where="when")({"items": [1, 2]}) == 4
    assert Condition.parse("n % 3 == 1 and n * 2 > 7", where="when")({"n": 4})
    assert len("x" * MAX_ITEMS) == MAX_ITEMS  # the limit itself is allowed
    assert Condition.parse(f"len('x' * {MAX_ITEMS})", where="when")({}) == MAX_ITEMS


def _frames() -> Iterator[int]:
    yield 1


class Trap:
    """A value whose every method call, and every walk into the program, is recorded."""

    touched: list[str] = []  # noqa: RUF012 (shared on purpose: any instance may be reached)

    label = "public class constant"

    def run(self) -> str:
        Trap.touched.append("run")
        return "ran"

    def __call__(self, *args: Any) -> str:
        Trap.touched.append("__call__")
        return "called"

    @property
    def name(self) -> str:
        return "trap"


@pytest.mark.parametrize("payload", [
    "gen.gi_frame", "gen.gi_frame.f_globals", "gen.gi_code", "trap.run", "trap.__call__",
    "trap.__class__", "trap.label", "text.upper", "text.join", "number.real",
    "number.bit_length", "items.append", "items.pop", "ns.helper", "data.missing",
])
def test_attribute_reads_reach_fields_never_methods_or_internals(payload: str) -> None:
    values = {"gen": _frames(), "trap": Trap(), "text": "hi", "number": 3, "items": [1],
              "ns": SimpleNamespace(helper=None).__class__(), "data": {"present": 1}}
    try:
        check = Condition.parse(payload, where="when")
    except ConditionError:
        return
    with pytest.raises((AttributeError, KeyError)):
        check(values)
    assert Trap.touched == []


@dataclass(frozen=True)
class Routed:
    label: str
    probability: float


def test_fields_of_outputs_are_read_as_before() -> None:
    from pydantic import BaseModel

    class Verdict(BaseModel):
        action: str

    values = {"classify": Routed("refund", 0.9), "screen": Verdict(action="allow"),
              "score": SimpleNamespace(value=0.7), "trap": Trap(), "docs": [{"id": "a"}],
              "input": {"question": "hi"}}
    expression = ("screen.action == 'allow' and classify.probability >= 0.55 and "
                  "classify.label in ['refund', 'card'] and score.value > 0.5 and "
                  "trap.name == 'trap' and docs[0]['id'] == 'a' and docs[0].id == 'a' and "
                  "len(input.question) == 2 and -1 < 0 < +1 and (1 if score else 2) == 1")
    assert Condition.parse(expression, where="when")(values) is True
    assert Condition.parse("classify.label or 'none'", where="when")(values) == "refund"
    assert read_field({"a": 1}, "a") == 1
    with pytest.raises(AttributeError):
        read_field(Trap(), "run")


# an expression grammar mixing what conditions allow with what they must refuse
ATOMS = st.sampled_from([
    "x", "y.label", "items[0]", "'a'", "1", "10**9", "1.5", "None", "True", "len(items)",
    "x.__class__", "__import__('os')", "open('f')", "lambda: 1", "[i for i in items]",
    "f'{x}'", "(z := 1)", "items[1:]", "y.run", "y.__dict__", "{'k': 1}", "'a' * 10**8",
    "2**2**2**2", "gen.gi_frame", "x.mro", "~x", "x // 2",
])


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(ATOMS, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " or ", " == ", " < ", " in ", " + ", " * ",
                                          " % ", " - ", " / ", " is ", " not in "]), inner)
        .map("".join),
        inner.map(lambda e: f"not ({e})"), inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"len({e})"), inner.map(lambda e: f"[{e}]"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    ), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions())
def test_fuzzed_conditions_never_escape_and_never_hang(text: str) -> None:
    values = {"x": 3, "y": Trap(), "items": ["a", "b"], "gen": _frames()}
    started = time.monotonic()
    try:
        check = Condition.parse(text, where="when")
    except ConditionError:
        return
    # an ordinary error is fine: the engine reports it naming the step
    with contextlib.suppress(ConditionError, AttributeError, KeyError, TypeError, ValueError,
                             IndexError, ZeroDivisionError, OverflowError):
        check(values)
    assert Trap.touched == []
    assert time.monotonic() - started < 10


def test_no_spec_text_reaches_eval_or_exec_anywhere_in_the_package() -> None:
    """A guard for the whole package: no call of eval/exec/compile/__import__, no unsafe YAML
    loader, no pickle, no shell=True. A new use must be justified here, in this list."""
    allowed: dict[str, set[str]] = {  # file -> names, each with a comment at the call
        "code/modules.py": {"compile"},  # compound check compiles the folder's code, never runs it
    }
    root = Path(compound.__file__).parent
    found = []
    for file in sorted(root.rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in {"eval", "exec", "compile",
                                                              "__import__"}:
                    name = func.id
                elif isinstance(func, ast.Attribute) and func.attr in {
                        "load", "unsafe_load", "full_load", "load_all"} and (
                        isinstance(func.value, ast.Name) and func.value.id in {"yaml", "pickle",
                                                                             "marshal"}):
                    name = f"{func.value.id}.{func.attr}"
                for keyword in node.keywords:
                    if keyword.arg == "shell" and not (
                            isinstance(keyword.value, ast.Constant) and not keyword.value.value):
                        name = "shell=True"
            elif isinstance(node, ast.Import | ast.ImportFrom):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""])
                if any(m.split(".")[0] in {"pickle", "marshal", "shelve", "dill", "cloudpickle"}
                       for m in modules):
                    name = "import " + ", ".join(modules)
            relative = file.relative_to(root).as_posix()
            if name and name not in allowed.get(relative, set()):
                found.append(f"{relative}:{node.lineno}: {name}")
    assert found == []


@pytest.mark.parametrize("module", [conditions, type_names])
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- step inputs: ``inputs: {param: "step.field"}`` reads fields the same way ----------------------


def _make() -> Any:
    return _frames()


def _echo(value: Any) -> str:
    return f"leaked {value!r}"


@pytest.mark.parametrize("ref", ["make.__class__", "make._private", "input.__dict__"])
def test_a_step_input_naming_an_underscore_name_fails_at_build(ref: str) -> None:
    from compound.workflow import Step, WiringError, Workflow

    with pytest.raises(WiringError, match="names starting with '_' are neither"):
        Workflow([Step(_make, name="make"), Step(_echo, inputs={"value": ref})])


@pytest.mark.parametrize("ref", ["make.gi_frame", "make.gi_code", "make.send"])
def test_a_step_input_never_reaches_a_method_or_an_interpreter_internal(ref: str) -> None:
    from compound.workflow import Step, StepFailed, Workflow

    flow = Workflow([Step(_make, name="make"), Step(_echo, inputs={"value": ref})])
    with pytest.raises(StepFailed, match="has no field"):
        flow.run({})
