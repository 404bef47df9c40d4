"""Tool calling on the Berkeley Function Calling Leaderboard (BFCL): compound against raw
llama-cpp-python, same model, same threads, same run.

For each BFCL item (``simple_python``, ``multiple`` and ``parallel`` by default) the question
and its function documents go through two paths, alternating item by item so that the load
of the machine falls on both alike:

* ``compound``: compound's own tool-calling path. Each BFCL function becomes a
  :class:`~compound.orchestration.tools.Tool` (:class:`BfclTool`) whose
  :class:`~compound.intelligence.llm.types.ToolDefinition` carries the function's JSON schema
  (BFCL's types mapped to JSON Schema's by :func:`json_schema`, as BFCL itself maps them for
  OpenAI-style models). The embedded model's ``complete(..., tools=...)`` decodes under the
  grammar built from :func:`~compound.intelligence.llm.prompting.action_schema`; the action is
  parsed, the call's tool looked up and its arguments validated against the schema
  (``Tool.validate``); a reply that is not a valid call (no JSON action, an unknown tool,
  arguments the schema refuses) gets one repair turn with the agent's own
  :data:`~compound.workflow.agent.REPAIR_PROMPT`, as :class:`~compound.workflow.agent.Agent`
  does. On a ``parallel`` item the action may hold several calls (``parallel_tool_calls``:
  ``{"calls": [...]}``), and the item is asked again after each action (its calls and their
  ``Observation`` added to the conversation, as the agent loop does) until the model answers,
  repeats calls it made (dropped) or ``--max-calls`` actions are reached.
  Every item here expects a call, so the first action is asked with ``tool_choice=
  "required"`` (the grammar has no answer branch; ``--tool-choice auto`` offers it, and the
  270M base model then mostly answers in text); later actions may answer.
* ``llama_cpp_raw``: ``Llama.create_chat_completion(tools=..., tool_choice="auto")`` on a
  second ``Llama`` of the same GGUF file with ``chat_format="chatml-function-calling"``,
  llama-cpp-python's one built-in tool-calling format that is not tied to a model family
  (``functionary`` needs Functionary's tokenizer; the GGUF's own Gemma template knows no
  tools). It constrains the function name and then the arguments with grammars of its own
  and may return several calls, so it has no repair turn. Its handler has no "required"
  choice (only ``auto`` or one named function), so it runs with ``auto``.

Both are scored by BFCL's own AST checker (``bfcl_eval.eval_checker.ast_eval.ast_checker``)
against BFCL's possible answers; a reply with no call counts as wrong (BFCL's decoder fails
on it). Names with a dot (``math.factorial``) are offered as ``math_factorial`` on both
paths, as BFCL does for models whose tool names allow no dot, and the checker is told so.

Prints JSON: per category and path, ``n`` (items the figures cover), ``accuracy``,
``invalid_call_rate`` (``before_repair`` and ``after_repair`` for compound: share of items
where a reply was not a valid call; a call that failed outright, a timeout say, counts too and
under ``errors``), ``no_call_rate`` (answered in text instead), and ``seconds_per_item``; with
the model, threads, load before and after, and versions.

Getting BFCL (its data and checker ship in the ``bfcl-eval`` package, whose dependencies,
torch among them, are not wanted): install it without dependencies into the dataset folder
compound's resolver searches, e.g. the user cache::

    .venv/bin/pip install --no-deps --target ~/.cache/compound/datasets/bfcl \\
        -r bench/requirements-bfcl.txt

(or under ``$COMPOUND_DATA/bfcl`` / ``../shared/datasets/bfcl``). The bench puts that folder
on ``sys.path`` and imports only the AST checker; the checker's one heavy import,
``bfcl_eval.constants.model_config`` (every provider's SDK, for a table of model settings of
which the checker reads one flag), is replaced by a stub that answers that flag.

Usage::

    .venv/bin/python bench/tool_calling.py [--limit 6] [--categories simple_python,multiple]
        [--model PATH.gguf] [--threads N] [--max-calls 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from compound.intelligence.llm import LLM, Message, ToolCall
from compound.intelligence.llm.errors import InvalidResponse, LLMError
from compound.intelligence.llm.types import ToolChoice
from compound.orchestration.context.template import Template
from compound.orchestration.tools import SchemaTool, ToolArgumentsError, ToolResult
from compound.workflow.agent import REPAIR_PROMPT

CATEGORIES = ("simple_python", "multiple", "parallel")
BFCL_VERSION = "2026.3.23"
#: BFCL's types in JSON Schema's words: the mapping BFCL's own handlers apply for
#: OpenAI-style models (``GORILLA_TO_OPENAPI``), Python's part of it.
TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string",
         "list": "array", "bool": "boolean", "object": "object", "number": "number",
         "integer": "integer", "string": "string", "boolean": "boolean", "array": "array"}
#: schema keywords kept from BFCL's documents (others, such as BFCL's ``optional``, dropped)
KEPT = ("description", "enum", "default", "minimum", "maximum", "minItems", "maxItems")
SYSTEM = ("You are an expert at calling functions. Given the user's request and the "
          "functions available, call the function or functions that fulfil it, with the "
          "argument values the request gives.")
MAX_TOKENS = 128
MODEL_NAME = "compound"  # the model name the AST checker is given (see _checker)


def json_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    """A BFCL parameter document as JSON Schema: types mapped (``dict`` -> ``object``,
    ``float`` -> ``number``, ``tuple`` -> ``array``, ``any`` -> ``string``, missing ->
    ``string``), ``required`` kept to the properties that exist.

    Example:
        >>> json_schema({"type": "dict", "properties": {"x": {"type": "float"}},
        ...              "required": ["x", "gone"]})
        {'type': 'object', 'properties': {'x': {'type': 'number'}}, 'required': ['x']}
    """
    kind = TYPES.get(str(node.get("type", "string")), "string")
    out: dict[str, Any] = {"type": kind}
    out.update((k, node[k]) for k in KEPT if k in node)
    if kind == "object" and isinstance(node.get("properties"), Mapping):
        props = {name: json_schema(sub) for name, sub in node["properties"].items()}
        out["properties"] = props
        required = [r for r in node.get("required", ()) if r in props]
        if required:
            out["required"] = required
    if kind == "array" and isinstance(node.get("items"), Mapping):
        out["items"] = json_schema(node["items"])
    if "default" in out and "enum" in out and out["default"] not in out["enum"]:
        del out["default"]
    return out


def tool_name(name: str) -> str:
    """The name a BFCL function is offered by: dots become underscores."""
    return name.replace(".", "_")


class BfclTool(SchemaTool):
    """A BFCL function document as a compound tool: its schema is the document's (see
    :func:`json_schema`); a call is checked against it and recorded, never executed (BFCL's
    AST categories judge the call, not its result)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        super().__init__(self._record, name=tool_name(str(doc["name"])),
                         description=str(doc.get("description", "")), timeout_s=None)
        self.doc = doc

    @staticmethod
    def _record(**arguments: Any) -> str:
        return "ok"

    @cached_property
    def parameters(self) -> dict[str, Any]:
        schema = json_schema(self.doc.get("parameters") or {"type": "dict"})
        schema.setdefault("properties", {})
        return schema

    def call(self, arguments: Mapping[str, Any], *, ctx: Any = None, call_id: str = ""
             ) -> ToolResult:
        """Check the arguments and record the call: ``ok``, or ``invalid_arguments``."""
        try:
            self.validate(arguments)
        except ToolArgumentsError as exc:
            return ToolResult(self.name, "invalid_arguments", call_id=call_id,
                              error=f"invalid arguments for tool '{self.name}': {exc}")
        return self._finish("ok", time.perf_counter(), call_id)


