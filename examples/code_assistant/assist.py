"""The code assistant's steps, each a typed function the workflows in compound.yaml wire up.

An editor's workflow, made explicit: parse the request, look the symbols it names up in the
repository's symbol index (``ast``, never ``import``), put the retrieved code beside them, build
the prompt under a token budget, let the model continue the function, extract the code from
what it wrote, apply it to a scratch copy of the repository, check the syntax, run the tests
in compound's subprocess sandbox, and, when the check or the tests fail, try again with the
error shown to the model as an observation (the ``attempt`` workflow, looped).

Nothing here runs generated code in this process: the scratch copy is a mapping of file texts,
parsed with ``ast`` and run only by :func:`compound.metrics.code.run_sandboxed`, with a time
limit.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compound.metrics.code import run_sandboxed
from compound.orchestration.context import approx_tokens, truncate_to_tokens
from compound.orchestration.retrieval.types import SearchResult
from compound.workflow.adapters import LLMOutput

REPOSITORY = Path(__file__).parent / "repo"  # the sample repository the `solve` workflow edits
PROMPT_BUDGET = 1400  # tokens of the generation prompt (approx_tokens: words and punctuation)
CONTEXT_SNIPPETS = 4  # at most this many pieces of repository code in the prompt
OBSERVATION_CHARS = 300  # of an error shown to the model
TEST_TIMEOUT_S = 5.0  # one test run in the sandbox

_IDENTIFIER = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)\(?\)?`|\b([A-Za-z_][A-Za-z0-9_]*)\(")
_PATH = re.compile(r"[\w./-]+\.py\b")

# Run in the sandbox beside the scratch copy: import each test module and call its test_*
# functions, reporting each failure on stderr with the test's failing line (the tests are
# part of the repository, which the assistant may read); exit status 1 when any failed.
_TEST_RUNNER = '''\
import importlib, os, sys, traceback
root = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [root, os.path.join(root, "tests")]
failed = []
for name in {modules!r}:
    try:
        module = importlib.import_module(name)
    except BaseException as exc:
        failed.append(name)
        print(f"FAILED importing {{name}}: {{type(exc).__name__}}: {{exc}}", file=sys.stderr)
        continue
    for attr in sorted(vars(module)):
        test = getattr(module, attr)
        if attr.startswith("test_") and callable(test):
            try:
                test()
            except BaseException as exc:
                failed.append(attr)
                traceback.print_exc()
                frames = [f for f in traceback.extract_tb(exc.__traceback__)
                          if f.filename == module.__file__]
                where = f" at `{{frames[-1].line}}`" if frames and frames[-1].line else ""
                print(f"FAILED {{name}}.{{attr}}{{where}}: {{type(exc).__name__}}: {{exc}}",
                      file=sys.stderr)
sys.exit(1 if failed else 0)
'''
_FUNCTION_RUNNER = '''\
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from {module} import *

{tests}

check({entry_point})
'''


# -- what flows between the steps -------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A request, parsed: the symbols and files it names."""

    text: str
    names: list[str]
    paths: list[str]


@dataclass(frozen=True)
class Symbol:
    """A top-level function or class of the repository."""

    name: str
    kind: str  # "function" or "class"
    path: str
    line: int
    source: str
    stub: bool  # its body only raises NotImplementedError (or is only a docstring)


@dataclass(frozen=True)
class Lookup:
    """The request's target function and the symbols around it."""

    target: Symbol
    related: list[Symbol]


@dataclass(frozen=True)
class Snippet:
    """Repository code shown to the model."""

    source: str
    text: str
    why: str  # "symbol" (looked up) or "retrieved" (found by the retriever)


@dataclass(frozen=True)
class CodeTask:
    """One function to write, and everything needed to check it.

    ``header`` is what the model continues: the target file up to the end of the function's
    docstring. ``files`` are the repository's files, from which each attempt's scratch copy
    starts; ``tests`` is the script that runs the tests in the sandbox (empty: no tests).
    """

    path: str
    function: str
    header: str
    files: dict[str, str]
    tests: str
    context: list[Snippet] = field(default_factory=list)


@dataclass(frozen=True)
class CodePrompt:
    """The generation prompt, its size and what the budget left out."""

    text: str
    tokens: int
    budget: int
    observation: str | None
    dropped: list[str]


@dataclass(frozen=True)
class Code:
    """The function extracted from the model's answer."""

    source: str  # the whole function, from its `def` line
    mode: str  # "body" (the model continued the header) or "def" (it wrote the function)
    completion: str  # what the model wrote


