"""Prompts for the embedded models: the chat turns an instruction-tuned model's template gets,
next to the Question/Answer document a base model gets, from the same messages."""

from __future__ import annotations

from compound.intelligence.llm.prompting import DEFAULT_INSTRUCTION, chat_messages, render_prompt
from compound.intelligence.llm.types import Message, ToolCall, ToolDefinition

WEATHER = ToolDefinition(name="weather", description="Weather for a city",
                         parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def test_a_chat_model_gets_one_system_turn_and_no_default_examples() -> None:
    turns = chat_messages([Message("system", "Be brief."), Message("user", " Hi? ")])
    assert turns == [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Hi?"}]
    assert chat_messages([Message("user", "Hi?")])[0]["content"] == DEFAULT_INSTRUCTION


def test_given_examples_become_earlier_turns() -> None:
    turns = chat_messages([Message("user", "3+3?")], few_shot=[("2+2?", "4.")])
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user"]
    assert turns[2]["content"] == "4."


def test_tool_calls_and_results_need_no_tool_role_in_the_template() -> None:
    messages = [
        Message("user", "Weather in Paris?"),
        Message("assistant", "", tool_calls=(ToolCall("weather", {"city": "Paris"}, "c0"),)),
        Message("tool", "sunny, 21 C", tool_call_id="c0"),
    ]
    turns = chat_messages(messages, tools=[WEATHER])
    assert "- weather: Weather for a city" in turns[0]["content"]
    assert turns[2] == {"role": "assistant",
                        "content": '{"tool": "weather", "arguments": {"city": "Paris"}}'}
    assert turns[3] == {"role": "user", "content": "Observation: sunny, 21 C"}
    # the base model's document says the same things, as text
    document = render_prompt(messages, tools=[WEATHER])
    assert '"arguments": {"city": "Paris"}' in document
    assert "Observation: sunny, 21 C" in document


def test_json_output_is_asked_for_in_the_system_turn() -> None:
    turns = chat_messages([Message("user", "Capital of France?")],
                          json_schema={"type": "object"}, few_shot=[("a", "b")])
    assert "Answer with JSON matching this schema" in turns[0]["content"]
    assert len(turns) == 2  # examples of plain answers would contradict the schema


def test_several_calls_in_one_action() -> None:
    import pytest

    from compound.intelligence.llm.errors import InvalidResponse
    from compound.intelligence.llm.prompting import action_schema, parse_action

    tool = ToolDefinition("play", "Play a song",
                          {"type": "object", "properties": {"artist": {"type": "string"}}})
    schema = action_schema([tool], required=True, several=True)
    (only,) = schema["oneOf"]
    assert only["properties"]["calls"]["items"]["oneOf"][0]["properties"]["tool"] == {
        "const": "play"}
    assert len(action_schema([tool], several=True)["oneOf"]) == 2  # and the answer
    _, calls = parse_action('{"calls": [{"tool": "play", "arguments": {"artist": "A"}}, '
                            '{"tool": "play", "arguments": {"artist": "B"}}]}', [tool],
                            provider="p", model="m")
    assert [(c.arguments["artist"], c.id) for c in calls] == [("A", "call_0"), ("B", "call_1")]
    with pytest.raises(InvalidResponse):
        parse_action('{"calls": [{"tool": "stop", "arguments": {}}]}', [tool],
                     provider="p", model="m")
    with pytest.raises(InvalidResponse):
        parse_action('{"calls": []}', [tool], provider="p", model="m")
    prompt = render_prompt([Message("user", "Play A and B"),
                            Message("assistant", "", tool_calls=(
                                ToolCall("play", {"artist": "A"}, "c0"),
                                ToolCall("play", {"artist": "B"}, "c1")))],
                           tools=[tool], several=True)
    assert '{"calls": [{"tool": NAME' in prompt
    assert 'Answer: {"calls": [{"tool": "play", "arguments": {"artist": "A"}}' in prompt
