"""Rails in the runtime: input rails before any model step, output rails before the answer is
returned, a rail as a workflow step, and `compound guard` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compound.production.rails import Guard, guarded_run
from compound.store import MemoryStore
from compound.system import System
from compound.workflow import RunContext, build_workflow, start
from compound.workflow.tracing import StoreSink, Tracer, read_spans

SPEC = """
name: shop
loop: interaction
task: Answer shoppers.
models:
  llm: {kind: llm, provider: scripted, options: {replies: ["Ask Bob at bob@example.com."]}}
guardrails:
  topics:
    type: topic
    workflows: [answer]
    denied_topics:
      medical: {examples: ["What dose of ibuprofen should I take?"], keywords: [diagnosis]}
  pii: {type: pii, stage: both}
  screen: {type: pii, workflows: [screened], action: block}
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: reply, uses: llm, options: {template: "Answer: {question}"}}
  screened:
    input: {question: str}
    steps:
      - {name: check, uses: screen, inputs: {text: input.question}}
      - name: reply
        uses: llm
        when: "check.allowed"
        inputs: {question: input.question}
        options: {template: "Answer: {question}"}
"""


def _run(question: str) -> tuple[object, object, MemoryStore, str]:
    system = System.from_yaml(SPEC)
    shared: dict[str, object] = {}
    flow = build_workflow(system, "answer", shared=shared)
    store = MemoryStore()
    tracer = Tracer(StoreSink(store))
    ctx = RunContext(store=store, tracer=tracer)
    run = guarded_run(flow, {"question": question},
                      Guard.from_system(system, workflow="answer"), ctx=ctx)
    assert tracer.flush()
    return run, shared["llm:llm"], store, ctx.run_id


def test_a_blocked_request_never_reaches_the_model() -> None:
    run, llm, store, run_id = _run("Can you give me a diagnosis?")
    assert run.action == "block" and run.output is None and run.run is None  # type: ignore[attr-defined]
    assert llm.calls == []  # type: ignore[attr-defined]
    assert "topics: denied topic 'medical' (keyword 'diagnosis')" in run.reasons  # type: ignore[attr-defined]
    spans = read_spans(store, run_id)
    assert [s["kind"] for s in spans] == ["guard", "rail", "rail"]


def test_requests_and_answers_are_redacted_on_their_way() -> None:
    run, llm, store, run_id = _run("Is ada@example.com my login?")
    assert run.action == "redact"  # type: ignore[attr-defined]
    prompt = llm.calls[0][0][-1].content  # type: ignore[attr-defined]
    assert prompt == "Answer: Is <EMAIL_ADDRESS> my login?"
    assert run.output.text == "Ask Bob at <EMAIL_ADDRESS>."  # type: ignore[attr-defined]
    kinds = [s["kind"] for s in read_spans(store, run_id)]
    assert kinds[0] == "guard" and kinds[-1] == "rail" and "model" in kinds


def test_a_rail_as_a_step_gates_the_next_steps() -> None:
    system = System.from_yaml(SPEC)
    store = MemoryStore()
    flow = build_workflow(system, "screened")
    blocked = start(flow, {"question": "card 4111 1111 1111 1111 ok?"}, store=store)
    assert blocked.outputs["check"].action == "block"
    assert "reply" in blocked.skipped
    passed = start(flow, {"question": "What sizes do you have?"}, store=store)
    assert passed.outputs["check"].allowed
    assert passed.output.text == "Ask Bob at bob@example.com."


def compound(*args: str, cwd: Path, stdin: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120, input=stdin)


@pytest.mark.integration
def test_guard_command_shows_each_rails_verdict(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SPEC, encoding="utf-8")
    out = compound("guard", ".", "What dose of ibuprofen should I take? mail ada@example.com",
                   "--stage", "input", cwd=tmp_path)
    assert out.returncode == 1, out.stderr  # a rail blocked
    for expected in ("topics", "block", "denied topic 'medical'", "pii", "redact",
                     "found 1 EMAIL_ADDRESS", "input: block"):
        assert expected in out.stdout, out.stdout
    fine = compound("guard", ".", "-", "--json", "-w", "answer", cwd=tmp_path,
                    stdin="Do you have this in blue?")
    assert fine.returncode == 0, fine.stderr
    data = json.loads(fine.stdout)
    assert [r["stage"] for r in data["results"]] == ["input", "output"]
    assert all(r["action"] == "allow" for r in data["results"])
    bad = compound("guard", ".", "x", "--rail", "pi", cwd=tmp_path)
    assert bad.returncode == 2 and "did you mean 'pii'" in bad.stderr
