"""`strategy.cache` in the runtime: the LLM steps of served and `compound run` workflows go
through the spec's cache (exact, on by default), `models:` limits it, turning it off turns it
off, and a hit is a traced model call with no tokens and no cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from compound.production.serving import app_from_system
from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore, SQLiteStore
from compound.system import System
from compound.workflow.loader import build_workflow
from compound.workflow.tracing import read_spans

SPEC = """
name: cached
loop: interaction
task: Answer.
models:
  llm: {kind: llm, provider: scripted, options: {replies: ["first", "second", "third"]}}
  other: {kind: llm, provider: scripted, options: {replies: ["one", "two"]}}
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: draft, uses: llm, options: {template: "Answer: {question}"}}
  both:
    input: {question: str}
    steps:
      - {name: a, uses: llm, options: {template: "A: {question}"}}
      - name: b
        uses: other
        needs: [a]
        inputs: {question: input.question}
        options: {template: "B: {question}"}
"""


def _served(strategy: str = "") -> tuple[TestClient, MemoryStore]:
    system = System.from_yaml(SPEC + strategy)
    store = MemoryStore()
    return TestClient(app_from_system(system, store=store,
                                      spec=ServeSpec(auth=False, rate_limit=None))), store


def _ask(client: TestClient, question: str = "How?") -> dict:
    response = client.post("/v1/workflows/answer", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


def test_two_identical_served_requests_call_the_model_once() -> None:
    client, store = _served()
    with client:
        first, second = _ask(client), _ask(client)
        other = _ask(client, "Why?")
        llm = client.app.state.compound.llms["llm"]  # type: ignore[attr-defined]
        client.app.state.compound.runner.tracer.flush(5.0)  # type: ignore[attr-defined]
    assert [first["output"]["text"], second["output"]["text"], other["output"]["text"]] == [
        "first", "first", "second"]
    assert len(llm.inner.calls) == 2
    assert second["tokens"] == 0 and second["cost_usd"] == 0.0
    hit = [s for s in read_spans(store, second["run_id"]) if s["kind"] == "model"]
    assert len(hit) == 1 and hit[0]["attributes"]["compound.cache.hit"] is True
    assert hit[0]["attributes"]["gen_ai.usage.output_tokens"] == 0
    miss = [s for s in read_spans(store, first["run_id"]) if s["kind"] == "model"]
    assert miss[0]["attributes"]["compound.cache.hit"] is False


def test_with_the_exact_cache_off_each_request_calls_the_model() -> None:
    client, _ = _served("strategy: {cache: {exact: {enabled: false}}}\n")
    with client:
        answers = [_ask(client)["output"]["text"] for _ in range(2)]
        llm = client.app.state.compound.llms["llm"]  # type: ignore[attr-defined]
    assert answers == ["first", "second"] and len(llm.inner.calls) == 2


def test_models_limits_the_cache_to_the_llms_it_names() -> None:
    system = System.from_yaml(SPEC + "strategy: {cache: {models: [other]}}\n")
    shared: dict = {"store": MemoryStore()}
    flow = build_workflow(system, "both", shared=shared)
    runs = [flow.run(question="same") for _ in range(2)]
    assert [r.outputs["a"].text for r in runs] == ["first", "second"]  # llm: not cached
    assert [r.outputs["b"].text for r in runs] == ["one", "one"]  # other: cached
    assert len(shared["llm:other"].calls) == 1


def test_sampled_calls_without_a_seed_are_not_cached() -> None:
    # a spec's LLM samples with seed 0 by default (reproducible, so cached); null: random
    system = System.from_yaml(SPEC.replace(
        'replies: ["first", "second", "third"]}',
        'replies: ["first", "second", "third"]}, generation: {temperature: 0.7, seed: null}'))
    flow = build_workflow(system, "answer", shared={"store": MemoryStore()})
    assert [flow.run(question="same").output.text for _ in range(2)] == ["first", "second"]


def test_compound_run_answers_a_repeated_request_from_the_cache(tmp_path: Path) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text(SPEC + "guardrails:\n  pii: {type: pii, stage: output}\n")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "compound", "run", str(spec), "answer", "--home",
             str(tmp_path / "home"), "-i", json.dumps({"question": "mail me at a@b.example"})],
            capture_output=True, text=True, env=env, timeout=120)

    first, second = run(), run()
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["text"] == "first"
    # a new process: the scripted model would say "first" again, but the trace shows who did
    assert json.loads(second.stdout)["text"] == "first"
    run_id = second.stderr.split("run ")[-1].split()[0]
    store = SQLiteStore(tmp_path / "home" / "compound.db")
    model = [s for s in read_spans(store, run_id) if s["kind"] == "model"]
    assert model and model[0]["attributes"]["compound.cache.hit"] is True
