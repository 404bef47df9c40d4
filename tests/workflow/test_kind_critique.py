"""The built-in ``critique`` step: bounded critique-and-revise rounds with the scripted LLM,
its options checked by `compound check` with the line, and its rounds on the trace."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from compound.intelligence.llm import ScriptedLLM
from compound.store import MemoryStore
from compound.system import System
from compound.workflow import build_workflow
from compound.workflow.adapters import LLMOutput
from compound.workflow.kinds.critique import CritiqueStep, read_critique
from compound.workflow.loader import build_problems
from compound.workflow.runs import start
from compound.workflow.tracing import read_spans

OK = '{"ok": true, "problems": []}'
PROBLEM = '{"ok": false, "problems": ["The 5 GBP fee is not in the sources."]}'
DRAFT = "Withdrawals are free up to 200 GBP, then 5 GBP each."
FIXED = "Withdrawals are free up to 200 GBP a month; above that we charge 2%."
SOURCES = "Withdrawals are free up to 200 GBP a month; above that we charge 2%."
RULES = ["Every fact in the answer is stated in the sources."]


def critique(replies: list[Any], *, rounds: int = 2, draft: Any = DRAFT) -> tuple[Any, Any]:
    llm = ScriptedLLM(replies, cycle=False)
    out = CritiqueStep(llm, principles=RULES, max_rounds=rounds).run(
        None, draft, question="Do ATM withdrawals cost anything?", passages=SOURCES)
    return out, llm


def test_an_ok_critique_keeps_the_draft_after_one_call() -> None:
    out, llm = critique([OK])
    assert (out.text, out.revised, out.rounds, len(llm.calls)) == (DRAFT, False, 1, 1)
    assert out.critiques[0].ok is True
    prompt = llm.calls[0][0][-1].content
    assert SOURCES in prompt and DRAFT in prompt and RULES[0] in prompt


def test_a_problem_found_is_revised_and_the_revision_critiqued_again() -> None:
    out, llm = critique([PROBLEM, FIXED, OK])
    assert (out.text, out.draft, out.revised, out.rounds) == (FIXED, DRAFT, True, 2)
    assert out.critiques[0].problems == ("The 5 GBP fee is not in the sources.",)
    assert out.critiques[0].revision == FIXED and out.critiques[1].text == FIXED
    revise = llm.calls[1][0][-1].content
    assert "The 5 GBP fee is not in the sources." in revise and DRAFT in revise
    assert out.calls == 3


def test_max_rounds_bounds_the_critiques() -> None:
    out, llm = critique([PROBLEM, FIXED + " One.", PROBLEM, FIXED + " Two.", OK], rounds=2)
    assert out.rounds == 2 and len(llm.calls) == 4  # two critiques, two revisions
    assert out.text == FIXED + " Two."
    out, llm = critique([PROBLEM, FIXED, OK], rounds=1)
    assert (out.rounds, len(llm.calls), out.text) == (1, 2, FIXED)


@pytest.mark.parametrize("reply", ["zzz zzz zzz", '{"ok": false, "problems": []}', "",
                                   '{"ok": false, "problems": ["ok"]}'])
def test_a_critique_that_cannot_be_read_or_names_nothing_keeps_the_draft(reply: str) -> None:
    out, llm = critique([reply])
    assert (out.text, out.revised, len(llm.calls)) == (DRAFT, False, 1)
    assert out.critiques[0].note


@pytest.mark.parametrize("revision", ["", "   ", DRAFT, "Fees apply to ATM withdrawals. " * 40,
                                      "- I have a card. I have a card. I have a card.",
                                      "The 5 GBP fee is not in the sources"])
def test_an_empty_unchanged_or_runaway_revision_is_discarded(revision: str) -> None:
    out, _ = critique([PROBLEM, revision])
    assert (out.text, out.revised, out.rounds) == (DRAFT, False, 1)
    assert out.critiques[0].revision is None and out.critiques[0].note


def test_the_draft_citations_pass_through_and_tokens_are_counted() -> None:
    draft = LLMOutput(DRAFT, citations=("c1",))  # type: ignore[arg-type]
    out, _ = critique([PROBLEM, FIXED, OK], draft=draft)
    assert out.citations == ("c1",) and out.text == FIXED
    assert out.prompt_tokens > 0 and out.completion_tokens > 0


def test_a_bulleted_revision_loses_its_bullet() -> None:
    out, _ = critique([PROBLEM, "- " + FIXED, OK])
    assert out.text == FIXED


def test_messy_critiques_are_read_defensively() -> None:
    assert read_critique('```json\n{"ok": true, "problems": []}\n```')[0] in (True, None)
    assert read_critique('{"ok": false, "problems": ["Too long.", "No fee named.", "The f') == (
        False, ("Too long.", "No fee named."))
    # a small model echoes the schema's words: no problem named, so nothing to revise
    assert read_critique('{"ok": false, "problems": ["ok", "problems", "..."]}') == (False, ())
    assert read_critique("1. The fee is wrong.\n2. Too long.") == (
        False, ("The fee is wrong.", "Too long."))
    assert read_critique("Looks good to me.") == (True, ())


SPEC = """\
name: desk
loop: interaction
task: Answer from the sources.
models:
  llm:
    provider: scripted
    options: {{replies: {replies}, cycle: false}}
