"""The Anthropic provider against recorded Messages API responses (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest

from compound.intelligence.llm import (
    Completion,
    ContextOverflow,
    InvalidResponse,
    Message,
    ProviderUnavailable,
    RateLimited,
    TextDelta,
    ToolDefinition,
)
from compound.intelligence.llm.anthropic import AnthropicLLM

pytest.importorskip("anthropic")
RECORDED = Path(__file__).parent / "recorded"


def replay(respond: Callable[[httpx.Request], httpx.Response]) -> tuple[AnthropicLLM, list]:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return respond(request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    return AnthropicLLM(model="claude-haiku-4-5", http_client=client), seen


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")


def recorded(name: str, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    body = (RECORDED / name).read_bytes()
    kind = "text/event-stream" if name.endswith(".sse") else "application/json"
    return lambda request: httpx.Response(status, content=body, headers={"content-type": kind})


def test_complete_maps_system_usage_and_cost() -> None:
    llm, seen = replay(recorded("anthropic_message.json"))
    done = llm.complete([Message("system", "Be brief."), Message("user", "Capital of France?")])
    assert done.text == "The capital of France is Paris."
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (15, 9)
    assert done.cost_usd == pytest.approx((15 * 1.0 + 9 * 5.0) / 1e6)
    assert seen[0]["system"] == "Be brief."
    assert seen[0]["messages"] == [{"role": "user", "content": "Capital of France?"}]


def test_stream_replays_text_deltas() -> None:
    llm, _ = replay(recorded("anthropic_stream.sse"))
    events = list(llm.stream("Capital of France?"))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["The capital", " is Paris."]
    final = events[-1]
    assert isinstance(final, Completion) and final.text == "The capital is Paris."
    assert final.usage.completion_tokens == 6


def test_tool_use_becomes_tool_calls() -> None:
    llm, seen = replay(recorded("anthropic_tool_use.json"))
    tool = ToolDefinition("weather", "Weather in a city",
                          {"type": "object", "properties": {"city": {"type": "string"}}})
    done = llm.complete("Weather in Oslo?", tools=[tool])
    assert done.finish_reason == "tool_calls"
    assert done.tool_calls[0].arguments == {"city": "Oslo"}
    assert seen[0]["tools"][0]["input_schema"]["properties"]["city"] == {"type": "string"}
    assert "tool_choice" not in seen[0]
    llm, seen = replay(recorded("anthropic_tool_use.json"))
    llm.complete("Weather in Oslo?", tools=[tool], tool_choice="required")
    assert seen[0]["tool_choice"] == {"type": "any"}


def test_json_schema_is_a_forced_tool() -> None:
    body = json.loads((RECORDED / "anthropic_tool_use.json").read_text())
    body["content"] = [{"type": "tool_use", "id": "t1", "name": "output",
                        "input": {"city": "Paris"}}]
    llm, seen = replay(lambda r: httpx.Response(200, json=body))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    done = llm.complete("Where?", json_schema=schema)
    assert done.data == {"city": "Paris"}
    assert seen[0]["tool_choice"] == {"type": "tool", "name": "output"}


def error_body(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, error_body("rate_limit_error", "slow down"), RateLimited),
        (529, error_body("overloaded_error", "Overloaded"), ProviderUnavailable),
        (400, error_body("invalid_request_error", "prompt is too long: 210000 tokens > 200000"),
         ContextOverflow),
    ],
)
def test_api_errors_become_typed(status: int, body: dict, error: type[Exception]) -> None:
    llm, _ = replay(lambda r: httpx.Response(status, json=body))
    with pytest.raises(error):
        llm.complete("x")


def test_malformed_body_is_invalid_response() -> None:
    llm, _ = replay(lambda r: httpx.Response(200, json={"type": "message", "content": None}))
    with pytest.raises(InvalidResponse):
        llm.complete("x")
