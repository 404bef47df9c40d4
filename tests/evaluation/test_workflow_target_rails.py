"""A workflow eval target checks each row with the rails around the workflow's runs, as
serving does, so an eval scores what users get."""

from __future__ import annotations

from compound.evaluation.workflow_target import WorkflowTarget
from compound.system import System

SPEC = """
name: desk
loop: interaction
task: Answer customers.
models:
  llm: {kind: llm, provider: scripted, options: {replies: ["Mail help@bank.example."]}}
guardrails:
  pii: {type: pii, stage: output}
  secrets: {type: secrets, stage: input, action: block}
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: draft, uses: llm, options: {template: "Answer: {question}"}}
"""


def test_an_eval_row_is_scored_as_served_redacted_or_blocked() -> None:
    target = WorkflowTarget.from_system(System.from_yaml(SPEC), "answer", cache=None)
    assert target.run({"question": "How do I reach you?"}).text == "Mail <EMAIL_ADDRESS>."
    blocked = target.run({"question": "is ghp_" + "a" * 36 + " leaked?"})
    assert blocked.text == ""