@dataclass(frozen=True)
class Applied:
    """The scratch copy with the function in place."""

    path: str
    source: str  # the edited file
    files: dict[str, str]  # every file of the scratch copy


@dataclass(frozen=True)
class SyntaxCheck:
    """Whether the edited file parses, and the function has a body."""

    ok: bool
    error: str | None


@dataclass(frozen=True)
class TestRun:
    """The tests' outcome in the sandbox."""

    passed: bool
    error: str | None
    timed_out: bool


@dataclass(frozen=True)
class Attempt:
    """One round's result; the loop stops at the first that passes.

    ``generations`` counts the model calls so far (this round's included) and ``errors`` the
    observations that led to each retry.
    """

    function: str
    code: str
    source: str
    syntax_ok: bool
    tested: bool
    passed: bool
    error: str | None
    generations: int
    errors: list[str]
    prompt_tokens: int


# -- the repository's symbol index -------------------------------------------------------------


def read_repository(root: Path) -> dict[str, str]:
    """The Python files under ``root``, by path relative to it."""
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}


def symbol_index(files: dict[str, str]) -> dict[str, list[Symbol]]:
    """Top-level functions and classes of ``files`` by name (read with ``ast``)."""
    index: dict[str, list[Symbol]] = {}
    for path, text in files.items():
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                source = ast.get_source_segment(text, node) or ""
                index.setdefault(node.name, []).append(
                    Symbol(node.name, kind, path, node.lineno, source, _is_stub(node)))
    return index


