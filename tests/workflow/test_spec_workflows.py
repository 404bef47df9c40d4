"""Workflows declared in compound.yaml: built through the step adapters, run by the CLI."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compound.errors import SpecError, UserError
from compound.system import System
from compound.workflow import WiringError, build_workflow
from compound.workflow.adapters import adapter_for

SPEC = """
name: support
loop: interaction
task: Answer support questions.
models:
  llm:
    kind: llm
    provider: scripted
    options: {{replies: {replies}}}
tools:
  lookup:
    function: "tests.workflow.test_spec_workflows:lookup"
  refund:
    function: "tests.workflow.test_spec_workflows:refund"
    side_effects: {refund_allowed}
workflows:
  answer:
    input: {{question: str, order: str}}
    steps:
      - name: find
        uses: lookup
        inputs: {{order_id: input.order}}
      - name: draft
        uses: llm
        inputs: {{question: input.question, status: find.status}}
        options: {{template: "Order status: {{status}}. Question: {{question}}"}}
      - name: act
        uses: llm
        needs: []
        when: "input.question != ''"
        inputs: {{task: input.question}}
        agent: {{tools: [refund], max_steps: 3}}
"""


@dataclass(frozen=True)
class OrderStatus:
    status: str


def lookup(order_id: str) -> OrderStatus:
    """Find an order."""
    return OrderStatus(f"{order_id} shipped")


def refund(amount: int) -> str:
    """Refund money."""
    return f"refunded {amount}"


refund.side_effects = True  # type: ignore[attr-defined]


def spec(tmp_path: Path, *, replies: str = '["It shipped."]', refund_allowed: str = "true"
         ) -> Path:
    path = tmp_path / "compound.yaml"
    path.write_text(SPEC.format(replies=replies, refund_allowed=refund_allowed))
    return path


def test_a_spec_workflow_runs_through_llm_tool_and_agent_adapters(tmp_path: Path) -> None:
    system = System.load(spec(tmp_path))
    flow = build_workflow(system, "answer")
    assert [s.name for s in flow.steps] == ["find", "draft", "act"]
    assert flow.levels[0][0].name == "find" and {n.name for n in flow.levels[0]} == {"find",
                                                                                      "act"}
    result = flow.run(question="Where is it?", order="A-1")
    assert result.outputs["draft"].text == "It shipped."
    assert result.outputs["act"].stop_reason == "answer"
    cached = flow.by_name["draft"].step.target.llm  # the model behind the spec's cache
    prompts = [call[0][-1].content for call in cached.inner.calls]
    assert "Order status: A-1 shipped. Question: Where is it?" in prompts
    assert flow.by_name["act"].step.target.llm is cached  # one model object per spec entry


def test_a_side_effecting_tool_not_allowed_in_the_spec_fails_at_build(tmp_path: Path) -> None:
    system = System.load(spec(tmp_path, refund_allowed="false"))
    with pytest.raises(UserError, match=r"tool 'refund' .* has side effects \(declared in its "
                                        r"code\) but the spec does not allow them"):
        build_workflow(system, "answer")


def test_a_mis_wired_spec_workflow_names_the_file_steps_and_field(tmp_path: Path) -> None:
    path = spec(tmp_path)
    path.write_text(path.read_text().replace("status: find.status", "status: find.state"))
    with pytest.raises(WiringError, match=r"(?s)compound.yaml: workflow 'answer' is mis-wired.*"
                                          r"step 'draft' input 'status' refers to 'find.state'"):
        build_workflow(System.load(path), "answer")


def test_a_cycle_in_the_spec_still_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "compound.yaml"
    path.write_text(textwrap.dedent("""
        name: x
        loop: interaction
        task: t
        workflows:
          w:
            steps:
              - {name: a, uses: llm, needs: [b]}
              - {name: b, uses: llm, needs: [a], loop: {max_iterations: 2}}
    """))
    with pytest.raises(SpecError, match="steps form a cycle a -> b -> a"):
        System.load(path)


def test_loops_need_a_limit_in_the_spec_too(tmp_path: Path) -> None:
    path = spec(tmp_path)
    path.write_text(path.read_text().replace("        uses: lookup\n",
                                             "        uses: lookup\n        loop: {until: x}\n"))
    with pytest.raises(SpecError, match=r"loop.max_iterations: required key 'max_iterations' is "
                                        r"missing"):
        System.load(path)


def test_an_unknown_component_kind_names_the_extension_point() -> None:
    with pytest.raises(UserError, match=r"no workflow step adapter for components of kind "
                                        r"'gizmo'.*'compound.steps' entry point group"):
        adapter_for("gizmo")


def test_the_cli_runs_a_spec_workflow_and_replays_it(tmp_path: Path) -> None:
    from compound.cli import build

    path = spec(tmp_path)
    runner = CliRunner()
    home = tmp_path / "home"
    out = runner.invoke(build(), ["run", str(path), "answer", "--input",
                                  json.dumps({"question": "Where?", "order": "B-2"}),
                                  "--home", str(home), "--run-id", "b" * 32])
    assert out.exit_code == 0, out.output
    assert '"stop_reason": "answer"' in out.stdout
    assert re.search(r"steps: \w+ \d+\.\d ms", out.output)  # where the time went
    replayed = runner.invoke(build(), ["replay", "b" * 32, "--home", str(home)])
    assert replayed.exit_code == 0, replayed.output
    assert f"gave the same output as run {'b' * 32}" in replayed.output
    bad = runner.invoke(build(), ["run", str(path), "answer", "--input", "{nope"])
    assert isinstance(bad.exception, UserError) and "--input is not JSON" in str(bad.exception)