@dataclass
class Item:
    """One BFCL question: its id, messages, function documents and possible answers."""

    id: str
    messages: list[dict[str, str]]
    functions: list[dict[str, Any]]
    ground_truth: list[dict[str, Any]]

    @cached_property
    def tools(self) -> dict[str, BfclTool]:
        tools = [BfclTool(doc) for doc in self.functions]
        return {t.name: t for t in tools}


@dataclass
class Outcome:
    """What one path made of one item."""

    calls: list[ToolCall] = field(default_factory=list)
    invalid_before: bool = False  # some reply was not a valid call, before its repair
    invalid_after: bool = False  # ... and still not after it
    repaired: int = 0  # repair turns taken
    no_call: bool = False  # answered in text, no call at all
    error: str = ""
    seconds: float = 0.0
    correct: bool = False
    checker_error: str = ""


def problem_with(call: ToolCall, tools: Mapping[str, BfclTool]) -> str | None:
    """Why ``call`` is not a valid call (an unknown tool, arguments its schema refuses), or
    None."""
    tool = tools.get(call.name)
    if tool is None:
        return f"there is no tool named '{call.name}'; available: {', '.join(tools)}"
    try:
        tool.validate(call.arguments)
    except ToolArgumentsError as exc:
        return f"invalid arguments for tool '{call.name}': {exc}"
    return None


