"""The research_agent example: its spec checks, and its workflows run with the scripted model
over a small encyclopedia written here (no dataset needed)."""

from __future__ import annotations

import dataclasses
import doctest
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.types import GenerationParams, Message
from compound.system import System
from compound.workflow.context import RunContext
from compound.workflow.loader import build_workflow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "research_agent"
sys.path.insert(0, str(EXAMPLE))
import research  # noqa: E402  (the example's own module, as its spec imports it)

QUESTION = ("What government position was held by the woman who portrayed Corliss Archer in "
            "the film Kiss and Tell?")
PARAGRAPHS = [
    research.Paragraph("Kiss and Tell (1945 film)",
                       "Kiss and Tell is a 1945 American comedy film starring then 17-year-old "
                       "Shirley Temple as Corliss Archer."),
    research.Paragraph("Shirley Temple",
                       "Shirley Temple Black was an American actress and diplomat who served "
                       "as Chief of Protocol of the United States."),
    research.Paragraph("Meet Corliss Archer",
                       "Meet Corliss Archer is a radio program of the Golden Age."),
    research.Paragraph("Tell Me More", "Tell Me More is a radio talk show about government."),
    research.Paragraph("Archer (surname)", "Archer is an English surname."),
]


class Model:
    """A scripted model that picks the lead named ``pick`` when asked to plan, and answers
    ``answer``; it keeps what it was offered."""

    def __init__(self, pick: str = "Shirley Temple", answer: str = "Chief of Protocol") -> None:
        self.pick, self.answer = pick, answer
        self.offered: list[list[str]] = []
        self.prompts: list[str] = []
        self.llm = ScriptedLLM(self.reply)

    def reply(self, messages: tuple[Message, ...], params: GenerationParams) -> str:
        self.prompts.append("\n".join(m.content for m in messages))
        if params.json_schema is not None:
            leads = params.json_schema["properties"]["query"]["enum"]
            self.offered.append(list(leads))
            return json.dumps({"query": self.pick})
        return self.answer


@pytest.fixture(scope="module")
def encyclopedia(tmp_path_factory: pytest.TempPathFactory) -> research.Encyclopedia:
    folder = tmp_path_factory.mktemp("encyclopedia")
    return research.Encyclopedia(paragraphs=PARAGRAPHS, top_k=3, folder=folder).load()


def _models(model: Model) -> dict[str, Any]:
    """The scripted model for the spec's LLM, without the spec's cache (its store is a file
    next to the spec, which a test run must neither write nor read)."""
    return {"llm:llm": model.llm, "strategy:cache": None}


def run(model: Model, encyclopedia: research.Encyclopedia, **limits: Any) -> Any:
    system = System.load(EXAMPLE)
    flow = build_workflow(system, "research", shared=_models(model))
    limits.setdefault("planner", "model")  # the model's choice is what most tests look at
    deps = research.ResearchDeps(llm=model.llm, encyclopedia=encyclopedia, **limits)
    return flow.run(ctx=RunContext(deps=deps), question=QUESTION)


def test_the_spec_checks() -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "compound", "check", str(EXAMPLE)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "is a valid interaction system" in out.stdout
    for name in ("answer_f1", "research", "answer"):
        assert name in out.stdout


def test_the_agent_follows_the_bridge_entity_and_cites_both_paragraphs(
        encyclopedia: research.Encyclopedia) -> None:
    model = Model()
    result = run(model, encyclopedia)
    report = result.output
    assert report.answer == "Chief of Protocol"
    assert report.citations == ["Kiss and Tell (1945 film)", "Shirley Temple"]
    assert report.queries == [QUESTION, "Shirley Temple"]
    assert (report.hops, report.model_calls, report.stop_reason) == (2, 1, "max_hops")
    # the leads were the entries the first paragraph names, not yet in the evidence
    assert "Shirley Temple" in model.offered[0]
    assert "Kiss and Tell (1945 film)" not in model.offered[0]
    # the answer step was shown both paragraphs, the bridge one included
    assert "Chief of Protocol of the United States" in model.prompts[-1]
    findings = result.outputs["investigate"]
    assert {f.hop for f in findings.found} == {1, 2}


def test_the_ranked_planner_looks_up_the_best_ranked_lead_without_a_model_call(
        encyclopedia: research.Encyclopedia) -> None:
    model = Model(pick="Paris")  # never asked: a reply it gave would not be a lead
    report = run(model, encyclopedia, planner="ranked").output
    assert (report.hops, report.model_calls, model.offered) == (2, 0, [])
    assert report.queries == [QUESTION, "Shirley Temple"]
    assert report.citations == ["Kiss and Tell (1945 film)", "Shirley Temple"]
    assert not report.notes


def test_one_hop_is_the_single_shot_baseline(encyclopedia: research.Encyclopedia) -> None:
    model = Model()
    report = run(model, encyclopedia, max_hops=1).output
    top = [h["title"] for h in encyclopedia.search(QUESTION)][:2]
    assert report.citations == top
    assert (report.hops, report.model_calls, model.offered) == (1, 0, [])


def test_a_reply_that_is_no_lead_falls_back_to_the_best_lead(
        encyclopedia: research.Encyclopedia) -> None:
    model = Model(pick="Paris")
    report = run(model, encyclopedia).output
    assert report.queries[1] == model.offered[0][0]
    assert "no valid choice" in report.notes[0] and "Paris" in report.notes[0]


def test_the_budget_and_the_leads_stop_the_loop(encyclopedia: research.Encyclopedia) -> None:
    model = Model()
    report = run(model, encyclopedia, max_hops=5, max_model_calls=2).output
    assert report.model_calls == 2
    assert report.stop_reason in ("max_model_calls", "nothing_new", "no_leads")
    alone = research.Encyclopedia(paragraphs=PARAGRAPHS[:1]).load()
    report = run(Model(), alone, max_hops=3).output
    assert (report.stop_reason, report.model_calls) == ("no_leads", 0)


def test_the_answer_workflow_cites_the_given_passages() -> None:
    model = Model(answer=" Paris ")
    flow = build_workflow(System.load(EXAMPLE), "answer", shared=_models(model))
    out = flow.run(question="Capital of France?", passages=["France: its capital is Paris."],
                   titles=["France"]).output
    assert dataclasses.astuple(out) == ("Paris", ["France"])
    assert research.ANSWER_SYSTEM in model.prompts[0]


def test_the_documented_examples_hold() -> None:
    assert doctest.testmod(research, raise_on_error=False).failed == 0