def _is_stub(node: ast.AST) -> bool:
    body = list(getattr(node, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return True
    return len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in (
        ast.unparse(body[0].exc) if body[0].exc is not None else "")


def _function_node(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def function_header(text: str, name: str) -> str:
    """``text`` up to the end of function ``name``'s docstring (or its `def` line): what a
    model continues to write the body."""
    node = _function_node(ast.parse(text), name)
    if node is None:
        raise ValueError(f"no top-level function '{name}'")
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        end = first.end_lineno or first.lineno
    else:
        end = first.lineno - 1
    return "".join(text.splitlines(keepends=True)[:end]).rstrip("\n") + "\n"


# -- the steps ---------------------------------------------------------------------------------


def parse_request(request: str) -> Request:
    """The symbols (``name`` in backticks, or ``name(``) and files a request names."""
    names: list[str] = []
    for match in _IDENTIFIER.finditer(request):
        name = (match.group(1) or match.group(2)).split(".")[-1]
        if name not in names:
            names.append(name)
    paths = list(dict.fromkeys(_PATH.findall(request)))
    return Request(request, names, paths)


def lookup_symbols(request: Request) -> Lookup:
    """The function to write and the repository symbols it needs, from the symbol index.

    The target is the first named function (a stub first), else the first stub in a named
    file; related symbols are the other names the request gives and those the target's
    module imports from the repository.
    """
    files = read_repository(REPOSITORY)
    index = symbol_index(files)
    functions = [s for n in request.names for s in index.get(n, []) if s.kind == "function"]
    functions.sort(key=lambda s: not s.stub)
    in_paths = [s for symbols in index.values() for s in symbols
                if s.stub and s.kind == "function" and any(s.path.endswith(p.lstrip("./"))
                                                           for p in request.paths)]
    candidates = functions or in_paths
    if not candidates:
        known = sorted(n for n, symbols in index.items() if symbols[0].kind == "function")
        raise ValueError(f"the request names no function of the repository ({request.text!r}); "
                         f"name one in backticks, e.g. `{known[0]}`; functions: "
                         f"{', '.join(known)}")
    target = candidates[0]
    related = [s for n in request.names if n != target.name for s in index.get(n, [])]
    tree = ast.parse(files[target.path])
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                related.extend(s for s in index.get(alias.name, []) if s.path != target.path)
    unique = {(s.path, s.name): s for s in related if not s.path.startswith("tests/")}
    return Lookup(target, list(unique.values()))


def repository_task(lookup: Lookup, found: SearchResult) -> CodeTask:
    """The task for the target: its header, the repository, the tests that name it, and the
    code context (looked-up symbols first, then retrieved chunks from other files)."""
    files = read_repository(REPOSITORY)
    target = lookup.target
    context = [Snippet(f"{s.path}:{s.line}", s.source, "symbol") for s in lookup.related]
    shown = {s.path for s in lookup.related} | {target.path}
    for hit in found.hits:
        source = hit.source or hit.doc_id
        if source not in shown:
            context.append(Snippet(source, hit.text, "retrieved"))
            shown.add(source)
    tests = sorted(Path(p).stem for p, text in files.items()
                   if p.startswith("tests/") and target.name in text)
    return CodeTask(
        path=target.path, function=target.name,
        header=function_header(files[target.path], target.name), files=files,
        tests=_TEST_RUNNER.format(modules=tests) if tests else "", context=context,
    )


def function_task(prompt: str, tests: str, entry_point: str) -> CodeTask:
    """A task from a function to complete (HumanEval's shape): the prompt is the file, its
    ``entry_point`` the function, ``tests`` define ``check(candidate)``."""
    header = prompt.rstrip("\n") + "\n"
    function_header(header, entry_point)  # fails early when the prompt has no such function
    runner = _FUNCTION_RUNNER.format(module="solution", tests=tests, entry_point=entry_point)
    return CodeTask(path="solution.py", function=entry_point, header=header,
                    files={"solution.py": header}, tests=runner if tests.strip() else "")


def build_prompt(task: CodeTask, last: Attempt | None = None) -> CodePrompt:
    """What the model continues, under :data:`PROMPT_BUDGET` tokens.

    The header is always there, last. After a failed round the errors so far come just
    before it, as observations, and the last round's function when it parsed (its tests
    failed: it is worth correcting; one that did not parse is rewritten, and showing it
    makes a small model copy it), cut to fit when it must. Repository snippets take what is
    left, best first; those that do not fit are dropped and recorded.
    """
    budget = PROMPT_BUDGET
    dropped: list[str] = []
    target = f"# --- {task.path}\n{task.header}" if task.context else task.header
    used = approx_tokens(target)
    observation = None
    failed = ""
    if last is not None and not last.passed:
        observation = (last.error or "the tests failed")[:OBSERVATION_CHARS]
        errors = [*last.errors, observation]
        note = "".join(f"# Attempt {n} failed: {_one_line(e)[:OBSERVATION_CHARS]}\n"
                       for n, e in enumerate(errors, start=1))
        note += (f"# Attempt {len(errors) + 1}: `{task.function}` written again, as Python "
                 "statements:\n\n")
        if last.syntax_ok:
            opening = f"# Attempt {len(errors)}:\n"
            room = max(budget - used - approx_tokens(opening + note), 0)
            code = last.code
            if approx_tokens(code) > room:
                code = truncate_to_tokens(code, room, approx_tokens)
                dropped.append(f"earlier attempt: cut to {room} tokens")
            note = f"{opening}{code.rstrip()}\n\n{note}"
        failed = note
        used += approx_tokens(failed)
    snippets: list[str] = []
    for snippet in task.context:
        text = f"# --- {snippet.source} ({snippet.why})\n{snippet.text.rstrip()}\n\n"
        cost = approx_tokens(text)
        if len(snippets) >= CONTEXT_SNIPPETS or used + cost > budget:
            dropped.append(f"{snippet.source}: " + (
                "over the snippet limit" if len(snippets) >= CONTEXT_SNIPPETS
                else f"{cost} tokens over the budget"))
            continue
        snippets.append(text)
        used += cost
    text = "".join(snippets) + failed + target
    return CodePrompt(text, approx_tokens(text), budget, observation, dropped)


def extract_code(task: CodeTask, draft: LLMOutput | None = None,
                 redraft: LLMOutput | None = None) -> Code:
    """The function the model wrote (in the first round's ``draft`` or a retry's
    ``redraft``): its own ``def`` of the target when it wrote one (inside a fenced block or
    not), else the header's signature and docstring with the continuation as the body, up to
    the first line back at the left margin."""
    answer = redraft if redraft is not None else draft
    completion = answer.text if answer is not None else ""
    text = completion
    fence = re.search(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", text, re.DOTALL)
    if fence:
        text = fence.group(1)
    lines = text.splitlines()
    own = re.compile(rf"\s*(async\s+)?def\s+{re.escape(task.function)}\s*\(")
    start = next((i for i, line in enumerate(lines) if own.match(line)), None)
    if start is not None:
        indent = _indent(lines[start])
        block = [lines[start]]
        for line in lines[start + 1:]:
            if line.strip() and _indent(line) <= indent:
                break
            block.append(line)
        return Code(textwrap.dedent("\n".join(block)).rstrip() + "\n", "def", completion)
    signature = _signature_block(task)
    body_indent = _body_indent(signature)
    body: list[str] = []
    for number, line in enumerate(lines):
        if number == 0 and line.strip() and not _indent(line):
            line = body_indent + line  # the answer's own leading spaces were trimmed
        elif line.strip() and not _indent(line):
            break  # back at the left margin: the function has ended
        body.append(line)
    source = signature.rstrip("\n") + "\n" + "\n".join(body).rstrip()
    return Code(source.rstrip() + "\n", "body", completion)


def apply_code(task: CodeTask, code: Code) -> Applied:
    """The scratch copy: the repository's files with the target function replaced (the
    original file is left as it is when it does not parse)."""
    original = task.files[task.path]
    node = _function_node(ast.parse(original), task.function)
    lines = original.splitlines(keepends=True)
    if node is None:
        source = original.rstrip("\n") + "\n\n\n" + code.source
    else:
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        end = node.end_lineno or node.lineno
        source = "".join(lines[:first - 1]) + code.source + "".join(lines[end:])
    return Applied(task.path, source, {**task.files, task.path: source})


def check_syntax(task: CodeTask, applied: Applied) -> SyntaxCheck:
    """Whether the edited file parses (``ast``; nothing runs) and the function has a body
    beyond its docstring (an empty answer is not a valid one)."""
    try:
        tree = ast.parse(applied.source, filename=applied.path)
    except SyntaxError as exc:
        return SyntaxCheck(False, f"SyntaxError: {exc.msg} (line {exc.lineno})")
    node = _function_node(tree, task.function)
    if node is None:
        return SyntaxCheck(False, f"the code does not define `{task.function}`")
    body = node.body[1:] if (isinstance(node.body[0], ast.Expr)
                             and isinstance(node.body[0].value, ast.Constant)) else node.body
    if not body:
        return SyntaxCheck(False, f"`{task.function}` has no body")
    return SyntaxCheck(True, None)


def run_tests(task: CodeTask, applied: Applied) -> TestRun:
    """The tests, run on the scratch copy in the subprocess sandbox with a time limit."""
    if not task.tests:
        return TestRun(True, None, False)
    result = run_sandboxed(task.tests, files=applied.files, timeout_s=TEST_TIMEOUT_S)
    if result is None:
        return TestRun(False, f"the tests timed out after {TEST_TIMEOUT_S:g}s", True)
    if result.returncode == 0:
        return TestRun(True, None, False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    failures = [line for line in lines if line.startswith("FAILED ")]
    error = (failures[0] if failures else lines[-1] if lines
             else f"exit status {result.returncode}")
    return TestRun(False, error[:OBSERVATION_CHARS], False)


def conclude(task: CodeTask, prompt: CodePrompt, code: Code, applied: Applied,
             check: SyntaxCheck, test: TestRun | None = None,
             last: Attempt | None = None) -> Attempt:
    """This round's result, counting the rounds so far (``last``: the round before)."""
    error = check.error if not check.ok else (test.error if test is not None else None)
    passed = check.ok and test is not None and test.passed
    errors = [*last.errors, last.error or ""] if last is not None else []
    return Attempt(
        function=task.function, code=code.source, source=applied.source,
        syntax_ok=check.ok, tested=test is not None and bool(task.tests), passed=passed,
        error=error, generations=(last.generations if last else 0) + 1,
        errors=errors, prompt_tokens=prompt.tokens,
    )


# -- metrics of the eval in compound.yaml -------------------------------------------------------


def syntax_valid(output: Any) -> bool:
    """The final code parses and the function has a body."""
    return bool(_attempt_field(output, "syntax_ok"))


def tests_pass(output: Any) -> bool:
    """The final code passes the tests."""
    return bool(_attempt_field(output, "passed"))


def generations(output: Any) -> float:
    """How many times the model was called."""
    return float(_attempt_field(output, "generations"))


def _attempt_field(output: Any, name: str) -> Any:
    """A field of the workflow's Attempt, as an eval hands it over (the target output's
    ``data``: the Attempt itself, or its JSON form from a cached row)."""
    data = getattr(output, "data", output)
    return data[name] if isinstance(data, Mapping) else getattr(data, name)


# -- small readers -----------------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _signature_block(task: CodeTask) -> str:
    """The header from the target's ``def`` (or first decorator) line on."""
    node = _function_node(ast.parse(task.header), task.function)
    assert node is not None  # function_header found it when the task was built
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return "".join(task.header.splitlines(keepends=True)[first - 1:])


def _body_indent(signature: str) -> str:
    lines = signature.splitlines()
    for line in lines[1:]:
        if line.strip():
            return line[:_indent(line)]
    return lines[0][:_indent(lines[0])] + "    "