def _action(
    llm: LLM, messages: list[Message], tools: Mapping[str, BfclTool], outcome: Outcome,
    max_tokens: int, tool_choice: ToolChoice = "auto", several: bool = False,
) -> tuple[ToolCall, ...] | None:
    """One model action with compound's validation and one repair turn; its calls (one, or
    with ``several`` one or more), or None for an answer in text (or a reply still invalid
    after its repair)."""
    definitions = [t.definition for t in tools.values()]
    asked = messages
    for attempt in range(2):
        try:
            completion = llm.complete(asked, tools=definitions, max_tokens=max_tokens,
                                      tool_choice=tool_choice, parallel_tool_calls=several)
        except InvalidResponse as exc:
            problem, raw = str(exc).split(": ", 1)[-1], exc.raw
        else:
            if not completion.tool_calls:
                outcome.no_call = outcome.no_call or not outcome.calls
                return None
            calls = completion.tool_calls if several else completion.tool_calls[:1]
            problem = next(filter(None, (problem_with(c, tools) for c in calls)), None)
            if problem is None:
                if attempt:
                    outcome.repaired += 1
                return calls
            raw = json.dumps({"calls": [{"tool": c.name, "arguments": dict(c.arguments)}
                                        for c in calls]})
        if attempt:
            outcome.invalid_after = True
            return None
        outcome.invalid_before = True
        repair = Template.parse(REPAIR_PROMPT).render(
            {"error": problem, "tools": ", ".join(tools)})
        asked = [*messages, Message("assistant", raw or "(empty)"), Message("user", repair)]
    return None  # pragma: no cover - the loop returns


def run_compound(llm: LLM, item: Item, *, max_calls: int, max_tokens: int = MAX_TOKENS,
                 tool_choice: ToolChoice = "required") -> Outcome:
    """compound's path on one item: up to ``max_calls`` actions (1 unless the category is
    parallel), each validated with one repair turn. A ``required`` tool choice holds for the
    first action (every BFCL item here expects a call); later ones may answer instead, which
    ends a parallel item, as the agent loop does. On a parallel item an action may hold
    several calls (``parallel_tool_calls``)."""
    outcome = Outcome()
    messages = [Message("system", SYSTEM)] + [
        Message(m["role"], m["content"]) for m in item.messages  # type: ignore[arg-type]
    ]
    start = time.perf_counter()
    try:
        for turn in range(max_calls):
            calls = _action(llm, messages, item.tools, outcome, max_tokens,
                            tool_choice if not outcome.calls else "auto", several=max_calls > 1)
            if calls is None:
                break
            new = [c for c in calls if not any(_same(c, old) for old in outcome.calls)]
            if not new:
                break  # the same calls again: the model has nothing more to call
            outcome.calls.extend(new)
            if turn + 1 < max_calls:
                made = tuple(ToolCall(c.name, c.arguments, f"call_{turn}_{i}")
                             for i, c in enumerate(new))
                messages.append(Message("assistant", "", tool_calls=made))
                for call in made:
                    result = item.tools[call.name].call(call.arguments, call_id=call.id)
                    messages.append(Message("tool", result.observation(), tool_call_id=call.id,
                                            name=call.name))
    except LLMError as exc:  # a timeout or context overflow: no call from this item
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.invalid_before = outcome.invalid_after = True
    outcome.seconds = time.perf_counter() - start
    return outcome


