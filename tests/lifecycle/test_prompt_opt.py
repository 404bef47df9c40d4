"""The LLM flywheel: examples from signals, candidate prompts chosen on dev rows within a stated
budget of model calls, promoted only through the gate on held-out rows; poisoned feedback
promotes nothing."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from rich.console import Console

import compound.intelligence.llm as llm_module
from compound.errors import UserError
from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.types import GenerationParams, Message
from compound.lifecycle.call_budget import CallBudget
from compound.lifecycle.prompt_candidates import CallPlan, candidates, fit_plan
from compound.lifecycle.prompt_opt import optimise_prompt
from compound.lifecycle.prompt_signals import signal_examples
from compound.orchestration.prompts import EVENTS, PromptExample, PromptRegistry
from compound.production.feedback import FeedbackLog, parse_signal
from compound.store import MemoryStore, SQLiteStore, Store
from compound.strategy.review import ReviewQueue
from compound.system import System
from compound.workflow.loader import build_workflow
from compound.workflow.runs import start

CAPITALS = {"France": "Paris", "Italy": "Rome", "Japan": "Tokyo", "Peru": "Lima",
            "Kenya": "Nairobi", "Chile": "Santiago", "Egypt": "Cairo", "Spain": "Madrid",
            "Norway": "Oslo", "Cuba": "Havana", "Ghana": "Accra", "Nepal": "Kathmandu"}
EVAL_COUNTRIES = list(CAPITALS)[:8]
TEACH_COUNTRIES = list(CAPITALS)[8:]
#: with good examples the model still gets these wrong (for a candidate the gate refuses)
HARD = {"Japan", "Peru", "Kenya", "Chile"}

SPEC = """\
name: capitals
loop: interaction
task: Name the capital of a country.
models:
  llm: {kind: llm, provider: scripted}
criteria:
  exact_match: {threshold: THRESHOLD, tolerance: 0.0}
workflows:
  capitals:
    input: {country: str}
    steps:
      - name: answer
        uses: llm
        inputs: {country: input.country}
        options: {template: "Capital of {country}?", system: "Answer with the city."}
evals:
  answers:
    dataset: {path: qa.jsonl, inputs: [country], expected: answer}
    target: {workflow: capitals}
    metrics: [exact_match]
    concurrency: 1
"""


class Learner:
    """A fake model that learns from few-shot examples: right when every example it is shown
    is right (except on ``hard`` countries), wrong when one is wrong (it copies the poison),
    unsure with none."""

    def __init__(self, hard: set[str] | None = None) -> None:
        self.calls = 0
        self.hard = hard or set()

    def __call__(self, messages: tuple[Message, ...], params: GenerationParams) -> str:
        self.calls += 1
        shown = [m.content for m in messages[:-1] if m.role == "assistant"]
        country = messages[-1].content.removeprefix("Capital of ").rstrip("?")
        if not shown:
            return "I am not sure."
        if any(answer not in CAPITALS.values() for answer in shown):
            return shown[0]
        if any(answer != CAPITALS[c] for c, answer in _pairs(messages)):
            return "Atlantis"
        return "Atlantis" if country in self.hard else CAPITALS.get(country, "?")


def _pairs(messages: tuple[Message, ...]) -> list[tuple[str, str]]:
    found = []
    for question, answer in itertools.pairwise(messages[:-1]):
        if question.role == "user" and answer.role == "assistant":
            found.append((question.content.removeprefix("Capital of ").rstrip("?"),
                          answer.content))
    return found


def project(folder: Path, monkeypatch: pytest.MonkeyPatch, *, learner: Learner,
            threshold: float = 0.5) -> System:
    monkeypatch.setattr(llm_module, "build_llm", lambda spec: ScriptedLLM(learner))
    (folder / "compound.yaml").write_text(SPEC.replace("THRESHOLD", str(threshold)))
    (folder / "qa.jsonl").write_text("".join(
        json.dumps({"country": c, "answer": CAPITALS[c]}) + "\n" for c in EVAL_COUNTRIES))
    return System.load(folder)


def users_teach(system: System, store: Store, *, wrong: bool = False) -> None:
    """Runs of the workflow, then users' edits: the right capitals, or wrong ones."""
    flow = build_workflow(system, "capitals", shared={"store": store})
    log = FeedbackLog(store)
    cities = list(CAPITALS.values())
    for i, country in enumerate(TEACH_COUNTRIES):
        run = start(flow, {"country": country}, store=store)
        answer = cities[(i + 3) % len(cities)] if wrong else CAPITALS[country]
        log.record(parse_signal({"run_id": run.run_id, "kind": "edit", "step": "answer",
                                 "value": answer}))