workflows:
  answer:
    input: {{question: str}}
    steps:
      - name: draft
        uses: llm
        inputs: {{question: input.question}}
        options: {{template: "Sources: {sources}\\nQuestion: {{question}}"}}
      - name: critique
        uses: critique
        inputs: {{draft: draft, question: input.question}}
        options:
{options}
"""
OPTIONS = """\
          llm: llm
          principles: [Every fact in the answer is stated in the sources.]
          max_rounds: 2
"""


def spec(tmp_path: Path, *, options: str = OPTIONS, replies: list[str] | None = None) -> Path:
    path = tmp_path / "compound.yaml"
    path.write_text(SPEC.format(replies=json.dumps(replies or [DRAFT, PROBLEM, FIXED, OK]),
                                sources=SOURCES, options=textwrap.indent(
                                    textwrap.dedent(options), "          ")))
    return path


def test_the_step_runs_in_a_yaml_workflow_and_traces_its_rounds(tmp_path: Path) -> None:
    system = System.load(spec(tmp_path))
    assert build_problems(system) == []
    store = MemoryStore()
    result = start(build_workflow(system, "answer"), {"question": "ATM fees?"}, store=store)
    assert result.output.text == FIXED and result.outputs["draft"].text == DRAFT
    spans = read_spans(store, result.run_id)
    [span] = [s for s in spans if s["kind"] == "critique"]
    attributes = span["attributes"]
    assert attributes["compound.critique.draft"] == DRAFT
    assert attributes["compound.critique.output"] == FIXED
    assert [r["ok"] for r in attributes["compound.critique.rounds"]] == [False, True]
    models = [s for s in spans if s["kind"] == "model"]
    assert len(models) == 4  # the draft, then critique, revision, critique


@pytest.mark.parametrize(("options", "expected", "line"), [
    ("llm: llm\nprinciples: [Be right.]\nmax_round: 2\n", "did you mean 'max_rounds'", 22),
    ("principles: [Be right.]\n", "needs option 'llm'", 19),  # the line of `options:`
    ("llm: judge\nprinciples: [Be right.]\n", "'judge' is not an LLM", 20),
    ("llm: llm\nprinciples: [Be right.]\nmax_rounds: 9\n", "max_rounds must be", 22),
    ("llm: llm\nprinciples: [Be right.]\nmax_rounds: 0\n", "max_rounds must be", 22),
    ("llm: llm\nprinciples: Be right.\n", "principles must be a list", 21),
])
def test_check_reports_bad_options_with_the_line(tmp_path: Path, options: str, expected: str,
                                                 line: int) -> None:
    path = spec(tmp_path, options=options)
    [problem] = build_problems(System.load(path))
    assert expected in problem, problem
    assert problem.startswith(f"{path}:{line}: workflows.answer.steps[1].options."), problem
