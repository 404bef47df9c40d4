"""The OpenAI-compatible provider against a real HTTP server on 127.0.0.1, healthy and
failing in the ways real servers fail."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from compound.intelligence.llm import (
    Completion,
    ContextOverflow,
    InvalidResponse,
    LLMTimeout,
    MissingCredentials,
    ProviderUnavailable,
    RateLimited,
    ScriptedLLM,
    TextDelta,
    ToolCall,
    ToolDefinition,
)
from compound.intelligence.llm.local_server import LocalOpenAIServer
from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

pytest.importorskip("openai")


@pytest.fixture
def server() -> Iterator[LocalOpenAIServer]:
    backend = ScriptedLLM(["Paris is the capital of France."], model="backend")
    with LocalOpenAIServer(backend) as running:
        yield running


def client(server: LocalOpenAIServer, **kw: object) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(model="backend", base_url=server.base_url, **kw)  # type: ignore[arg-type]


def test_complete_over_http(server: LocalOpenAIServer) -> None:
    done = client(server).complete("capital of France?", max_tokens=20, stop=["\n"], seed=3)
    assert done.text == "Paris is the capital of France."
    assert done.usage.completion_tokens == 6 and done.usage.prompt_tokens == 3
    request = server.requests[-1]
    assert request["max_tokens"] == 20 and request["stop"] == ["\n"] and request["seed"] == 3
    assert request["messages"] == [{"role": "user", "content": "capital of France?"}]


def test_stream_over_http(server: LocalOpenAIServer) -> None:
    events = list(client(server).stream("capital?"))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    final = events[-1]
    assert isinstance(final, Completion)
    assert text == final.text == "Paris is the capital of France."
    assert final.usage.completion_tokens == 6


def test_json_schema_goes_as_response_format(server: LocalOpenAIServer) -> None:
    server.llm = ScriptedLLM(['{"city": "Paris"}'])
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    done = client(server).complete("where?", json_schema=schema)
    assert done.data == {"city": "Paris"}
    assert server.requests[-1]["response_format"]["json_schema"]["schema"] == schema


def test_native_tool_calls_complete_and_stream(server: LocalOpenAIServer) -> None:
    server.llm = ScriptedLLM([ToolCall("weather", {"city": "Oslo"}, id="call_1")])
    tool = ToolDefinition("weather", "Weather in a city",
                          {"type": "object", "properties": {"city": {"type": "string"}}})
    done = client(server).complete("weather in Oslo?", tools=[tool])
    assert done.finish_reason == "tool_calls"
    assert done.tool_calls == (ToolCall("weather", {"city": "Oslo"}, id="call_1"),)
    assert server.requests[-1]["tools"][0]["function"]["name"] == "weather"
    assert "tool_choice" not in server.requests[-1]
    server.llm = ScriptedLLM([ToolCall("weather", {"city": "Oslo"}, id="call_2")])
    client(server).complete("weather in Oslo?", tools=[tool], tool_choice="required")
    assert server.requests[-1]["tool_choice"] == "required"
    streamed = list(client(server).stream("weather in Oslo?", tools=[tool]))[-1]
    assert isinstance(streamed, Completion) and streamed.tool_calls[0].name == "weather"


@pytest.mark.parametrize(
    ("fault", "error", "fragment"),
    [
        ("status:429", RateLimited, "429"),
        ("status:500", ProviderUnavailable, "500"),
        ("status:503", ProviderUnavailable, "503"),
        ("malformed", InvalidResponse, "malformed"),
        ("no-choices", InvalidResponse, "no choices"),
    ],
)
def test_failures_become_typed_errors(
    server: LocalOpenAIServer, fault: str, error: type[Exception], fragment: str
) -> None:
    server.fault = fault
    with pytest.raises(error, match=fragment):
        client(server).complete("x")


def test_dropped_stream_is_detected(server: LocalOpenAIServer) -> None:
    server.fault = "drop-stream"
    with pytest.raises(InvalidResponse, match="dropped"):
        list(client(server).stream("x"))


def test_slow_server_times_out(server: LocalOpenAIServer) -> None:
    server.fault = "slow:2"
    with pytest.raises(LLMTimeout):
        client(server, timeout_s=0.3).complete("x")


def test_context_overflow_from_the_server(server: LocalOpenAIServer) -> None:
    from compound.intelligence.llm import ContextOverflow as Overflow

    server.llm = ScriptedLLM([Overflow("prompt too long", prompt_tokens=9000, limit=8192)])
    with pytest.raises(ContextOverflow):
        client(server).complete("x")


def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = OpenAICompatibleLLM(model="m", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2)
    with pytest.raises(ProviderUnavailable, match="cannot reach"):
        llm.complete("x")


def test_hosted_openai_without_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingCredentials, match=r"\$OPENAI_API_KEY"):
        OpenAICompatibleLLM(model="gpt-4o-mini").complete("x")


def test_hosted_price_table_gives_cost(server: LocalOpenAIServer) -> None:
    llm = OpenAICompatibleLLM(model="gpt-4o-mini", base_url=server.base_url)
    done = llm.complete("one two three")
    expected = (3 * 0.15 + 6 * 0.60) / 1_000_000
    assert done.cost_usd == pytest.approx(expected)
