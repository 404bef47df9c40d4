"""Streaming: Server-Sent Events of steps and tokens, and the OpenAI-compatible endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from serving_apps import ANSWER, make_app

from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app(MemoryStore(), spec=ServeSpec(auth=False))) as test_client:
        yield test_client


def events(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_a_stream_sends_run_steps_tokens_then_done(client: TestClient) -> None:
    with client.stream("POST", "/v1/workflows/answer/stream",
                       json={"text": "capital of France?"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        received = events(response.read().decode())
    kinds = [name for name, _ in received]
    assert kinds[0] == "run" and kinds[-1] == "done"
    assert received[1] == ("step", {"step": "answer", "status": "started"})
    tokens = [data["text"] for name, data in received if name == "token"]
    assert len(tokens) == len(ANSWER.split()) and "".join(tokens) == ANSWER
    finished = [data for name, data in received if name == "step" and data["status"] != "started"]
    assert finished[0]["status"] == "completed" and finished[0]["duration_ms"] >= 0
    done = received[-1][1]
    assert done["output"]["text"] == ANSWER
    assert done["run_id"] == received[0][1]["run_id"]


def test_a_stream_of_a_failing_run_ends_with_an_error_event(client: TestClient) -> None:
    with client.stream("POST", "/v1/workflows/broken/stream", json={"text": "x"}) as response:
        received = events(response.read().decode())
    assert received[-1][0] == "error"
    assert received[-1][1]["type"] == "run_failed"
    assert {"step": "broken", "status": "failed"}.items() <= next(
        data for name, data in received if name == "step" and data["status"] == "failed").items()


def test_a_stream_with_bad_input_is_refused_before_it_starts(client: TestClient) -> None:
    response = client.post("/v1/workflows/answer/stream", json={"text": ["not", "a", "str"]})
    assert response.status_code == 422


def test_openai_chat_completion_against_an_llm(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={
        "model": "llm", "messages": [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Capital of France?"}],
        "max_tokens": 50, "temperature": 0, "n": 1, "logprobs": False})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == len(ANSWER.split())
    run_id = response.headers["X-Compound-Run-Id"]
    assert body["id"] == f"chatcmpl-{run_id}"
    feedback = client.post("/v1/feedback", json={"run_id": run_id, "kind": "thumbs",
                                                 "value": "up"})
    assert feedback.status_code == 201


def test_openai_chat_completion_against_a_workflow(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={
        "model": "classify", "messages": [{"role": "user", "content": "my card?"}]})
    assert response.json()["choices"][0]["message"]["content"] == "card_arrival"


def test_openai_streaming_chunks_concatenate_to_the_answer(client: TestClient) -> None:
    with client.stream("POST", "/v1/chat/completions", json={
            "model": "answer", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Capital of France?"}]}) as response:
        lines = [line for line in response.read().decode().split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == ANSWER
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


def test_openai_errors_name_the_models_there_are(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={
        "model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404
    assert "llm" in response.json()["error"]["message"]
    empty = client.post("/v1/chat/completions", json={"model": "llm", "messages": []})
    assert empty.status_code == 422
    models = client.get("/v1/models").json()
    assert {"llm", "answer", "classify"} <= {m["id"] for m in models["data"]}
