"""A workflow used as a step of another in compound.yaml (`uses: NAME`), looped with its last
output as the input `previous`; a workflow that contains itself is refused; an LLM step's
`stop` and `temperature` options reach the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from compound.errors import UserError
from compound.intelligence.llm import ScriptedLLM
from compound.system import System
from compound.workflow import Step, Workflow, build_workflow
from compound.workflow.step import Loop

LOOP = '        loop: {max_iterations: 5, until: "len(output.text) >= 3"}\n'
SPEC = """
name: drafts
loop: interaction
task: Draft until the draft is long enough.
models:
  llm: {kind: llm, provider: scripted, options: {replies: ["a", "ab", "abc"], cycle: false}}
workflows:
  round:
    input: {topic: str, previous: any}
    steps:
      - name: draft
        uses: llm
        inputs: {topic: input.topic}
        options: {template: "Write about {topic}.", stop: ["\\n\\n", "END"], temperature: 0.5}
      - name: note
        uses: "tests.workflow.test_subworkflows:note"
        inputs: {draft: draft, last: input.previous}
  write:
    input: {topic: str}
    steps:
      - name: rounds
        uses: round
        inputs: {topic: input.topic}
""" + LOOP


@dataclass(frozen=True)
class Note:
    text: str
    round: int


def note(draft: Any, last: Note | None = None) -> Note:
    return Note(draft.text, (last.round if last else 0) + 1)


def test_a_looped_sub_workflow_reads_its_last_output_as_previous() -> None:
    llm = ScriptedLLM(["a", "ab", "abc"], cycle=False)
    flow = build_workflow(System.from_yaml(SPEC), "write",
                          shared={"llm:llm": llm, "strategy:cache": None})
    output = flow.run(topic="cats").output
    assert (output.text, output.round) == ("abc", 3)  # three rounds, each counting the last
    assert set(flow.by_name["rounds"].step.params) == {"topic"}  # previous is the loop's
    assert [(p.stop, p.temperature) for _, p in llm.calls] == [(("\n\n", "END"), 0.5)] * 3


def test_a_sub_workflow_outside_a_loop_takes_previous_as_an_input() -> None:
    head, _, _ = SPEC.rpartition("inputs: {topic: input.topic}\n")  # the `rounds` step's
    system = System.from_yaml(head + "inputs: {topic: input.topic, previous: input.topic}\n")
    flow = build_workflow(system, "write", shared={"llm:llm": ScriptedLLM(["x"]),
                                                   "strategy:cache": None})
    assert set(flow.by_name["rounds"].step.params) == {"topic", "previous"}


def test_a_workflow_that_contains_itself_is_refused() -> None:
    looped = SPEC.replace("uses: round", "uses: write")
    with pytest.raises(UserError, match=r"workflow 'write' uses itself \(write -> write\)"):
        build_workflow(System.from_yaml(looped), "write",
                       shared={"llm:llm": ScriptedLLM(["x"])})


def test_a_python_sub_workflow_loop_takes_previous() -> None:
    @dataclass(frozen=True)
    class Round:
        n: int
        previous: Any = None

    def count(last: Any) -> int:
        return (last or 0) + 1

    inner = Workflow([Step(count, inputs={"last": "input.previous"})], input=Round,
                     name="inner")
    outer = Workflow([Step(inner, name="rounds", inputs={"n": "input.n"},
                           loop=Loop(max_iterations=4, until="output >= 3"))],
                     input=Round, name="outer")
    assert outer.run(n=0).output == 3
