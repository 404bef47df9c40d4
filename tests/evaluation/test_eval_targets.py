"""Targets: an LLM with a prompt template, a Python function, a workflow of the system."""

from __future__ import annotations

from typing import Any

import pytest

from compound.evaluation.cache import OutputCache
from compound.evaluation.plan import EvalPlan, plan_eval
from compound.evaluation.runner import EvalRunner
from compound.evaluation.targets import (
    FunctionTarget,
    LLMTarget,
    MissingInput,
    TargetOutput,
    render_template,
)
from compound.evaluation.workflow_target import WorkflowTarget
from compound.intelligence.llm import ScriptedLLM
from compound.store import MemoryStore
from compound.system import System

SYSTEM = """\
name: greeter
loop: interaction
task: Greet people.
models:
  llm: {provider: scripted, options: {replies: ["Hello, Ada.", "Hello, Bob.", "Hi."]}}
workflows:
  greet:
    input: {name: str}
    steps:
      - {name: hello, uses: llm, options: {template: "Greet {name}."}}
evals:
  greetings:
    dataset: {path: people.jsonl, expected: greeting, inputs: [name]}
    target: {workflow: greet}
    metrics: [token_f1]
    concurrency: 1        # the scripted model answers in call order
"""


def test_templates_render_passages_and_name_missing_fields() -> None:
    text = render_template("{ctx}\nQ: {q}", {"ctx": [{"title": "A", "text": "x"}, "y"], "q": "?"})
    assert text == "A: x\n\ny\nQ: ?"
    with pytest.raises(MissingInput, match=r"uses '{question}' but the example has no field"):
        render_template("{question}", {"q": "x"})
    assert render_template("literal {{braces}} {q}", {"q": 1}) == "literal {braces} 1"


def test_llm_target_uses_the_schema_field_and_passes_contexts() -> None:
    llm = ScriptedLLM(['{"answer": "yes", "why": "because"}'])
    target = LLMTarget(llm, prompt="{q}", json_schema={"type": "object"}, output="answer",
                       contexts="docs", system="Be brief.")
    out = target.run({"q": "ok?", "docs": ["passage one", "passage two"]})
    assert out.text == "yes" and out.data["why"] == "because"
    assert out.contexts == ("passage one", "passage two")
    assert [m.role for m in llm.calls[0][0]] == ["system", "user"]
    other = LLMTarget(llm, prompt="{q}!", json_schema={"type": "object"}, output="answer")
    assert other.fingerprint() != target.fingerprint()


def test_function_targets_accept_text_mappings_and_outputs() -> None:
    assert FunctionTarget(lambda x: {"text": "a", "contexts": ["p"]}).run({}).contexts == ("p",)
    given = TargetOutput("b", cost_usd=0.5)
    out = FunctionTarget(lambda x: given).run({})
    assert out.text == "b" and out.cost_usd == 0.5 and out.latency_s is not None
    assert FunctionTarget(lambda x, *, suffix: "a" + suffix, options={"suffix": "!"}).run(
        {}).text == "a!"


def test_a_workflow_target_runs_the_system_workflow_through_the_cache(tmp_path: Any) -> None:
    (tmp_path / "compound.yaml").write_text(SYSTEM)
    (tmp_path / "people.jsonl").write_text(
        '{"name": "Ada", "greeting": "Hello, Ada."}\n{"name": "Bob", "greeting": "Hello, Bob."}\n')
    system = System.load(tmp_path / "compound.yaml")
    store = MemoryStore()
    plan = plan_eval(system, "greetings", store=store)
    assert isinstance(plan.target, WorkflowTarget)
    run = EvalRunner(store, progress=False).run(plan)
    assert run.counts["ok"] == 2 and run.metric("token_f1").value == 1.0

    cache = OutputCache(store)
    again = WorkflowTarget.from_system(system, "greet", cache=cache)
    rerun = EvalRunner(store, progress=False).run(EvalPlan.simple(
        "greetings", plan.dataset, again, ["token_f1"], inputs=["name"], expected="greeting"))
    assert rerun.metric("token_f1").value == 1.0
    assert (cache.hits, cache.misses) == (2, 0)  # no model call on the re-run