def test_signals_become_redacted_examples_of_the_step(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    system = project(tmp_path, monkeypatch, learner=Learner())
    store = MemoryStore()
    users_teach(system, store)
    flow = build_workflow(system, "capitals", shared={"store": store})
    accepted = start(flow, {"country": "Peru"}, store=store)
    FeedbackLog(store).record(parse_signal({"run_id": accepted.run_id, "kind": "thumbs",
                                            "value": "up"}))
    reviewed = start(flow, {"country": "Chile"}, store=store)
    queue = ReviewQueue(store)
    item = queue.submit("Chile", proposed="I am not sure.", reason="below_threshold",
                        source="answer", run_id=reviewed.run_id)
    queue.resolve(item.id, "correct", label="Santiago; mail ana@example.com")
    pool = signal_examples(store, "capitals.answer")
    by_input = {e.input: e.output for e in pool.examples}
    assert by_input["Capital of Norway?"] == "Oslo"
    assert by_input["Capital of Peru?"] == "I am not sure."  # accepted: the model's answer
    assert by_input["Capital of Chile?"] == "Santiago; mail <EMAIL_ADDRESS>"
    assert pool.origins == {"edited": 4, "accepted": 1, "review": 1}


def test_a_good_pool_is_promoted_within_the_stated_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    learner = Learner()
    system = project(tmp_path, monkeypatch, learner=learner)
    store = MemoryStore()
    users_teach(system, store)
    taught = learner.calls
    out = io.StringIO()
    outcome = optimise_prompt(system, store, "capitals.answer", budget=40,
                              console=Console(file=out, width=300))
    assert outcome.plan is not None
    stated = out.getvalue().splitlines()[0]
    assert f"{outcome.plan.calls} model calls at most" in stated and "budget of 40" in stated
    assert outcome.calls == learner.calls - taught <= outcome.plan.calls <= 40
    assert outcome.status == "promoted", outcome.message
    assert outcome.before["exact_match"] == 0.0 and outcome.after["exact_match"] == 1.0
    current = PromptRegistry(store).production("capitals.answer")
    assert current is not None and current.source == "improve" and current.examples
    events = [r.data for r in store.read(EVENTS)]
    assert events[-1]["event"] == "promote" and events[-1]["by"] == "improve"


def test_poisoned_feedback_promotes_nothing(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    system = project(tmp_path, monkeypatch, learner=Learner())
    store = MemoryStore()
    users_teach(system, store, wrong=True)
    registry = PromptRegistry(store)
    outcome = optimise_prompt(system, store, "capitals.answer", budget=100)
    assert outcome.status != "promoted"
    current = registry.production("capitals.answer")
    assert current is not None and current.version == 1 and current.source == "spec"
    assert [v.version for v in registry.versions("capitals.answer")] == [1]
    assert [r.data["event"] for r in store.read(EVENTS)][-1] == "unchanged"


def test_the_gate_refuses_a_candidate_the_dev_rows_chose(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = project(tmp_path, monkeypatch, learner=Learner(hard=HARD), threshold=0.9)
    store = MemoryStore()
    users_teach(system, store)
    outcome = optimise_prompt(system, store, "capitals.answer", budget=100)
    assert outcome.status == "refused" and outcome.candidate == 2
    assert any(c.name == "exact_match" and c.status == "fail" for c in outcome.checks)
    registry = PromptRegistry(store)
    assert registry.production("capitals.answer").version == 1  # type: ignore[union-attr]
    assert registry.get("capitals.answer", 2).stage == "candidate"


def test_the_budget_limits_the_candidates_and_a_small_one_makes_no_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    learner = Learner()
    system = project(tmp_path, monkeypatch, learner=learner)
    store = MemoryStore()
    users_teach(system, store)
    taught = learner.calls
    with pytest.raises(UserError, match=r"no room for one candidate.*take 16"):
        optimise_prompt(system, store, "capitals.answer", budget=15)
    assert learner.calls == taught
    outcome = optimise_prompt(system, store, "capitals.answer", budget=16)
    assert outcome.plan is not None and outcome.plan.candidates == 1
    assert learner.calls - taught == outcome.calls <= 16


def test_a_shared_budget_is_a_hard_stop(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    system = project(tmp_path, monkeypatch, learner=Learner())
    store = MemoryStore()
    users_teach(system, store)
    calls = CallBudget(30)
    calls.used = 10  # spent on another prompt
    outcome = optimise_prompt(system, store, "capitals.answer", calls=calls)
    assert outcome.plan is not None and outcome.plan.budget == 20
    assert calls.used <= 30


def test_bad_input_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = project(tmp_path, monkeypatch, learner=Learner())
    store = MemoryStore()
    with pytest.raises(UserError, match="no examples to learn from"):
        optimise_prompt(system, store, "capitals.answer")
    _ = store.append("feedback", {"run_id": "gone", "kind": "edit", "value": "Paris",
                                  "workflow": "capitals"})
    with pytest.raises(UserError, match="1 no model call of step 'answer'"):
        optimise_prompt(system, store, "capitals.answer")
    with pytest.raises(UserError, match=r"example 2 of the pool.*output"):
        optimise_prompt(system, store, "capitals.answer",
                        pool=[{"input": "Capital of Peru?", "output": "Lima"},
                              {"input": "Capital of Cuba?"}])
    with pytest.raises(UserError, match=r"no prompt named 'capitals\.answr'"):
        optimise_prompt(system, store, "capitals.answr", pool=[])
    with pytest.raises(UserError, match="at least 1"):
        optimise_prompt(system, store, "capitals.answer", budget=0,
                        pool=[{"input": "Capital of Peru?", "output": "Lima"}])


def test_candidates_are_few_shot_sets_and_instruction_variants() -> None:
    pool = [PromptExample(input=f"q{i}", output=f"a{i}") for i in range(5)]
    found = candidates(pool, wanted=8, seed=1)
    assert len(found) == 8
    assert [len(c.examples) for c in found[:2]] == [2, 1]
    assert any(c.instructions and not c.examples for c in found)
    assert candidates(pool, wanted=8, seed=1) == found  # seeded
    long = [PromptExample(input="x" * 5000, output="y")]
    assert all(not c.examples for c in candidates(long, wanted=4))


def test_fit_plan_states_the_calls() -> None:
    assert fit_plan(wanted=6, dev_rows=5, gate_rows=5, per_row=1, budget=30) == CallPlan(
        3, 5, 5, 1, 30)
    assert CallPlan(3, 5, 5, 2, 100).calls == 2 * (4 * 5 + 10)


def test_the_command_improves_llm_steps(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from compound.cli import main

    system = project(tmp_path, monkeypatch, learner=Learner())
    monkeypatch.setenv("COLUMNS", "250")
    with SQLiteStore(tmp_path / "store.db") as store:
        users_teach(system, store)
    (tmp_path / "compound.yaml").write_text(
        (tmp_path / "compound.yaml").read_text() + "store: {path: store.db}\n")
    main(["improve", str(tmp_path), "--llm", "--budget", "60"])
    with SQLiteStore(tmp_path / "store.db") as store:
        current = PromptRegistry(store).production("capitals.answer")
        assert current is not None and current.source == "improve"
    with pytest.raises(SystemExit) as refused:
        main(["improve", str(tmp_path), "--llm", "--ml"])
    assert refused.value.code == 2


@pytest.mark.parametrize("name", ["compound.lifecycle.prompt_opt",
                                  "compound.lifecycle.prompt_candidates",
                                  "compound.lifecycle.prompt_signals",
                                  "compound.lifecycle.call_budget"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
