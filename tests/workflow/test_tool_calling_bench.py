"""bench/tool_calling.py's BFCL adapter on BFCL-shaped items, with the scripted model: schema
conversion, compound's validation and repair turn, the raw baseline's parsing, the scoring
glue (BFCL's own AST checker when it is installed, a recording fake otherwise)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from compound.intelligence.llm import ScriptedLLM, ToolCall
from compound.intelligence.llm.errors import InvalidResponse
from compound.orchestration.tools import ToolArgumentsError
from compound.public_data import DatasetMissing


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "tool_calling.py"
    spec = importlib.util.spec_from_file_location("tool_calling_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _bench()

SIMPLE = {  # shaped like BFCL_v4_simple_python.json and its possible answer
    "id": "simple_python_1",
    "question": [[{"role": "user", "content": "Calculate the factorial of 5."}]],
    "function": [{"name": "math.factorial", "description": "Factorial of a number.",
                  "parameters": {"type": "dict", "properties": {
                      "number": {"type": "integer", "description": "The number."}},
                      "required": ["number"]}}],
}
SIMPLE_ANSWER = {"id": "simple_python_1", "ground_truth": [{"math.factorial": {"number": [5]}}]}
PARALLEL = {
    "id": "parallel_0",
    "question": [[{"role": "user", "content": "Play Taylor Swift for 20 minutes and Maroon 5 "
                                              "for 15 minutes on Spotify."}]],
    "function": [{"name": "spotify.play", "description": "Play tracks of an artist.",
                  "parameters": {"type": "dict", "properties": {
                      "artist": {"type": "string", "description": "The artist."},
                      "duration": {"type": "integer", "description": "Minutes."}},
                      "required": ["artist", "duration"]}}],
}
PARALLEL_ANSWER = {"id": "parallel_0", "ground_truth": [
    {"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
    {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}]}


def _item(question: dict[str, Any], answer: dict[str, Any]) -> Any:
    return bench.Item(question["id"], list(question["question"][0]), question["function"],
                      answer["ground_truth"])


def test_bfcl_types_become_json_schema_and_names_lose_their_dots() -> None:
    doc = {"type": "dict", "properties": {
        "ratio": {"type": "float", "description": "r"},
        "point": {"type": "tuple", "items": {"type": "float"}},
        "options": {"type": "dict", "properties": {"deep": {"type": "any"}}},
        "mode": {"type": "string", "enum": ["a", "b"], "default": "c"},
        "untyped": {"description": "no type"},
    }, "required": ["ratio", "missing"]}
    schema = bench.json_schema(doc)
    props = schema["properties"]
    assert schema["type"] == "object" and schema["required"] == ["ratio"]
    assert props["ratio"] == {"type": "number", "description": "r"}
    assert props["point"] == {"type": "array", "items": {"type": "number"}}
    assert props["options"]["properties"]["deep"] == {"type": "string"}
    assert props["mode"] == {"type": "string", "enum": ["a", "b"]}  # default not in enum
    assert props["untyped"]["type"] == "string"

    tool = _item(SIMPLE, SIMPLE_ANSWER).tools["math_factorial"]
    assert tool.definition.name == "math_factorial"
    assert tool.definition.parameters["properties"]["number"]["type"] == "integer"
    assert tool.validate({"number": 5}) == {"number": 5}
    with pytest.raises(ToolArgumentsError, match="number"):
        tool.validate({"number": "five"})
    assert tool.call({"number": "five"}).outcome == "invalid_arguments"
    assert tool.call({"number": 5}).ok


def test_compound_path_repairs_a_malformed_action_once() -> None:
    item = _item(SIMPLE, SIMPLE_ANSWER)
    llm = ScriptedLLM([InvalidResponse("bad: cut at max_tokens", raw='{"tool": "math_fa'),
                       ToolCall("math_factorial", {"number": 5})])
    outcome = bench.run_compound(llm, item, max_calls=1)
    assert [c.arguments for c in outcome.calls] == [{"number": 5}]
    assert (outcome.invalid_before, outcome.invalid_after, outcome.repaired) == (True, False, 1)
    first, repair = (call[0] for call in llm.calls)
    assert first[0].role == "system" and first[-1].content == "Calculate the factorial of 5."
    assert repair[-2].content == '{"tool": "math_fa'
    assert "cut at max_tokens" in repair[-1].content and "math_factorial" in repair[-1].content
    tools = llm.calls[0][1].tools
    assert [t.name for t in tools] == ["math_factorial"]


def test_compound_path_counts_arguments_the_schema_refuses_after_the_repair() -> None:
    item = _item(SIMPLE, SIMPLE_ANSWER)
    llm = ScriptedLLM([ToolCall("math_factorial", {"number": "five"}),
                       ToolCall("math_factorial", {"n": 5})])
    outcome = bench.run_compound(llm, item, max_calls=1)
    assert outcome.calls == [] and outcome.invalid_before and outcome.invalid_after
    assert "number" in llm.calls[1][0][-1].content  # the validation error was shown

    answered = bench.run_compound(ScriptedLLM(['{"answer": "120"}']), item, max_calls=1)
    assert answered.no_call and not answered.invalid_before


def test_parallel_items_are_asked_again_until_the_model_repeats_itself() -> None:
    item = _item(PARALLEL, PARALLEL_ANSWER)
    taylor = ToolCall("spotify_play", {"artist": "Taylor Swift", "duration": 20})
    maroon = ToolCall("spotify_play", {"artist": "Maroon 5", "duration": 15})
    llm = ScriptedLLM([taylor, maroon, maroon])
    outcome = bench.run_compound(llm, item, max_calls=4)
    assert [c.arguments["artist"] for c in outcome.calls] == ["Taylor Swift", "Maroon 5"]
    assert len(llm.calls) == 3
    second = llm.calls[1][0]  # the first call and its observation came back to the model
    assert second[-2].tool_calls[0].name == "spotify_play" and second[-1].role == "tool"
    # a call is required of the first action only; later ones may answer, ending the item
    assert [params.tool_choice for _, params in llm.calls] == ["required", "auto", "auto"]
    free = ScriptedLLM([taylor])
    bench.run_compound(free, item, max_calls=1, tool_choice="auto")
    assert free.calls[0][1].tool_choice == "auto"


def test_a_parallel_action_may_hold_several_calls() -> None:
    item = _item(PARALLEL, PARALLEL_ANSWER)
    taylor = ToolCall("spotify_play", {"artist": "Taylor Swift", "duration": 20})
    maroon = ToolCall("spotify_play", {"artist": "Maroon 5", "duration": 15})
    llm = ScriptedLLM([(taylor, maroon), (maroon,)])
    outcome = bench.run_compound(llm, item, max_calls=4)
    assert [c.arguments["artist"] for c in outcome.calls] == ["Taylor Swift", "Maroon 5"]
    assert [params.parallel_tool_calls for _, params in llm.calls] == [True, True]
    second = llm.calls[1][0]  # both calls and both observations came back to the model
    assert len(second[-3].tool_calls) == 2 and [m.role for m in second[-2:]] == ["tool"] * 2
    single = ScriptedLLM([(taylor, maroon)])
    assert len(bench.run_compound(single, item, max_calls=1).calls) == 1


def test_raw_path_reads_openai_tool_calls_and_flags_invalid_ones() -> None:
    item = _item(PARALLEL, PARALLEL_ANSWER)
    seen: dict[str, Any] = {}

    def chat(**kwargs: Any) -> dict[str, Any]:
        seen.update(kwargs)
        return {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "spotify_play", "arguments": json.dumps(
                {"artist": "Taylor Swift", "duration": 20})}},
            {"type": "function", "function": {"name": "spotify_play",
                                              "arguments": '{"artist": "Maroon 5", '}},
        ]}}]}

    outcome = bench.run_raw(chat, item)
    assert len(outcome.calls) == 1 and outcome.invalid_before and outcome.invalid_after
    assert seen["tool_choice"] == "auto" and seen["messages"][0]["role"] == "system"
    assert seen["tools"][0]["function"]["parameters"]["type"] == "object"


def test_scores_and_figures_from_a_checker() -> None:
    item = _item(SIMPLE, SIMPLE_ANSWER)
    received: list[Any] = []

    def checker(functions: Any, output: Any, answer: Any, category: str) -> dict[str, Any]:
        received.append((output, category))
        return {"valid": output == [{"math_factorial": {"number": 5}}],
                "error_type": "value_error"}

    good = bench.score(checker, item, "simple_python",
                       bench.Outcome(calls=[ToolCall("math_factorial", {"number": 5})],
                                     seconds=2.0))
    bad = bench.score(checker, item, "simple_python",
                      bench.Outcome(calls=[ToolCall("math_factorial", {"number": 6})],
                                    invalid_before=True, seconds=4.0))
    none = bench.score(checker, item, "simple_python", bench.Outcome(no_call=True))
    assert (good.correct, bad.correct, none.correct) == (True, False, False)
    assert bad.checker_error == "value_error" and len(received) == 2  # no call: not checked
    figures = bench.summarise([good, bad, none], repair=True)
    assert figures["n"] == 3 and figures["accuracy"] == round(1 / 3, 4)
    assert figures["invalid_call_rate"] == {"before_repair": round(1 / 3, 4),
                                            "after_repair": 0.0}
    assert figures["no_call_rate"] == round(1 / 3, 4) and figures["seconds_per_item"] == 2.0


def test_items_are_read_from_a_bfcl_folder_spread_over_the_file(tmp_path: Path) -> None:
    data = tmp_path / "bfcl_eval" / "data"
    (data / "possible_answer").mkdir(parents=True)
    rows = [dict(SIMPLE, id=f"simple_python_{i}") for i in range(10)]
    (data / "BFCL_v4_simple_python.json").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    (data / "possible_answer" / "BFCL_v4_simple_python.json").write_text("".join(
        json.dumps(dict(SIMPLE_ANSWER, id=r["id"])) + "\n" for r in rows))
    items = bench.load_items(tmp_path, "simple_python", 3)
    assert [i.id for i in items] == ["simple_python_0", "simple_python_3", "simple_python_6"]
    assert items[0].ground_truth == SIMPLE_ANSWER["ground_truth"]


@pytest.mark.dataset
def test_bfcl_own_checker_scores_the_bench_output() -> None:
    try:
        root = bench.bfcl_root()
    except DatasetMissing:
        pytest.skip("dataset 'bfcl' (bfcl-eval installed with --no-deps, see "
                    "bench/requirements-bfcl.txt) is not on this machine")
    checker = bench.load_checker(root)
    simple = _item(SIMPLE, SIMPLE_ANSWER)
    right = bench.Outcome(calls=[ToolCall("math_factorial", {"number": 5})])
    wrong = bench.Outcome(calls=[ToolCall("math_factorial", {"number": 4})])
    assert bench.score(checker, simple, "simple_python", right).correct
    assert not bench.score(checker, simple, "simple_python", wrong).correct
    parallel = _item(PARALLEL, PARALLEL_ANSWER)
    both = bench.Outcome(calls=[
        ToolCall("spotify_play", {"artist": "Maroon 5", "duration": 15}),
        ToolCall("spotify_play", {"artist": "Taylor Swift", "duration": 20})])
    one = bench.Outcome(calls=both.calls[:1])
    assert bench.score(checker, parallel, "parallel", both).correct  # any order
    assert not bench.score(checker, parallel, "parallel", one).correct


def test_run_bench_alternates_paths_and_records_each_item() -> None:
    item = _item(SIMPLE, SIMPLE_ANSWER)
    rows: list[dict[str, Any]] = []

    def chat(**kwargs: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"role": "assistant", "content": "120"}}]}

    def checker(functions: Any, output: Any, answer: Any, category: str) -> dict[str, Any]:
        return {"valid": output == [{"math_factorial": {"number": 5}}]}

    results = bench.run_bench(
        {"simple_python": [item, item]}, checker,
        compound_llm=ScriptedLLM([ToolCall("math_factorial", {"number": 5})]),
        raw_chat=chat, record=rows.append)
    figures = results["simple_python"]
    assert figures["compound"]["accuracy"] == 1.0 and figures["compound"]["n"] == 2
    assert figures["llama_cpp_raw"]["accuracy"] == 0.0
    assert figures["llama_cpp_raw"]["no_call_rate"] == 1.0
    assert [r["path"] for r in rows] == ["compound", "llama_cpp_raw"] * 2
    assert rows[0]["calls"] == [{"math_factorial": {"number": 5}}] and rows[0]["correct"]