def _same(a: ToolCall, b: ToolCall) -> bool:
    return a.name == b.name and json.dumps(dict(a.arguments), sort_keys=True) == json.dumps(
        dict(b.arguments), sort_keys=True)


def openai_tools(item: Item) -> list[dict[str, Any]]:
    """The item's functions as OpenAI-style tools (what ``create_chat_completion`` takes)."""
    return [{"type": "function", "function": {
        "name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in item.tools.values()]


def run_raw(chat: Callable[..., Any], item: Item, *, max_tokens: int = MAX_TOKENS) -> Outcome:
    """llama-cpp-python's own tool calling on one item; ``chat`` is
    ``Llama.create_chat_completion``."""
    outcome = Outcome()
    messages = [{"role": "system", "content": SYSTEM}, *item.messages]
    start = time.perf_counter()
    try:
        response = chat(messages=messages, tools=openai_tools(item), tool_choice="auto",
                        temperature=0.0, max_tokens=max_tokens, seed=0)
        message = response["choices"][0]["message"]
        for raw in message.get("tool_calls") or ():
            name = raw["function"]["name"]
            try:
                arguments = json.loads(raw["function"]["arguments"])
            except json.JSONDecodeError:
                outcome.invalid_before = True
                continue
            call = ToolCall(name, arguments if isinstance(arguments, dict) else {})
            if not isinstance(arguments, dict) or problem_with(call, item.tools) is not None:
                outcome.invalid_before = True
            outcome.calls.append(call)
        outcome.no_call = not message.get("tool_calls")
    except Exception as exc:  # the handler's own failures (a grammar, a parse) count too
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.invalid_before = True
    outcome.invalid_after = outcome.invalid_before  # no repair turn on this path
    outcome.seconds = time.perf_counter() - start
    return outcome


Checker = Callable[..., Mapping[str, Any]]


def score(checker: Checker, item: Item, category: str, outcome: Outcome) -> Outcome:
    """Set ``outcome.correct`` from BFCL's AST checker (no call at all is wrong, as BFCL's
    decoder fails on text)."""
    if not outcome.calls:
        outcome.correct, outcome.checker_error = False, "no function call"
        return outcome
    output = [{c.name: dict(c.arguments)} for c in outcome.calls]
    try:
        verdict = checker(item.functions, output, item.ground_truth, category)
    except Exception as exc:  # the checker trips over some outputs; BFCL counts those wrong
        outcome.correct, outcome.checker_error = False, f"{type(exc).__name__}: {exc}"
        return outcome
    outcome.correct = bool(verdict.get("valid"))
    if not outcome.correct:
        outcome.checker_error = str(verdict.get("error_type", verdict.get("error", "")))
    return outcome


def summarise(outcomes: Sequence[Outcome], *, repair: bool) -> dict[str, Any]:
    """The figures of one path on one category."""
    n = len(outcomes)
    if not n:
        return {"n": 0}
    rate = lambda hits: round(sum(hits) / n, 4)  # noqa: E731
    figures: dict[str, Any] = {
        "n": n,
        "accuracy": rate(o.correct for o in outcomes),
        "invalid_call_rate": (
            {"before_repair": rate(o.invalid_before for o in outcomes),
             "after_repair": rate(o.invalid_after for o in outcomes)}
            if repair else rate(o.invalid_before for o in outcomes)),
        "no_call_rate": rate(o.no_call for o in outcomes),
        "seconds_per_item": round(sum(o.seconds for o in outcomes) / n, 3),
        "errors": sum(bool(o.error) for o in outcomes),
    }
    if repair:
        figures["repairs_that_gave_a_valid_call"] = sum(o.repaired for o in outcomes)
    return figures


# -- BFCL's files and checker -------------------------------------------------------------------


def bfcl_root() -> Path:
    """The folder holding the ``bfcl_eval`` package, found by compound's dataset resolver."""
    from compound.public_data import dataset_path

    return dataset_path("bfcl/bfcl_eval").parent


def load_items(root: Path, category: str, limit: int | None) -> list[Item]:
    """A category's items, ``limit`` of them spread evenly over the file (all when None)."""
    data = root / "bfcl_eval" / "data"
    questions = [json.loads(line) for line in
                 (data / f"BFCL_v4_{category}.json").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    answers = {a["id"]: a["ground_truth"] for a in (
        json.loads(line) for line in (data / "possible_answer" / f"BFCL_v4_{category}.json")
        .read_text(encoding="utf-8").splitlines() if line.strip())}
    if limit is not None and limit < len(questions):
        step = len(questions) / limit
        questions = [questions[int(i * step)] for i in range(limit)]
    return [Item(q["id"], list(q["question"][0]), q["function"], answers[q["id"]])
            for q in questions]


def load_checker(root: Path) -> Checker:
    """BFCL's ``ast_checker``, imported without its model table (see the module docstring)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

    class _Flags:
        underscore_to_dot = True  # tool names offered with '_' for '.', as BFCL does

    stub = types.ModuleType("bfcl_eval.constants.model_config")
    stub.MODEL_CONFIG_MAPPING = {MODEL_NAME: _Flags()}  # type: ignore[attr-defined]
    sys.modules.setdefault("bfcl_eval.constants.model_config", stub)
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    def check(functions: Any, output: Any, answer: Any, category: str) -> Mapping[str, Any]:
        return ast_checker(functions, output, answer, Language.PYTHON, category,  # type: ignore[no-any-return]
                           MODEL_NAME)

    return check


# -- the run ------------------------------------------------------------------------------------


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_bench(
    items: Mapping[str, Sequence[Item]], checker: Checker, *, compound_llm: LLM | None,
    raw_chat: Callable[..., Any] | None, max_calls: int = 4,
    record: Callable[[dict[str, Any]], None] | None = None, tool_choice: ToolChoice = "required",
) -> dict[str, Any]:
    """Both paths over every item, alternating; figures per category and path.
    ``record`` receives each item's outcome on each path (see :func:`item_record`)."""
    results: dict[str, Any] = {}
    for category, rows in items.items():
        ours: list[Outcome] = []
        raw: list[Outcome] = []
        calls = max_calls if "parallel" in category else 1
        for index, item in enumerate(rows):
            if compound_llm is not None:
                ours.append(score(checker, item, category,
                                  run_compound(compound_llm, item, max_calls=calls,
                                               tool_choice=tool_choice)))
            if raw_chat is not None:
                raw.append(score(checker, item, category, run_raw(raw_chat, item)))
            if record is not None:
                for path, done in (("compound", ours), ("llama_cpp_raw", raw)):
                    if done:
                        record(item_record(item, category, path, done[-1]))
            _progress(f"{category} {index + 1}/{len(rows)} {item.id}: compound "
                      f"{ours[-1].correct if ours else '-'} raw "
                      f"{raw[-1].correct if raw else '-'}")
        results[category] = {}
        if compound_llm is not None:
            results[category]["compound"] = summarise(ours, repair=True)
        if raw_chat is not None:
            results[category]["llama_cpp_raw"] = summarise(raw, repair=False)
    return results


def item_record(item: Item, category: str, path: str, outcome: Outcome) -> dict[str, Any]:
    """One item's outcome on one path as plain JSON data (``--items-out``)."""
    return {"id": item.id, "category": category, "path": path, "correct": outcome.correct,
            "calls": [{c.name: dict(c.arguments)} for c in outcome.calls],
            "invalid_before": outcome.invalid_before, "invalid_after": outcome.invalid_after,
            "no_call": outcome.no_call, "error": outcome.error,
            "checker_error": outcome.checker_error, "seconds": round(outcome.seconds, 3)}


def _overall(results: Mapping[str, Any]) -> dict[str, Any]:
    overall: dict[str, Any] = {}
    for path in ("compound", "llama_cpp_raw"):
        rows = [r[path] for r in results.values() if path in r and r[path]["n"]]
        n = sum(r["n"] for r in rows)
        if n:
            overall[path] = {
                "n": n,
                "accuracy": round(sum(r["accuracy"] * r["n"] for r in rows) / n, 4),
                "seconds_per_item": round(sum(r["seconds_per_item"] * r["n"] for r in rows)
                                          / n, 3),
            }
    return overall


def _model_path(name: str | None) -> Path:
    if not name:
        from compound.intelligence.llm.embedded import default_model_path

        return default_model_path()
    from compound.intelligence.llm.catalogue import CATALOGUE, model_file

    if name in CATALOGUE:
        return model_file(name)
    path = Path(name).expanduser()
    if not path.exists():
        raise SystemExit(f"--model {name}: no such GGUF file, nor a model of the catalogue "
                         f"({', '.join(CATALOGUE)})")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="an embedded model's name (docs/models.md) or a GGUF file "
                             "(default: the embedded default, Gemma 3 270M)")
    parser.add_argument("--categories", default=",".join(CATEGORIES),
                        help="comma-separated BFCL categories (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=6,
                        help="items per category, spread over the file (0: all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads for both paths (default: compound's thread "
                             "policy's choice at start: the cores not busy elsewhere)")
    parser.add_argument("--max-calls", type=int, default=4,
                        help="most calls compound's path makes on a parallel item")
    parser.add_argument("--tool-choice", choices=("required", "auto"), default="required",
                        help="compound's tool choice on an item's first action (default "
                             "%(default)s: every item expects a call; 'auto' lets the model "
                             "answer in text, as the raw baseline's handler does)")
    parser.add_argument("--items-out", type=Path, default=None,
                        help="write each item's outcome on each path here, one JSON per line")
    parser.add_argument("--only", choices=("compound", "llama_cpp_raw"), default=None,
                        help="run one path only")
    args = parser.parse_args()

    import llama_cpp

    from compound.intelligence.llm.embedded import EmbeddedLLM
    from compound.intelligence.llm.threads import ThreadPolicy

    root = bfcl_root()
    checker = load_checker(root)
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    items = {c: load_items(root, c, args.limit or None) for c in categories}
    path = _model_path(args.model)
    load_before = os.getloadavg()
    threads = args.threads or ThreadPolicy().choose()
    llm = EmbeddedLLM(model=path.stem, model_path=path, n_ctx=4096, n_threads=threads,
                      timeout_s=600)
    llm.load()
    raw = llama_cpp.Llama(model_path=str(path), n_ctx=4096, n_threads=threads,
                          n_threads_batch=threads, n_batch=512, seed=0, verbose=False,
                          chat_format="chatml-function-calling")
    _progress(f"model {path.name}, {threads} threads, "
              f"{sum(len(v) for v in items.values())} items")
    start = time.perf_counter()
    log = args.items_out.open("w", encoding="utf-8") if args.items_out else None

    def record(row: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps(row) + "\n")
            log.flush()

    results = run_bench(
        items, checker,
        compound_llm=None if args.only == "llama_cpp_raw" else llm,
        raw_chat=None if args.only == "compound" else raw.create_chat_completion,
        max_calls=args.max_calls, record=record, tool_choice=args.tool_choice)
    if log is not None:
        log.close()
    from importlib.metadata import version

    print(json.dumps({
        "benchmark": "tool_calling",
        "dataset": f"BFCL v4 (bfcl-eval {BFCL_VERSION}), scored by its AST checker",
        "model": path.name,
        "threads": threads,
        "limit_per_category": args.limit or None,
        "max_calls_parallel": args.max_calls,
        "max_tokens": MAX_TOKENS,
        "compound_tool_choice": args.tool_choice,
        "baseline": "llama-cpp-python create_chat_completion(tools, tool_choice='auto'), "
                    "chat_format='chatml-function-calling', temperature 0",
        "categories": results,
        "overall": _overall(results),
        "wall_s": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "versions": {"llama_cpp_python": llama_cpp.__version__,
                     "compound": version("compound"), "bfcl_eval": BFCL_VERSION,
                     "python": platform.python_version()},
    }, indent=2))


if __name__ == "__main__":
    main()
