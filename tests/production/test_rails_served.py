"""Rails around served runs: the rails that guard a workflow and that no step of it uses
check the request before the first step and the answer before the client sees it, streamed
or not, and their verdicts are in the run's trace."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from compound.production.rails.steps import rails_around
from compound.production.serving import app_from_system
from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore
from compound.system import System
from compound.workflow.tracing import read_spans

ANSWER = "Write to help@bank.example and we will reply within a day."
SPEC = f"""
name: desk
loop: interaction
task: Answer customers.
models:
  llm: {{kind: llm, provider: scripted, options: {{replies: ["{ANSWER}"]}}}}
guardrails:
  pii: {{type: pii, stage: output, action: redact}}
  secrets: {{type: secrets, stage: input, action: block, workflows: [answer]}}
  screen: {{type: pii, stage: input, action: block, workflows: [screened]}}
workflows:
  answer:
    input: {{question: str}}
    steps:
      - {{name: draft, uses: llm, options: {{template: "Answer: {{question}}"}}}}
  screened:
    input: {{question: str}}
    steps:
      - {{name: check, uses: screen, inputs: {{text: input.question}}}}
      - name: draft
        uses: llm
        inputs: {{question: input.question}}
        options: {{template: "Answer: {{question}}"}}
"""
SECRET = "ghp_" + "a" * 36


@pytest.fixture(scope="module")
def system() -> System:
    return System.from_yaml(SPEC)


@pytest.fixture()
def served(system: System) -> Iterator[tuple[TestClient, MemoryStore]]:
    store = MemoryStore()
    app = app_from_system(system, store=store, spec=ServeSpec(auth=False, rate_limit=None))
    with TestClient(app) as client:
        yield client, store


def _events(text: str) -> list[tuple[str, dict]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def _spans(client: TestClient, store: MemoryStore, run_id: str) -> list[dict]:
    client.app.state.compound.runner.tracer.flush(5.0)  # type: ignore[attr-defined]
    return read_spans(store, run_id)


def test_the_rails_around_a_run_leave_out_those_a_step_uses(system: System) -> None:
    assert rails_around(system, "answer") == ["pii", "secrets"]
    assert rails_around(system, "screened") == ["pii"]  # screen is its step; secrets: answer


def test_a_served_answer_has_the_email_an_output_rail_redacts(served) -> None:
    client, store = served
    response = client.post("/v1/workflows/answer", json={"question": "How do I reach you?"})
    assert response.status_code == 200
    body = response.json()
    assert body["output"]["text"] == ("Write to <EMAIL_ADDRESS> and we will reply within a "
                                      "day.")
    assert body["guard"]["action"] == "redact"
    assert any(r.startswith("pii:") for r in body["guard"]["reasons"])
    rails = {s["attributes"]["compound.rail.name"]: s["attributes"]["compound.rail.action"]
             for s in _spans(client, store, body["run_id"]) if s["kind"] == "rail"}
    assert rails == {"secrets": "allow", "pii": "redact"}


def test_a_blocking_input_rail_stops_the_run_before_the_model(served) -> None:
    client, store = served
    response = client.post("/v1/workflows/answer",
                           json={"question": f"my token is {SECRET}, is it safe?"})
    assert response.status_code == 200
    body = response.json()
    assert body["output"] is None and body["guard"]["action"] == "block"
    assert "secrets:" in body["guard"]["reasons"][0]
    llm = client.app.state.compound.llms["llm"]  # type: ignore[attr-defined]
    assert llm.inner.calls == []
    kinds = [s["kind"] for s in _spans(client, store, body["run_id"])]
    assert "model" not in kinds and kinds.count("guard") == 1
    record = client.get(f"/v1/runs/{body['run_id']}").json()["record"]
    assert record["guard"]["action"] == "block"


def test_a_rail_a_step_uses_is_not_applied_around_the_run_again(served) -> None:
    client, store = served
    response = client.post("/v1/workflows/screened",
                           json={"question": "Is ada@example.com my login?"})
    body = response.json()
    # the step's rail decided (and the workflow went on regardless, as it is wired); the
    # input was not screened a second time around the run
    assert body["guard"]["action"] == "redact"  # the output rail, on the answer
    spans = _spans(client, store, body["run_id"])
    checked = [s["attributes"].get("compound.rail.name") for s in spans if s["kind"] == "rail"]
    assert checked.count("screen") == 1 and checked.count("pii") == 1


def test_a_streamed_answer_never_shows_the_redacted_email(served) -> None:
    client, _ = served
    with client.stream("POST", "/v1/workflows/answer/stream",
                       json={"question": "How do I reach you?"}) as response:
        received = _events(response.read().decode())
    tokens = "".join(d["text"] for e, d in received if e == "token")
    assert "help@bank.example" not in tokens and "bank" not in tokens
    assert tokens == "Write to <EMAIL_ADDRESS> and we will reply within a day."
    done = received[-1]
    assert done[0] == "done" and done[1]["guard"]["action"] == "redact"
    assert done[1]["output"]["text"] == tokens


def test_the_openai_endpoint_gets_the_checked_answer_and_a_content_filter(served) -> None:
    client, _ = served
    answer = client.post("/v1/chat/completions", json={
        "model": "answer", "messages": [{"role": "user", "content": "How?"}]}).json()
    assert answer["choices"][0]["message"]["content"].startswith("Write to <EMAIL_ADDRESS>")
    blocked = client.post("/v1/chat/completions", json={
        "model": "answer", "messages": [{"role": "user", "content": SECRET}]}).json()
    assert blocked["choices"][0]["finish_reason"] == "content_filter"
    assert blocked["choices"][0]["message"]["content"] == ""
