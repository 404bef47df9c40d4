"""A completion's one JSON form: what journals, the strategy cache and the eval cache keep."""

from __future__ import annotations

import json

import pytest

from compound.intelligence.llm import Completion, ToolCall, Usage

CASES = [
    Completion("Paris.", "scripted", "m", Usage(7, 2), latency_s=0.25),
    Completion("", "openai", "gpt", Usage(30, 4), latency_s=1.0, cost_usd=0.003,
               finish_reason="tool_calls", ttft_s=0.2,
               tool_calls=(ToolCall("search", {"q": "capital", "k": 3}, "call-1"),)),
    Completion('{"score": 3}', "embedded", "qwen", Usage(12, 5), latency_s=0.5,
               finish_reason="length", data={"score": 3, "why": ["short"]}),
]


@pytest.mark.parametrize("completion", CASES, ids=["text", "tool_calls", "data"])
def test_a_completion_survives_a_trip_through_json_text(completion: Completion) -> None:
    text = json.dumps(completion.to_dict())
    assert Completion.from_dict(json.loads(text)) == completion


def test_a_journal_entry_written_without_ttft_still_reads() -> None:
    entry = CASES[1].to_dict()
    del entry["ttft_s"]
    assert Completion.from_dict(entry).ttft_s is None
    assert Completion.from_dict(entry).tool_calls == CASES[1].tool_calls
