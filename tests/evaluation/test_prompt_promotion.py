"""Promoting a prompt version on the workflow's eval, and a workflow step using the production
version: its examples reach the model and its trace names the version."""

from __future__ import annotations

from pathlib import Path

import pytest

import compound.intelligence.llm as llm_module
from compound.errors import UserError
from compound.evaluation.prompt_promotion import promote_prompt, prompt_eval
from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.types import GenerationParams, Message
from compound.orchestration.prompts import PromptRegistry, seed_from_spec
from compound.store import MemoryStore, Store
from compound.system import System
from compound.workflow import build_workflow, start
from compound.workflow.tracing import read_spans

SPEC = """\
name: support
loop: interaction
task: Answer yes/no support questions.
models:
  llm: {kind: llm, provider: scripted}
criteria:
  exact_match: {threshold: 0.5, tolerance: 0.1}
workflows:
  support:
    input: {question: str}
    steps:
      - name: answer
        uses: llm
        inputs: {question: input.question}
        options: {template: "Answer yes or no: {question}", system: "You are terse."}
evals:
  answers:
    dataset: {path: qa.jsonl, inputs: [question], expected: answer}
    target: {workflow: support}
    metrics: [exact_match]
"""


def reply(messages: tuple[Message, ...], params: GenerationParams) -> str:
    """A model that answers right unless its system message asks it to ramble."""
    system = " ".join(m.content for m in messages if m.role == "system")
    return "Well, it depends." if "Ramble" in system else "yes"


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setattr(llm_module, "build_llm", lambda spec: ScriptedLLM(reply))
    (tmp_path / "compound.yaml").write_text(SPEC)
    (tmp_path / "qa.jsonl").write_text(
        "".join(f'{{"question": "q{i}", "answer": "yes"}}\n' for i in range(4)))
    return System.load(tmp_path)


@pytest.fixture
def store(system: System) -> Store:
    store = MemoryStore()
    seed_from_spec(system, store)
    return store


def test_a_worse_candidate_is_not_promoted_and_a_good_one_is(system: System,
                                                             store: Store) -> None:
    registry = PromptRegistry(store)
    worse = registry.register("support.answer", instructions="Ramble at length.")
    refused = promote_prompt(system, store, "support.answer", worse.version)
    assert not refused.decision.promoted
    assert [(c.name, c.status, c.value, c.baseline) for c in refused.decision.checks] == [
        ("exact_match", "fail", 0.0, 1.0)]
    assert refused.candidate.counts["total"] == 4 == refused.baseline.counts["total"]
    assert registry.production("support.answer").version == 1  # type: ignore[union-attr]
    better = registry.register("support.answer", examples=[
        {"input": {"question": "Is it open?"}, "output": "yes"}], note="one example")
    promoted = promote_prompt(system, store, "support.answer", better.version, limit=2)
    assert promoted.decision.promoted and promoted.decision.replaced == 1
    current = registry.production("support.answer")
    assert current is not None and current.version == better.version
    assert current.metrics == {"exact_match": 1.0}
    assert current.evaluated["eval"] == "answers" and current.evaluated["rows"] == 2


def test_a_step_sends_the_production_version_and_its_trace_names_it(system: System,
                                                                   store: Store) -> None:
    registry = PromptRegistry(store)
    record = registry.register("support.answer", instructions="One word.", examples=[
        {"input": {"question": "Open on Sunday?"}, "output": "no"}])
    registry.install(record, registry.production("support.answer"))
    llm = ScriptedLLM(["yes"])
    flow = build_workflow(system, "support", shared={"llm:llm": llm})
    result = start(flow, {"question": "Refunds?"}, store=store)
    assert result.output.text == "yes"
    [(messages, _)] = llm.calls
    assert [(m.role, m.content) for m in messages] == [
        ("system", "You are terse.\n\nOne word."),
        ("user", "Answer yes or no: Open on Sunday?"), ("assistant", "no"),
        ("user", "Answer yes or no: Refunds?")]
    [step] = [s for s in read_spans(store, result.run_id) if s["kind"] == "step"]
    assert step["attributes"]["compound.prompt"] == "support.answer@2"
    # with nothing registered the spec's text is sent, and no version is recorded
    bare = MemoryStore()
    plain = ScriptedLLM(["yes"])
    result = start(build_workflow(system, "support", shared={"llm:llm": plain}),
                   {"question": "Refunds?"}, store=bare)
    assert [m.content for m in plain.calls[0][0]] == ["You are terse.",
                                                      "Answer yes or no: Refunds?"]
    [step] = [s for s in read_spans(bare, result.run_id) if s["kind"] == "step"]
    assert "compound.prompt" not in step["attributes"]


def test_the_eval_is_the_one_running_the_workflow(system: System) -> None:
    assert prompt_eval(system, "support.answer") == "answers"
    with pytest.raises(UserError, match="does not run workflow 'support'"):
        prompt_eval(system, "support.answer", "other")
    with pytest.raises(UserError, match=r"did you mean 'support\.answer'"):
        prompt_eval(system, "support.answr")
