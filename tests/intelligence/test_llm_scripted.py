"""The LLM interface, exercised through the scripted fake that ships in the library."""

from __future__ import annotations

import asyncio

import pytest

from compound.intelligence.llm import (
    Completion,
    InvalidResponse,
    LLMTimeout,
    Message,
    ScriptedLLM,
    TextDelta,
    ToolCall,
    ToolDefinition,
)
from compound.intelligence.llm.types import GenerationParams


def test_complete_reports_text_usage_latency_and_zero_cost() -> None:
    llm = ScriptedLLM(["Paris is the capital."])
    done = llm.complete([Message("system", "be brief"), Message("user", "capital of France?")])
    assert done.text == "Paris is the capital."
    assert done.usage.completion_tokens == 4
    assert done.usage.prompt_tokens == 5
    assert done.latency_s >= 0 and done.cost_usd == 0.0
    assert done.finish_reason == "stop"


def test_stream_yields_pieces_then_the_completion() -> None:
    events = list(ScriptedLLM(["one two three"]).stream("count"))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one ", "two ", "three"]
    final = events[-1]
    assert isinstance(final, Completion) and final.text == "one two three"
    assert final.ttft_s is not None and final.ttft_s <= final.latency_s


def test_stop_sequences_and_max_tokens() -> None:
    llm = ScriptedLLM(["alpha beta\nQuestion: gamma"])
    assert llm.complete("x", stop=["\nQuestion:"]).text == "alpha beta"
    cut = ScriptedLLM(["a b c d e"]).complete("x", max_tokens=2)
    assert cut.finish_reason == "length" and cut.text == "a b "


def test_call_settings_override_spec_defaults() -> None:
    llm = ScriptedLLM(["ok"], defaults=GenerationParams(max_tokens=10, temperature=0.5))
    llm.complete("x", temperature=0.0, seed=7)
    params = llm.calls[-1][1]
    assert (params.max_tokens, params.temperature, params.seed) == (10, 0.0, 7)


def test_json_schema_output_is_parsed_and_validated() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}},
              "required": ["answer"]}
    good = ScriptedLLM(['{"answer": "Paris"}']).complete("x", json_schema=schema)
    assert good.data == {"answer": "Paris"}
    with pytest.raises(InvalidResponse, match="not JSON"):
        ScriptedLLM(["Paris"]).complete("x", json_schema=schema)
    with pytest.raises(InvalidResponse, match="does not match the schema"):
        ScriptedLLM(['{"city": "Paris"}']).complete("x", json_schema=schema)


def test_tool_calls_come_back_typed() -> None:
    tool = ToolDefinition("weather", "Weather in a city",
                          {"type": "object", "properties": {"city": {"type": "string"}}})
    done = ScriptedLLM([ToolCall("weather", {"city": "Paris"}, id="c1")]).complete(
        "weather?", tools=[tool]
    )
    assert done.finish_reason == "tool_calls"
    assert done.tool_calls[0].arguments == {"city": "Paris"}


def test_scripted_errors_and_exhaustion() -> None:
    llm = ScriptedLLM([LLMTimeout("slow")], cycle=False)
    with pytest.raises(LLMTimeout):
        llm.complete("x")
    with pytest.raises(InvalidResponse, match="ran out"):
        llm.complete("x")


def test_dropped_stream_is_an_invalid_response() -> None:
    llm = ScriptedLLM(["a b c d"], drop_stream_after=2)
    with pytest.raises(InvalidResponse, match="dropped"):
        list(llm.stream("x"))


def test_messages_must_be_message_objects() -> None:
    with pytest.raises(TypeError, match=r"messages\[0\] must be a compound Message"):
        ScriptedLLM().complete([{"role": "user", "content": "hi"}])  # type: ignore[list-item]


def test_async_complete_and_stream() -> None:
    llm = ScriptedLLM(["a b"])

    async def go() -> tuple[str, list[str]]:
        done = await llm.acomplete("x")
        pieces = [e.text async for e in llm.astream("x") if isinstance(e, TextDelta)]
        return done.text, pieces

    assert asyncio.run(go()) == ("a b", ["a ", "b"])
